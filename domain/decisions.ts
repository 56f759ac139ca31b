import { z } from 'zod';
import { SignedStatement } from './statement.ts';

// What reaches a running case from outside: an agency's signed decision on a waiting or
// review step, and a supervisor's action on an escalation.

export const Decision = z.object({
  stepId: z.string(),
  signed: SignedStatement,
});
export type Decision = z.infer<typeof Decision>;

/** Which outcomes a decision on each kind of open step may carry (by step id prefix). */
export const DECISION_OUTCOMES: Record<string, readonly string[]> = {
  review: ['approved', 'rejected'],
  confirmPayment: ['paid'],
  settleArrears: ['settled'],
};

export function allowedOutcomes(stepId: string): readonly string[] {
  return DECISION_OUTCOMES[stepId.split('.')[0]!] ?? [];
}

/** Outcomes of a decision that refuse the case (compensation follows). */
export const REFUSING_OUTCOMES = ['rejected'];

export const EscalationAction = z.object({
  stepId: z.string(),
  action: z.enum(['retry', 'resolve']),
  reason: z.string().trim().min(1, 'must give a reason').max(500),
  supervisor: z.string().trim().min(1).max(100),
});
export type EscalationAction = z.infer<typeof EscalationAction>;
