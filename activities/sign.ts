// How an agency worker turns a step's full result into the statement it signs: the result
// itself stays off the ledger, committed to under the step's salt (ledger/statement.ts stepSalt).
import type { Signer } from '../domain/agency.ts';
import { DecisionRecord, type DecisionOpening } from '../domain/decisions.ts';
import type { DecidingRole } from '../domain/outcomes.ts';
import { STATEMENT_TYPE, type SignedStatement } from '../domain/statement.ts';
import { fromBase64, toBase64 } from '../ledger/bytes.ts';
import type { SigningKey } from '../ledger/keys.ts';
import { commitTo, signStatement } from '../ledger/statement.ts';

export interface StepResult<R> {
  signed: SignedStatement;
  result: R;
}

export interface SignStepArgs<R> {
  key: SigningKey;
  agency: Signer;
  caseId: string;
  stepId: string;
  /** Repeat number of the step: the statement id becomes `<caseId>/<stepId>/<n>`. */
  n?: number;
  salt: string;
  outcome: string;
  result: R;
  facts: Record<string, string | number | boolean | null>;
  now?: () => Date;
}

/**
 * `<caseId>/<stepId>`, or `<caseId>/<stepId>/<n>` for a repeat, numbered from 1: the first
 * answer has no number, so `/0` would be a second statement id for it (domain/views.ts).
 */
export function statementIdOf(caseId: string, stepId: string, n?: number): string {
  if (n === undefined) return `${caseId}/${stepId}`;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new RangeError(`a statement's repeat number is a whole number >= 1, got ${n}`);
  return `${caseId}/${stepId}/${n}`;
}

export function signStep<R>(args: SignStepArgs<R>): StepResult<R> {
  const signed = signStatement(
    {
      type: STATEMENT_TYPE,
      statementId: statementIdOf(args.caseId, args.stepId, args.n),
      caseId: args.caseId,
      stepId: args.stepId,
      agency: args.agency,
      outcome: args.outcome,
      commitment: commitTo(fromBase64(args.salt), args.result),
      facts: args.facts,
      issuedAt: (args.now ?? (() => new Date()))().toISOString(),
      keyId: args.key.keyId,
    },
    args.key,
  );
  return { signed, result: args.result };
}

/** A decision signed by its agency, with the opening of its commitment (off the ledger). */
export interface SignedDecision {
  signed: SignedStatement;
  opening: DecisionOpening;
}

/**
 * An agency's decision on an open step (payment confirmed, arrears settled, review), as the
 * agency's own system signs it. The facts say only who decided, as a role; the commitment is
 * to the decision's record (outcome, role, reason) under a fresh salt, returned as the opening
 * for the case's encrypted history, so the reason, which may name people, never reaches the
 * ledger and the commitment can still be checked.
 * @throws ZodError when the record is not a DecisionRecord (a reason over 500 characters).
 */
export function signDecision(args: {
  key: SigningKey;
  agency: Signer;
  caseId: string;
  stepId: string;
  outcome: string;
  /** The role that decided (`officer`, `citizen`, `system`), never who. */
  decidedBy: DecidingRole;
  /** Why, in the decider's words: committed to, never in the facts. */
  reason?: string;
  now?: () => Date;
}): SignedDecision {
  const salt = toBase64(crypto.getRandomValues(new Uint8Array(32)));
  const reason = args.reason?.trim();
  const record = DecisionRecord.parse({
    outcome: args.outcome,
    decidedBy: args.decidedBy,
    ...(reason ? { reason } : {}),
  });
  const { signed } = signStep({
    key: args.key,
    agency: args.agency,
    caseId: args.caseId,
    stepId: args.stepId,
    outcome: args.outcome,
    salt,
    result: record,
    facts: { decidedBy: record.decidedBy },
    ...(args.now ? { now: args.now } : {}),
  });
  return { signed, opening: { salt, record } };
}
