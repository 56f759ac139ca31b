import { z } from 'zod';
import { Agency, Utility } from './agency.ts';
import { DECIDING_ROLES } from './outcomes.ts';
import { Base64Salt, SignedStatement } from './statement.ts';
import { plainText } from './text.ts';

// What reaches a running case from outside: an agency's signed decision on a waiting or
// review step, and a supervisor's action on an escalation.

/**
 * A decision as the agency recorded it, which the signed statement's `commitment` commits to
 * (`commitTo(salt, record)`): the outcome, who decided (a role), and why, in their words. The
 * reason may name people, so it stays off the ledger: the statement's facts never carry it.
 */
export const DecisionRecord = z
  .object({
    outcome: z.string().min(1).max(64),
    /** The role that decided (`officer`, `citizen`, `system`), never who. */
    decidedBy: z.enum(DECIDING_ROLES),
    // No trim here: the record is checked against its commitment exactly as it was committed.
    reason: plainText(z.string().max(500), { lines: true }).optional(),
  })
  .strict();
export type DecisionRecord = z.infer<typeof DecisionRecord>;

/** The salt and the record that open a decision's commitment. */
export const DecisionOpening = z
  .object({
    salt: Base64Salt,
    record: DecisionRecord,
  })
  .strict();
export type DecisionOpening = z.infer<typeof DecisionOpening>;

export const Decision = z.object({
  stepId: z.string(),
  signed: SignedStatement,
  /**
   * The opening of the statement's commitment: kept off the ledger, in the case's encrypted
   * history. Optional: decisions signed elsewhere, and cases already running, have none.
   */
  opening: DecisionOpening.optional(),
});
export type Decision = z.infer<typeof Decision>;

export {
  allowedOutcomes,
  DECIDING_ROLES,
  DECISION_OUTCOMES,
  decisionFactsProblem,
  extraStatementFields,
  REFUSING_OUTCOMES,
} from './outcomes.ts';

export const EscalationAction = z.object({
  stepId: z.string(),
  action: z.enum(['retry', 'resolve']),
  reason: plainText(z.string().trim().min(1, 'must give a reason').max(500), { lines: true }),
  supervisor: plainText(z.string().trim().min(1).max(100)),
});
export type EscalationAction = z.infer<typeof EscalationAction>;

/**
 * A person's decision on an open step, before the owning agency signs it: an officer's review,
 * or a citizen's payment reported to the agency's payment system. The agency's worker checks
 * and signs it (workflow `agencyDecision`), so the decision reaching the case is signed by the
 * agency's own key, which the API never holds.
 */
export const DeskRequest = z.object({
  agency: Agency,
  caseId: z.string().min(1),
  stepId: z.string().min(1),
  outcome: z.string().min(1),
  /** Why, in the officer's words: committed to and kept in the case's history, off the ledger. */
  reason: plainText(z.string().trim().max(500), { lines: true }).optional(),
  /**
   * Who decided, for the agency's own records: an officer by name (`officer:registry:o-17`),
   * a citizen by role only (`citizen`: the agency needs no sign-in identity).
   */
  actor: z.string().min(1).max(200),
});
export type DeskRequest = z.infer<typeof DeskRequest>;

/**
 * The id of the workflow that takes a desk request to the agency's worker (`agencyDecision`):
 * one per request, under the case's prefix, so erasing the case finds them (its input holds
 * the officer's reason and who they are).
 */
export function deskWorkflowId(caseId: string, stepId: string, requestId: string): string {
  return `${deskWorkflowPrefix(caseId)}${stepId}:${requestId}`;
}

export function deskWorkflowPrefix(caseId: string): string {
  return `desk:${caseId}:`;
}

/**
 * The agency that decides a step a person decides, by its exact id in the process
 * (domain/processGraph.ts): `review`, `confirmPayment`, `settleArrears.<utility>`. Any other
 * id (`review.x`, `settleArrears.water.2`) is no such step, and no agency's desk signs it.
 */
export function decidingAgency(stepId: string): Agency | undefined {
  if (stepId === 'review') return 'registry';
  if (stepId === 'confirmPayment') return 'tax';
  const [kind, utility, ...rest] = stepId.split('.');
  if (kind === 'settleArrears' && rest.length === 0) return Utility.safeParse(utility).data;
  return undefined;
}
