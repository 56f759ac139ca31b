import { z } from 'zod';
import { UnitId } from './application.ts';
import { CaseId } from './statement.ts';

// A gas safety inspection, as the gas company's officer records it: until one has passed,
// the company's system refuses to put the account in the buyer's name (transferAccount.gas
// fails and, after the registration, waits for a supervisor). Recording it is the company's
// own act in its own system, not a step of the case: nothing goes on the ledger. The
// supervisor's retry of the held step, which then succeeds, is what the case records.

/** What the API asks the gas company's worker to record (workflow `safetyInspection`). */
export const SafetyInspectionRequest = z.strictObject({
  caseId: CaseId,
  unitId: UnitId,
  /** The officer who records it (`officer:gas:<id>`), for the company's own records. */
  actor: z.string().min(1).max(200),
});
export type SafetyInspectionRequest = z.infer<typeof SafetyInspectionRequest>;

/** The company's record of a passed inspection. */
export const SafetyInspection = z.strictObject({
  inspectionId: z.string().min(1),
  unitId: UnitId,
  /** When it was recorded, ISO 8601. */
  recordedAt: z.iso.datetime(),
});
export type SafetyInspection = z.infer<typeof SafetyInspection>;
