// C2SP tlog-cosignature, Ed25519 `cosignature/v1` (c2sp.org/tlog-cosignature). A witness
// (here: an agency) signs
//
//   "cosignature/v1\n" || "time <POSIX seconds>\n" || <checkpoint body>
//
// and publishes a note signature line whose value is
// base64(key id (4) || timestamp (8, big-endian) || Ed25519 signature (64)), with
// key id = SHA-256(<name> || 0x0A || 0x04 || public key)[:4] (signature type 0x04,
// c2sp.org/signed-note §Signature types), so a witness key id never equals its 0x01 id.
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromBase64, fromUtf8, toBase64, toHex, utf8 } from './bytes.ts';
import { parseCheckpoint, type Checkpoint, openCheckpoint } from './checkpoint.ts';
import {
  isUnusablePublicKey,
  signEd25519,
  verifyEd25519,
  type VerifySignature,
  UNUSABLE_KEY,
} from './ed25519.ts';
import {
  assertKeyName,
  ED25519_ALG,
  KeyFormatError,
  type SigningKey,
  type VerifierKey,
} from './keys.ts';
import {
  formatSignatureLine,
  openNote,
  parseSignatureLine,
  UnverifiedNoteError,
  type NoteSignature,
  type NoteVerifier,
} from './note.ts';

/** Signature type byte of timestamped Ed25519 cosignatures (signed-note §Signature types). */
export const COSIGNATURE_V1_ALG = 0x04;
/** Header line of the signed message (tlog-cosignature §Ed25519 signed message). */
export const COSIGNATURE_V1_HEADER = 'cosignature/v1\n';

const TIMESTAMP_SIZE = 8;
const SIGNATURE_SIZE = 64;

/**
 * How far past a verifier's clock a cosignature's timestamp may be and still count: five
 * minutes, for a witness's clock and a verifier's that are each a little off. tlog-cosignature
 * §Format: the timestamp is "the time at which the cosignature was generated", and "verifiers
 * MAY reject cosignatures with timestamps in the future"; a later one is a witness's clock that
 * is wrong, or a statement about a time that has not come.
 */
export const COSIGNATURE_CLOCK_SKEW_SECONDS = 300;

/** A witness's public key for cosignature/v1; `keyHash` is the 0x04 key id. */
export interface CosignerKey {
  readonly name: string;
  readonly keyHash: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** A cosignature that verified. */
export interface Cosignature {
  readonly name: string;
  readonly keyHash: Uint8Array;
  /** POSIX seconds at which the witness signed. */
  readonly timestamp: number;
}

/** A cosignature line that does not verify for the given witness key and checkpoint. */
export class InvalidCosignatureError extends Error {
  override name = 'InvalidCosignatureError';
}

/**
 * Fewer distinct witnesses cosigned than the policy requires; `aheadOfClock`, cosignatures
 * that verified but were not counted, timestamped past the verifier's clock.
 */
export class WitnessPolicyError extends Error {
  override name = 'WitnessPolicyError';
  constructor(
    readonly required: number,
    readonly found: readonly Cosignature[],
    readonly aheadOfClock: readonly Cosignature[] = [],
  ) {
    super(
      `checkpoint needs cosignatures from ${required} distinct witnesses, found ${found.length}${found.length ? ` (${found.map((c) => c.name).join(', ')})` : ''}${aheadOfClock.length ? `; ${formatAheadOfClock(aheadOfClock)}` : ''}`,
    );
  }
}

/** A cosignature's timestamp as RFC 3339 UTC, or as POSIX seconds past what a Date holds. */
export function formatCosignatureTime(timestamp: number): string {
  const date = new Date(timestamp * 1000);
  return Number.isNaN(date.getTime())
    ? `POSIX time ${timestamp}`
    : date.toISOString().replace('.000Z', 'Z');
}

/** Names the cosignatures not counted for being timestamped past the verifier's clock. */
export function formatAheadOfClock(aheadOfClock: readonly Cosignature[]): string {
  return `not counted, timestamped more than ${COSIGNATURE_CLOCK_SKEW_SECONDS} s past this verifier's clock (tlog-cosignature §Format): ${aheadOfClock.map((c) => `${c.name} at ${formatCosignatureTime(c.timestamp)}`).join(', ')}`;
}

/** The cosignature/v1 key id of an Ed25519 key. Requires a valid name and a 32-byte key. */
export function cosignerKeyHash(name: string, publicKey: Uint8Array): Uint8Array {
  assertKeyName(name);
  if (publicKey.length !== 32)
    throw new RangeError(`an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  return sha256(
    concatBytes(utf8(name), new Uint8Array([0x0a, COSIGNATURE_V1_ALG]), publicKey),
  ).slice(0, 4);
}

/** The cosigner key for a witness named `name`. Requires a valid name and a 32-byte key. */
export function cosignerKey(name: string, publicKey: Uint8Array): CosignerKey {
  return { name, keyHash: cosignerKeyHash(name, publicKey), publicKey };
}

/** The vkey `<name>+<hex 0x04 id>+<base64(0x04 || key)>` (tlog-cosignature §Format). Requires a valid name and key. */
export function formatCosignerVerifierKey(name: string, publicKey: Uint8Array): string {
  return `${name}+${toHex(cosignerKeyHash(name, publicKey))}+${toBase64(concatBytes(new Uint8Array([COSIGNATURE_V1_ALG]), publicKey))}`;
}

/**
 * Parses a cosigner vkey of type 0x04, or a plain Ed25519 (0x01) vkey, which like
 * transparency-dev/formats `NewVerifierForCosignatureV1` is taken as the same key used for
 * cosignature/v1. Requires the id to match the key. @throws KeyFormatError.
 */
export function parseCosignerVerifierKey(text: string): CosignerKey {
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) throw new KeyFormatError('cosigner key must be <name>+<hex id>+<base64 key>');
  const name = text.slice(0, first);
  const hexId = text.slice(first + 1, second);
  assertKeyName(name);
  let raw: Uint8Array;
  try {
    raw = fromBase64(text.slice(second + 1));
  } catch {
    throw new KeyFormatError('cosigner key material is not base64');
  }
  const type = raw[0];
  if (raw.length !== 33 || (type !== COSIGNATURE_V1_ALG && type !== ED25519_ALG)) {
    throw new KeyFormatError(
      `cosigner key must be 0x04 or 0x01 followed by 32 bytes, got ${raw.length} bytes of type ${type}`,
    );
  }
  const publicKey = raw.slice(1);
  if (isUnusablePublicKey(publicKey))
    throw new KeyFormatError(`cosigner key of ${name} ${UNUSABLE_KEY}`);
  // The id in the text is of the encoded type; the returned key always carries the 0x04 id.
  const typedId = sha256(concatBytes(utf8(name), new Uint8Array([0x0a, type]), publicKey)).slice(
    0,
    4,
  );
  if (toHex(typedId) !== hexId)
    throw new KeyFormatError(
      `cosigner key id ${hexId} does not match its key (expected ${toHex(typedId)})`,
    );
  return cosignerKey(name, publicKey);
}

/** The cosigner key of a verifier key or signing key of the same Ed25519 key pair. */
export function cosignerKeyOf(key: VerifierKey | SigningKey): CosignerKey {
  return cosignerKey(key.name, key.publicKey);
}

function assertTimestamp(timestamp: number): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(
      `a cosignature timestamp is a non-negative safe integer of POSIX seconds, got ${timestamp}`,
    );
  }
}

function encodeTimestamp(timestamp: number): Uint8Array {
  const out = new Uint8Array(TIMESTAMP_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(timestamp / 2 ** 32));
  view.setUint32(4, timestamp % 2 ** 32);
  return out;
}

/** Reads the big-endian timestamp; undefined beyond 2^53 - 1 (the spec's limit is 2^63 - 1). */
function decodeTimestamp(bytes: Uint8Array): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, TIMESTAMP_SIZE);
  const value = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * The bytes a witness signs for `checkpointBody` at `timestamp` (tlog-cosignature §Ed25519
 * signed message). Requires a checkpoint body (newline-terminated) and a safe-integer timestamp.
 */
export function cosignatureMessage(checkpointBody: string, timestamp: number): Uint8Array {
  assertTimestamp(timestamp);
  if (!checkpointBody.endsWith('\n')) throw new RangeError('a checkpoint body ends with a newline');
  return utf8(`${COSIGNATURE_V1_HEADER}time ${timestamp}\n${checkpointBody}`);
}

/**
 * Cosigns a checkpoint body: returns the signature line `— <name> <base64>\n`, exactly the
 * body a tlog-witness `add-checkpoint` response carries. Requires a well-formed checkpoint
 * body (the caller has verified the log's signature and consistency) and a timestamp in
 * POSIX seconds. @throws MalformedCheckpointError, RangeError.
 */
export function cosign(checkpointBody: string, witnessKey: SigningKey, timestamp: number): string {
  parseCheckpoint(checkpointBody); // never cosign something that is not a checkpoint
  const message = cosignatureMessage(checkpointBody, timestamp);
  const signature = concatBytes(encodeTimestamp(timestamp), signEd25519(witnessKey.seed, message));
  return formatSignatureLine(
    witnessKey.name,
    cosignerKeyHash(witnessKey.name, witnessKey.publicKey),
    signature,
  );
}

/**
 * A note verifier for one witness: checks cosignature/v1 signatures over the note text.
 * Requires a cosigner key.
 */
export function cosignatureVerifier(
  key: CosignerKey,
  verify: VerifySignature = verifyEd25519,
): NoteVerifier {
  return {
    name: key.name,
    keyHash: key.keyHash,
    verify(text, signature) {
      if (signature.length !== TIMESTAMP_SIZE + SIGNATURE_SIZE) return false;
      const timestamp = decodeTimestamp(signature);
      if (timestamp === undefined) return false;
      let body: string;
      try {
        body = fromUtf8(text);
        parseCheckpoint(body);
      } catch {
        return false;
      }
      return verify(
        key.publicKey,
        cosignatureMessage(body, timestamp),
        signature.slice(TIMESTAMP_SIZE),
      );
    },
  };
}

/**
 * Verifies one cosignature line over `checkpointBody` by `key`; returns who signed and when.
 * Requires the line's name and key id to be the witness's.
 * @throws InvalidCosignatureError (wrong key, wrong body, bad signature), MalformedNoteError.
 */
export function verifyCosignature(
  checkpointBody: string,
  line: string,
  key: CosignerKey,
): Cosignature {
  const sig = parseSignatureLine(line);
  if (sig.name !== key.name || toHex(sig.keyHash) !== toHex(key.keyHash)) {
    throw new InvalidCosignatureError(
      `cosignature is by ${sig.name}+${toHex(sig.keyHash)}, expected ${key.name}+${toHex(key.keyHash)}`,
    );
  }
  if (!cosignatureVerifier(key).verify(utf8(checkpointBody), sig.signature)) {
    throw new InvalidCosignatureError(
      `cosignature by ${key.name}+${toHex(key.keyHash)} does not verify over this checkpoint`,
    );
  }
  return { name: sig.name, keyHash: sig.keyHash, timestamp: decodeTimestamp(sig.signature)! };
}

/**
 * The first line of a witness's add-checkpoint answer that is by `key` (its name and key id),
 * or undefined. Lines by other keys, and lines that are no signature line, are skipped:
 * tlog-witness §add-checkpoint, "The client MUST ignore any cosignatures from unknown keys",
 * and the answer may hold "one or more" lines, by more than one key under one name.
 */
export function cosignatureLineOf(answer: string, key: CosignerKey): string | undefined {
  const keyId = toHex(key.keyHash);
  for (const line of answer.split('\n')) {
    if (!line.startsWith(`\u2014 ${key.name} `)) continue;
    try {
      if (toHex(parseSignatureLine(line).keyHash) === keyId) return line;
    } catch {
      // Not a signature line we can read: not this key's cosignature either.
    }
  }
  return undefined;
}

function toCosignature(sig: NoteSignature): Cosignature {
  const raw = fromBase64(sig.base64);
  return { name: sig.name, keyHash: sig.keyHash, timestamp: decodeTimestamp(raw.subarray(4))! };
}

function distinct(witnesses: readonly CosignerKey[]): CosignerKey[] {
  const byLabel = new Map<string, CosignerKey>();
  for (const w of witnesses) byLabel.set(`${w.name}+${toHex(w.keyHash)}+${toHex(w.publicKey)}`, w);
  return [...byLabel.values()];
}

/**
 * The configured witnesses whose cosignatures on `note` verify, each counted once.
 * Does NOT check the log's signature: use `openWitnessedCheckpoint` for that.
 * Requires a well-formed note. @throws MalformedNoteError, InvalidSignatureError (a
 * configured witness's line fails: the whole note is rejected, signed-note §Signatures).
 */
export function countCosignatures(note: string, witnesses: readonly CosignerKey[]): Cosignature[] {
  try {
    return openNote(
      note,
      distinct(witnesses).map((w) => cosignatureVerifier(w)),
    ).verified.map(toCosignature);
  } catch (error) {
    if (error instanceof UnverifiedNoteError) return [];
    throw error;
  }
}

/** A k-of-n witness policy: at least `threshold` distinct `witnesses` must cosign. */
export interface WitnessPolicy {
  readonly witnesses: readonly CosignerKey[];
  readonly threshold: number;
}

/**
 * Opens a checkpoint (log signature first, then body and origin) and checks the witness
 * policy. Given `now`, the verifier's clock in POSIX seconds, a cosignature timestamped more
 * than COSIGNATURE_CLOCK_SKEW_SECONDS past it is not counted, and is returned in
 * `aheadOfClock` (tlog-cosignature §Format). Requires 0 <= threshold <= number of witnesses,
 * and `now`, if given, a non-negative whole number of seconds.
 * @throws everything openCheckpoint throws, InvalidSignatureError, WitnessPolicyError,
 *   RangeError.
 */
export function openWitnessedCheckpoint(
  note: string,
  origin: string,
  logKeys: readonly VerifierKey[],
  policy: WitnessPolicy,
  now?: number,
): {
  checkpoint: Checkpoint;
  body: string;
  cosignatures: Cosignature[];
  aheadOfClock: Cosignature[];
} {
  const witnesses = distinct(policy.witnesses);
  if (
    !Number.isSafeInteger(policy.threshold) ||
    policy.threshold < 0 ||
    policy.threshold > witnesses.length
  ) {
    throw new RangeError(
      `witness threshold must be between 0 and ${witnesses.length}, got ${policy.threshold}`,
    );
  }
  if (now !== undefined && (!Number.isSafeInteger(now) || now < 0))
    throw new RangeError(`now is a non-negative safe integer of POSIX seconds, got ${now}`);
  const opened = openCheckpoint(
    note,
    origin,
    logKeys,
    witnesses.map((w) => cosignatureVerifier(w)),
  );
  // One cosignature a public key: the cosigned message does not name the cosigner
  // (tlog-cosignature), so one key listed under two names is still one witness.
  const byKey = new Map<string, Cosignature>();
  const ahead = new Map<string, Cosignature>();
  for (const sig of opened.note.verified) {
    const witness = witnesses.find(
      (w) => w.name === sig.name && toHex(w.keyHash) === toHex(sig.keyHash),
    );
    if (!witness) continue;
    const key = toHex(witness.publicKey);
    const cosignature = toCosignature(sig);
    const counted =
      now === undefined || cosignature.timestamp <= now + COSIGNATURE_CLOCK_SKEW_SECONDS;
    const into = counted ? byKey : ahead;
    if (!into.has(key)) into.set(key, cosignature);
  }
  // A witness that also cosigned within the clock counts, and is not reported as ahead.
  for (const key of byKey.keys()) ahead.delete(key);
  const cosignatures = [...byKey.values()];
  const aheadOfClock = [...ahead.values()];
  if (cosignatures.length < policy.threshold)
    throw new WitnessPolicyError(policy.threshold, cosignatures, aheadOfClock);
  return { checkpoint: opened.checkpoint, body: opened.body, cosignatures, aheadOfClock };
}
