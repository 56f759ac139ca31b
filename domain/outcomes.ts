// Which outcomes a decision on an open step may carry, and which refuse the case. Free of
// zod, because the workflow imports it (decisions.ts holds the schemas).

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
