// Typed errors with stable names. Temporal reports `error.constructor.name`-style names as
// failure types, and the API maps them to HTTP statuses in one place, so names are API.

export class LedgerError extends Error {}

/**
 * A failure an agency's system states for the case, in words meant for the case's parties
 * (a service that does not answer, an inspection due). Its message reaches the case's status
 * and notices; any other error of an agency's system stays in that agency's worker log.
 */
export class StatedFailure extends Error {
  override name = 'StatedFailure';
}

/**
 * The failure type of a safety inspection record the gas company refuses (its own officers
 * only): never retried, and a 403 at the API.
 */
export const INSPECTION_REFUSED = 'InspectionRefused';

/** The statement is not of the fixed format (ARCHITECTURE.md §3). */
export class MalformedStatementError extends LedgerError {
  override name = 'MalformedStatementError';
}

/** No key with this id is registered. */
export class UnknownKeyError extends LedgerError {
  override name = 'UnknownKeyError';
}

/** The key exists but belongs to another agency, or was not valid at `issuedAt`. */
export class KeyNotAuthorizedError extends LedgerError {
  override name = 'KeyNotAuthorizedError';
}

/** The Ed25519 signature does not verify under the named key. */
export class BadSignatureError extends LedgerError {
  override name = 'BadSignatureError';
}

/**
 * The ledger's refusals of a signer's key (unknown, not valid, revoked, or a signature that is
 * not its): no retry of the same statement cures them, a statement signed again with a key the
 * ledger accepts does. A case holds an orchestrator's record refused so for a supervisor
 * (workflows/jointTransferCase.ts `refusesKey`), so changing this list changes which way a
 * recorded history goes: only behind a patch.
 */
export const KEY_REFUSALS = ['UnknownKeyError', 'KeyNotAuthorizedError', 'BadSignatureError'];

/** Ledger errors no retry can fix: the activity fails at once instead of retrying. */
export const NON_RETRYABLE_LEDGER_ERRORS = ['MalformedStatementError', ...KEY_REFUSALS];

/**
 * The failure type of a decision refused because the ledger already holds another statement
 * under its statement id (the case follows the logged one).
 */
export const STATEMENT_ID_TAKEN = 'StatementIdTaken';

/** A case for this property unit is still open (one open case per unit). */
export class CaseConflictError extends Error {
  override name = 'CaseConflictError';
}

/**
 * What is asked for is in the log, but no published checkpoint covers it yet: the next
 * publisher round (about a second) will. Ask again then.
 */
export class NotYetPublishedError extends Error {
  override name = 'NotYetPublishedError';
}

export class NotFoundError extends Error {
  override name = 'NotFoundError';
  /** `field`: the request field naming what is not there, when one does. */
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}
