// C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the note text
//
//   <origin>\n<tree size, decimal>\n<base64 root hash>\n[<extension line>\n]*
//
// signed as a C2SP signed note by the log's Ed25519 key. Opening one verifies the log's
// signature first and reads the body only after (STYLE.md: verify, then parse).
import { bytesEqual, fromBase64, toBase64, toHex } from './bytes.ts';
import type { SigningKey, VerifierKey } from './keys.ts';
import {
  openNote,
  signNote,
  type NoteSignature,
  type NoteVerifier,
  type OpenedNote,
} from './note.ts';
import { HASH_SIZE } from './rfc9162.ts';

export interface Checkpoint {
  /** The log's identity (tlog-checkpoint §Note text 1). */
  readonly origin: string;
  /** Number of leaves. */
  readonly size: number;
  /** RFC 9162 root hash of the tree of `size` leaves, 32 bytes. */
  readonly rootHash: Uint8Array;
  /** Opaque, non-empty extension lines, without their newlines. */
  readonly extensions: readonly string[];
}

/** The checkpoint body breaks tlog-checkpoint §Note text. */
export class MalformedCheckpointError extends Error {
  override name = 'MalformedCheckpointError';
}

/** The checkpoint is for another log than the one the caller asked about. */
export class OriginMismatchError extends Error {
  override name = 'OriginMismatchError';
  constructor(
    readonly expected: string,
    readonly found: string,
  ) {
    super(
      `checkpoint origin ${JSON.stringify(found)} does not match expected origin ${JSON.stringify(expected)}`,
    );
  }
}

/** The note verified, but not with any of the log's keys (only with other verifiers). */
export class MissingLogSignatureError extends Error {
  override name = 'MissingLogSignatureError';
}

const decimal = /^(?:0|[1-9][0-9]*)$/;

function checkLine(line: string, what: string): void {
  if (line.length === 0) throw new MalformedCheckpointError(`${what} must be non-empty`);
  if (line.includes('\n')) throw new MalformedCheckpointError(`${what} must not contain a newline`);
}

/**
 * Formats the checkpoint body. Requires a non-empty origin, a safe-integer size, a 32-byte
 * root and non-empty extension lines, none containing a newline.
 * @throws MalformedCheckpointError.
 * @example formatCheckpoint({ origin: 'example.com/log', size: 1, rootHash, extensions: [] })
 */
export function formatCheckpoint(cp: Checkpoint): string {
  checkLine(cp.origin, 'origin');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0)
    throw new MalformedCheckpointError(
      `tree size must be a non-negative safe integer, got ${cp.size}`,
    );
  if (cp.rootHash.length !== HASH_SIZE)
    throw new MalformedCheckpointError(
      `root hash must be ${HASH_SIZE} bytes, got ${cp.rootHash.length}`,
    );
  cp.extensions.forEach((line, i) => checkLine(line, `extension line ${i}`));
  return [cp.origin, String(cp.size), toBase64(cp.rootHash), ...cp.extensions]
    .map((line) => `${line}\n`)
    .join('');
}

/**
 * Parses a checkpoint body strictly: at least three non-empty lines, size in decimal without
 * leading zeros, root a standard-base64 32-byte hash, every line newline-terminated.
 * Requires text whose signature was already verified. @throws MalformedCheckpointError.
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n'))
    throw new MalformedCheckpointError('checkpoint body must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3)
    throw new MalformedCheckpointError(
      `checkpoint body needs at least 3 lines, found ${lines.length}`,
    );
  const [origin, sizeText, rootText, ...extensions] = lines as [
    string,
    string,
    string,
    ...string[],
  ];
  checkLine(origin, 'origin');
  if (!decimal.test(sizeText))
    throw new MalformedCheckpointError(
      `tree size must be decimal without leading zeros, found ${JSON.stringify(sizeText)}`,
    );
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size))
    throw new MalformedCheckpointError(`tree size ${sizeText} exceeds 2^53 - 1`);
  let rootHash: Uint8Array;
  try {
    rootHash = fromBase64(rootText);
  } catch {
    throw new MalformedCheckpointError(
      `root hash must be standard base64, found ${JSON.stringify(rootText.slice(0, 60))}`,
    );
  }
  if (rootHash.length !== HASH_SIZE)
    throw new MalformedCheckpointError(
      `root hash must be ${HASH_SIZE} bytes, found ${rootHash.length}`,
    );
  extensions.forEach((line, i) => checkLine(line, `extension line ${i}`));
  return { origin, size, rootHash, extensions };
}

/**
 * Signs a checkpoint with the log key, plus `extraKeys` (e.g. the next key during a
 * rotation, so clients pinned to either key accept it). Requires the formatCheckpoint rules.
 * @throws MalformedCheckpointError, MalformedNoteError.
 */
export function signCheckpoint(
  cp: Checkpoint,
  logKey: SigningKey,
  extraKeys: readonly SigningKey[] = [],
): string {
  return signNote(formatCheckpoint(cp), [logKey, ...extraKeys]);
}

export interface OpenedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** The text exactly as signed: what cosignatures sign too. */
  readonly body: string;
  /** The log signatures that verified. */
  readonly logSignatures: readonly NoteSignature[];
  /** Every other signature line (cosignatures, keys not configured). */
  readonly note: OpenedNote;
}

/**
 * Verifies a signed checkpoint with the log's keys (any one suffices, which is how rotation
 * works), then parses the body and checks its origin. `otherVerifiers` (e.g. witnesses) may
 * be passed so their signatures are verified too, but never stand in for the log's.
 * Requires at least one valid log signature.
 * @throws MalformedNoteError, InvalidSignatureError, UnverifiedNoteError,
 *   MissingLogSignatureError, MalformedCheckpointError, OriginMismatchError.
 */
export function openCheckpoint(
  note: string | Uint8Array,
  origin: string,
  logKeys: readonly VerifierKey[],
  otherVerifiers: readonly NoteVerifier[] = [],
): OpenedCheckpoint {
  if (logKeys.length === 0)
    throw new RangeError('openCheckpoint needs at least one log verifier key');
  const opened = openNote(note, [...logKeys, ...otherVerifiers]);
  const isLogKey = (sig: NoteSignature): boolean =>
    logKeys.some((key) => key.name === sig.name && bytesEqual(key.keyHash, sig.keyHash));
  const logSignatures = opened.verified.filter(isLogKey);
  if (logSignatures.length === 0) {
    const expected = logKeys.map((key) => `${key.name}+${toHex(key.keyHash)}`).join(', ');
    throw new MissingLogSignatureError(
      `checkpoint is not signed by the log (expected one of ${expected})`,
    );
  }
  const checkpoint = parseCheckpoint(opened.text);
  if (checkpoint.origin !== origin) throw new OriginMismatchError(origin, checkpoint.origin);
  return { checkpoint, body: opened.text, logSignatures, note: opened };
}
