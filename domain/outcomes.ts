// What a decision on an open step may say: its outcomes, which of them refuse the case, and
// its facts. Free of zod, because the workflow imports it (decisions.ts holds the schemas).

/** Which outcomes a decision on each kind of open step may carry (by step id prefix). */
export const DECISION_OUTCOMES: Record<string, readonly string[]> = {
  review: ['approved', 'rejected'],
  confirmPayment: ['paid'],
  settleArrears: ['settled'],
};

// Looked up by own keys only: a step id `constructor` or `toString` would otherwise find
// Object.prototype's function, and a process check calling `.some` on it a TypeError.
export function allowedOutcomes(stepId: string): readonly string[] {
  const kind = stepId.split('.')[0]!;
  return Object.hasOwn(DECISION_OUTCOMES, kind) ? DECISION_OUTCOMES[kind]! : [];
}

/** Outcomes of a decision that refuse the case (compensation follows). */
export const REFUSING_OUTCOMES = ['rejected'];

/** Who may decide an open step, as the ledger names them: a role, never a person. */
export const DECIDING_ROLES = ['citizen', 'officer', 'system'] as const;
export type DecidingRole = (typeof DECIDING_ROLES)[number];

/**
 * The person who decides each kind of open step: an officer reviews, a citizen pays (the
 * agency's payment system reports it). An agency's own `system` may sign any of them.
 */
export const DECIDING_PERSON: Record<string, DecidingRole> = {
  review: 'officer',
  confirmPayment: 'citizen',
  settleArrears: 'citizen',
};

/** Whether `role` may decide step `stepId` (by its id's prefix, as DECISION_OUTCOMES). */
export function roleDecides(role: DecidingRole, stepId: string): boolean {
  const kind = stepId.split('.')[0]!;
  return (
    role === 'system' || (Object.hasOwn(DECIDING_PERSON, kind) && DECIDING_PERSON[kind] === role)
  );
}

/**
 * Why a decision's signed facts may not go on the ledger, or undefined when they may. The
 * facts are public for good, so they hold the deciding role and nothing else: a reason or a
 * name belongs in the decision's record, which the commitment covers (decisions.ts). With
 * `stepId`, the role must be one that decides that step (a citizen approves no review).
 */
export function decisionFactsProblem(facts: unknown, stepId?: string): string | undefined {
  if (typeof facts !== 'object' || facts === null || Array.isArray(facts))
    return `must be {"decidedBy": <role>}, not ${(JSON.stringify(facts) ?? String(facts)).slice(0, 80)}`;
  const extra = Object.keys(facts).filter((key) => key !== 'decidedBy');
  if (extra.length > 0)
    return `must hold only decidedBy (a reason goes in the opening, off the ledger), not ${extra.join(', ')}`;
  const role = (facts as { decidedBy?: unknown }).decidedBy;
  if (!DECIDING_ROLES.includes(role as DecidingRole))
    return `decidedBy must be one of ${DECIDING_ROLES.join(', ')}, not ${JSON.stringify(role) ?? 'nothing'}`;
  if (stepId !== undefined && !roleDecides(role as DecidingRole, stepId))
    return `decidedBy ${role as string} does not decide ${stepId}`;
  return undefined;
}

/** The fields of a statement (statement.ts `Statement`, ARCHITECTURE.md §3). */
export const STATEMENT_FIELDS: readonly string[] = [
  'type',
  'statementId',
  'caseId',
  'stepId',
  'agency',
  'outcome',
  'commitment',
  'facts',
  'issuedAt',
  'keyId',
];

/**
 * The fields of a decision's statement beyond the fixed ones. The entry format keeps other
 * fields ("at least these", so an entry holds exactly what was signed), but a decision from
 * outside goes on the ledger for good: it may carry none, or a reason or a name could ride
 * along beside facts that hold only the role.
 */
export function extraStatementFields(statement: object): string[] {
  return Object.keys(statement).filter((key) => !STATEMENT_FIELDS.includes(key));
}
