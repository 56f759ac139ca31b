import { z } from 'zod';
import { Signer } from './agency.ts';
import { StepKind } from './process.ts';

export const StepStatus = z.enum([
  'pending',
  'running',
  'waiting',
  'done',
  'skipped',
  'rejected',
  'failed',
  'escalated',
  'compensated',
  'cancelled',
]);
export type StepStatus = z.infer<typeof StepStatus>;

export const StepState = z.object({
  stepId: z.string(),
  agency: Signer,
  kind: StepKind,
  status: StepStatus,
  outcome: z.string().optional(),
  /** The decider's reason, from the decision's opening; off the ledger. */
  reason: z.string().optional(),
  statementId: z.string().optional(),
  ledgerIndex: z.number().int().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  deadlineAt: z.string().optional(),
  overdue: z.boolean().optional(),
  /** What a waiting step asks to be paid, in cents (from an earlier step's off-ledger result). */
  amountDueCents: z.number().int().optional(),
  attempts: z.number().int().optional(),
  error: z.string().optional(),
  /**
   * An expired wait, past the registration, that waits for a supervisor and still takes its
   * decision (a late payment settles it).
   */
  takesLateDecision: z.boolean().optional(),
});
export type StepState = z.infer<typeof StepState>;

/**
 * Whether `step` takes a decision now: it waits for one, or it is an expired wait that waits
 * for a supervisor and still takes a late one (as the workflow says).
 */
export function takesDecision(step: StepState): boolean {
  return step.status === 'waiting' || step.takesLateDecision === true;
}

/** running → completed | rejected (refused, compensated) | expired (waited too long) | failed. */
export const CasePhase = z.enum(['running', 'completed', 'rejected', 'expired', 'failed']);
export type CasePhase = z.infer<typeof CasePhase>;

/** A ledger entry the case produced that is not a step of the graph (compensations, resolutions, close). */
export const CaseRecord = z.object({
  stepId: z.string(),
  agency: Signer,
  outcome: z.string(),
  statementId: z.string(),
  ledgerIndex: z.number().int(),
  at: z.string(),
});
export type CaseRecord = z.infer<typeof CaseRecord>;

export const Escalation = z.object({
  stepId: z.string(),
  reason: z.string(),
  at: z.string(),
  resolved: z.boolean(),
  /** How it was settled: the action, and the supervisor's name and reason in their words. */
  resolution: z.string().optional(),
  /**
   * What the ledger refused for its signer's key: a record of the orchestrator's own, or an
   * agency's answer before the registration. The ledger must hold it, so only a retry settles
   * it, never a resolution by hand.
   */
  retryOnly: z.literal(true).optional(),
});
export type Escalation = z.infer<typeof Escalation>;

/**
 * What the workflow's status query returns: steps, outcomes and ledger records, none of the
 * application. It is still personal data: a step's and the case's `reason` carry deciders'
 * reasons in their words, and an escalation's `resolution` a supervisor's reason and name.
 */
export const CaseStatus = z.object({
  caseId: z.string(),
  unitId: z.string(),
  phase: CasePhase,
  overdue: z.boolean(),
  steps: z.array(StepState),
  records: z.array(CaseRecord),
  escalations: z.array(Escalation),
  reason: z.string().optional(),
});
export type CaseStatus = z.infer<typeof CaseStatus>;
