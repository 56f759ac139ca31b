// Statements (ARCHITECTURE.md §3, fixed): an agency signs
// "onewindow/statement/v1\n" || RFC 8785 canonical JSON of the statement, with Ed25519.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Statement } from '../domain/statement.ts';
import { type SignedStatement } from '../domain/statement.ts';
import { concatBytes, fromBase64, toBase64, utf8 } from './bytes.ts';
import { canonicalJson } from './canonicalJson.ts';
import { signEd25519, verifyEd25519, type VerifySignature } from './ed25519.ts';
import type { SigningKey } from './keys.ts';

/** Domain separation: a statement signature can never be replayed as another kind of message. */
export const STATEMENT_CONTEXT = 'onewindow/statement/v1\n';

/** The exact bytes an agency signs for `statement`. */
export function statementMessage(statement: unknown): Uint8Array {
  return concatBytes(utf8(STATEMENT_CONTEXT), utf8(canonicalJson(statement)));
}

/** Signs a statement; its `keyId` must be the signing key's. @throws RangeError on a key mismatch. */
export function signStatement(statement: Statement, key: SigningKey): SignedStatement {
  if (statement.keyId !== key.keyId)
    throw new RangeError(`statement names key ${statement.keyId}, signing key is ${key.keyId}`);
  return { statement, signature: toBase64(signEd25519(key.seed, statementMessage(statement))) };
}

/**
 * Checks the signature over the statement as received, before anything reads it
 * (verify first, then parse). `false` for any malformed input.
 */
export function verifyStatementSignature(
  signed: { statement?: unknown; signature?: unknown },
  publicKey: Uint8Array,
  verify: VerifySignature = verifyEd25519,
): boolean {
  if (
    typeof signed.signature !== 'string' ||
    typeof signed.statement !== 'object' ||
    signed.statement === null
  )
    return false;
  let signature: Uint8Array;
  let message: Uint8Array;
  try {
    signature = fromBase64(signed.signature);
    message = statementMessage(signed.statement);
  } catch {
    return false;
  }
  return verify(publicKey, message, signature);
}

/**
 * The salted commitment to a step's full result: HMAC-SHA256 keyed by a salt (the step's,
 * derived from the case's per-case salt by stepSalt; a decision's own) over the RFC 8785
 * bytes of the result. The result stays off the ledger; deleting the salt
 * makes the commitment unlinkable to it while the log still verifies.
 */
export function commitTo(salt: Uint8Array, result: unknown): string {
  if (salt.length < 16)
    throw new RangeError(`a commitment salt needs at least 16 bytes, got ${salt.length}`);
  return toBase64(hmac(sha256, salt, utf8(canonicalJson(result))));
}

/**
 * The salt of one step's commitments, derived from the case's salt (ARCHITECTURE.md §3's
 * per-case salt): HMAC-SHA256(caseSalt, "onewindow/step-salt/v1\n" ‖ stepId). An agency is
 * given only its own steps' salts, so it cannot test guesses (a price, an amount of arrears)
 * against another agency's commitments on the public log; the case's salt, which only the
 * orchestrator keeps, derives them all, and erasing it leaves every commitment unlinkable.
 */
export function stepSalt(caseSalt: Uint8Array, stepId: string): Uint8Array {
  if (caseSalt.length < 16)
    throw new RangeError(`a case's salt needs at least 16 bytes, got ${caseSalt.length}`);
  return hmac(sha256, caseSalt, utf8(`onewindow/step-salt/v1\n${stepId}`));
}

/**
 * Whether `salt` (base64) and `result` open `commitment`, i.e. commitTo gives it. False, not a
 * throw, for a salt or a result that cannot be committed to: an opening handed in is input.
 */
export function opensCommitment(salt: string, result: unknown, commitment: unknown): boolean {
  try {
    return commitTo(fromBase64(salt), result) === commitment;
  } catch {
    return false;
  }
}
