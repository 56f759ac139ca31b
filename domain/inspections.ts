import { z } from 'zod';
import { deskWorkflowPrefix } from './decisions.ts';
import { CaseId } from './statement.ts';

// A gas safety inspection, as the gas company's officer records it: until one has passed,
// the company's system refuses to put the account in the buyer's name (transferAccount.gas
// fails and, after the registration, waits for a supervisor). Recording it is the company's
// own act in its own system, not a step of the case: nothing goes on the ledger. The
// supervisor's retry of the held step, which then succeeds, is what the case records.

/** What the API asks the gas company's worker to record (workflow `safetyInspection`). */
export const SafetyInspectionRequest = z.strictObject({
  caseId: CaseId,
  // The case's own unit, from its row: as the intake took it (not today's input rules).
  unitId: z.string().min(1).max(48),
  /** The officer who records it (`officer:gas:<id>`), for the company's own records. */
  actor: z.string().min(1).max(200),
});
export type SafetyInspectionRequest = z.infer<typeof SafetyInspectionRequest>;

/** The company's record of a passed inspection. */
export const SafetyInspection = z.strictObject({
  inspectionId: z.string().min(1),
  unitId: z.string().min(1),
  /** When it was recorded, ISO 8601. */
  recordedAt: z.iso.datetime(),
});
export type SafetyInspection = z.infer<typeof SafetyInspection>;

/**
 * The workflow id of one record (`safetyInspection`): under the case's desk prefix, so
 * erasing the case finds it with the desk requests (its input names the officer).
 */
export function inspectionWorkflowId(caseId: string, requestId: string): string {
  return `${deskWorkflowPrefix(caseId)}inspection:${requestId}`;
}
