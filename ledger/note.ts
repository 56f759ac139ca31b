// C2SP signed notes (c2sp.org/signed-note), byte-compatible with golang.org/x/mod/sumdb/note:
//
//   <text, ending in "\n">
//   "\n"
//   "— <key name> <base64(4-byte key id || signature)>\n"   (one or more; U+2014 em dash)
//
// The text is what gets signed (with its final newline, without the blank separator line).
// Opening a note verifies signatures before anyone sees the text (STYLE.md habit 4).
import { concatBytes, fromBase64, fromUtf8, toBase64, toHex, utf8 } from './bytes.ts';
import { signEd25519, verifyEd25519, type VerifySignature } from './ed25519.ts';
import type { SigningKey, VerifierKey } from './keys.ts';
import { keyHash as ed25519KeyHash } from './keys.ts';

/** The em dash and space that start every signature line. */
export const SIGNATURE_LINE_PREFIX = '\u2014 ';

/**
 * Most signature lines a note may carry. Go's note.Open refuses more than 100; the spec
 * requires accepting at least 16.
 */
export const MAX_NOTE_SIGNATURES = 100;

// ---------------------------------------------------------------------------------------------
// Errors

/** The note breaks the signed-note format (signed-note §Format). */
export class MalformedNoteError extends Error {
  override name = 'MalformedNoteError';
}

/** No signature from a known key verified; the text must be ignored. */
export class UnverifiedNoteError extends Error {
  override name = 'UnverifiedNoteError';
  constructor(readonly unverified: readonly NoteSignature[]) {
    const names = unverified.map((s) => `${s.name}+${toHex(s.keyHash)}`).join(', ');
    super(
      `note has no signature from a known key (expected at least one; found only ${names || 'none'})`,
    );
  }
}

/** A signature by a known key failed to verify: the whole note is rejected (signed-note §Signatures). */
export class InvalidSignatureError extends Error {
  override name = 'InvalidSignatureError';
  constructor(
    readonly keyName: string,
    readonly keyHash: Uint8Array,
  ) {
    super(`signature by known key ${keyName}+${toHex(keyHash)} does not verify`);
  }
}

/** Two configured verifiers share a name and key id, so a signature cannot be attributed. */
export class AmbiguousVerifierError extends Error {
  override name = 'AmbiguousVerifierError';
}

// ---------------------------------------------------------------------------------------------
// Keys as the note layer sees them

/** One signature line: the key's name, its 4-byte key id, and the base64 of id || signature. */
export interface NoteSignature {
  readonly name: string;
  readonly keyHash: Uint8Array;
  readonly base64: string;
}

/**
 * A key that can check signatures of one type. `verify` receives the note text and the
 * signature bytes after the key id; it returns false, never throws, for bad input.
 */
export interface NoteVerifier {
  readonly name: string;
  readonly keyHash: Uint8Array;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

/** A key that signs note text (Ed25519 log keys, cosigners). */
export interface NoteSigner {
  readonly name: string;
  readonly keyHash: Uint8Array;
  sign(text: Uint8Array): Uint8Array;
}

/** An Ed25519 (type 0x01) note verifier. Requires a parsed verifier key. */
export function ed25519NoteVerifier(
  key: VerifierKey,
  verify: VerifySignature = verifyEd25519,
): NoteVerifier {
  return {
    name: key.name,
    keyHash: key.keyHash,
    verify: (text, signature) => verify(key.publicKey, text, signature),
  };
}

/** An Ed25519 (type 0x01) note signer. Requires a signing key. */
export function ed25519NoteSigner(key: SigningKey): NoteSigner {
  return {
    name: key.name,
    keyHash: ed25519KeyHash(key.name, key.publicKey),
    sign: (text) => signEd25519(key.seed, text),
  };
}

function asVerifier(key: VerifierKey | NoteVerifier): NoteVerifier {
  return 'verify' in key && typeof key.verify === 'function'
    ? key
    : ed25519NoteVerifier(key as VerifierKey);
}

function asSigner(key: SigningKey | NoteSigner): NoteSigner {
  return 'sign' in key && typeof key.sign === 'function'
    ? key
    : ed25519NoteSigner(key as SigningKey);
}

// ---------------------------------------------------------------------------------------------
// Format

// Go's isValidName: non-empty, valid UTF-8, no Unicode white space (unicode.IsSpace is the
// White_Space property), no '+'. Lone surrogates are how invalid UTF-8 shows up in a JS string.
const badNameCharacter = /[\p{White_Space}+]|\p{Cs}/u;

/** Whether `name` may be a key name (signed-note §Format). */
export function isValidKeyName(name: string): boolean {
  return typeof name === 'string' && name.length > 0 && !badNameCharacter.test(name);
}

// ASCII control characters other than newline, and lone surrogates (not encodable as UTF-8).
const forbiddenInNote = /[\u0000-\u0009\u000b-\u001f]|\p{Cs}/u;

function keyLabel(name: string, keyHash: Uint8Array): string {
  return `${name}+${toHex(keyHash)}`;
}

/** Formats one signature line, with its final newline. Requires a valid name and a 4-byte key id. */
export function formatSignatureLine(
  name: string,
  keyHash: Uint8Array,
  signature: Uint8Array,
): string {
  if (!isValidKeyName(name))
    throw new MalformedNoteError(`invalid key name ${JSON.stringify(name)}`);
  if (keyHash.length !== 4) throw new RangeError(`a key id is 4 bytes, got ${keyHash.length}`);
  return `${SIGNATURE_LINE_PREFIX}${name} ${toBase64(concatBytes(keyHash, signature))}\n`;
}

/** Parses one signature line (with or without its final newline). Requires the signed-note syntax. */
export function parseSignatureLine(line: string): NoteSignature & { signature: Uint8Array } {
  const body = line.endsWith('\n') ? line.slice(0, -1) : line;
  if (body.includes('\n') || !body.startsWith(SIGNATURE_LINE_PREFIX)) {
    throw new MalformedNoteError(
      `signature line must be "— <name> <base64>", found ${JSON.stringify(body.slice(0, 60))}`,
    );
  }
  const rest = body.slice(SIGNATURE_LINE_PREFIX.length);
  // Go's strings.Cut at the first space: everything after it is the base64.
  const space = rest.indexOf(' ');
  const name = space < 0 ? rest : rest.slice(0, space);
  const base64 = space < 0 ? '' : rest.slice(space + 1);
  if (!isValidKeyName(name))
    throw new MalformedNoteError(`signature line has invalid key name ${JSON.stringify(name)}`);
  let raw: Uint8Array;
  try {
    raw = fromBase64(base64);
  } catch {
    throw new MalformedNoteError(`signature by ${name} is not standard base64`);
  }
  if (base64 === '' || raw.length < 5) {
    throw new MalformedNoteError(
      `signature by ${name} must be a 4-byte key id and a signature, found ${raw.length} bytes`,
    );
  }
  return { name, keyHash: raw.slice(0, 4), base64, signature: raw.slice(4) };
}

/** A note split into its text and signature lines, NOT verified. */
export interface UnverifiedNote {
  readonly text: string;
  readonly signatures: readonly (NoteSignature & { signature: Uint8Array })[];
}

function decodeNote(note: string | Uint8Array): string {
  if (typeof note === 'string') return note;
  try {
    return fromUtf8(note);
  } catch {
    throw new MalformedNoteError('note is not valid UTF-8');
  }
}

/**
 * Splits a signed note into text and signature lines without verifying anything: only for
 * code that verifies the signatures itself (witnesses, policy checks). Requires the
 * signed-note format. @throws MalformedNoteError.
 */
export function splitNote(note: string | Uint8Array): UnverifiedNote {
  const message = decodeNote(note);
  if (forbiddenInNote.test(message))
    throw new MalformedNoteError(
      'note contains a control character other than newline, or invalid UTF-8',
    );
  // The text ends at the last blank line (signed-note §Format).
  const split = message.lastIndexOf('\n\n');
  if (split < 0) throw new MalformedNoteError('note has no blank line before its signatures');
  const text = message.slice(0, split + 1);
  const block = message.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) {
    throw new MalformedNoteError(
      'note must end with at least one newline-terminated signature line',
    );
  }
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) {
    throw new MalformedNoteError(
      `note has ${lines.length} signature lines, at most ${MAX_NOTE_SIGNATURES} are accepted`,
    );
  }
  return { text, signatures: lines.map(parseSignatureLine) };
}

/** A note whose text was authenticated by at least one known key. */
export interface OpenedNote {
  readonly text: string;
  /** Signatures by known keys, all verified. */
  readonly verified: readonly NoteSignature[];
  /** Signatures by keys not among the verifiers (ignored, as the spec requires). */
  readonly unverified: readonly NoteSignature[];
}

/**
 * Verifies a signed note and only then returns its text (Go's note.Open). A `VerifierKey`
 * is taken as an Ed25519 key; a `NoteVerifier` brings its own signature type.
 * Requires at least one signature by a known key.
 * @throws MalformedNoteError, InvalidSignatureError (a known key's signature fails),
 *   UnverifiedNoteError (no known key signed), AmbiguousVerifierError.
 * @example openNote(text, [parseVerifierKey('example.com/log+0a1b2c3d+AX...')]).text
 */
export function openNote(
  note: string | Uint8Array,
  verifiers: readonly (VerifierKey | NoteVerifier)[],
): OpenedNote {
  const { text, signatures } = splitNote(note);
  const known = new Map<string, NoteVerifier[]>();
  for (const verifier of verifiers.map(asVerifier)) {
    const label = keyLabel(verifier.name, verifier.keyHash);
    known.set(label, [...(known.get(label) ?? []), verifier]);
  }
  const textBytes = utf8(text);
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seen = new Set<string>();
  const seenUnverified = new Set<string>();
  for (const { name, keyHash, base64, signature } of signatures) {
    const label = keyLabel(name, keyHash);
    const candidates = known.get(label);
    if (candidates === undefined) {
      // Unknown keys are ignored (signed-note §Signatures); repeated identical lines dropped.
      const line = `${name} ${base64}`;
      if (!seenUnverified.has(line)) {
        seenUnverified.add(line);
        unverified.push({ name, keyHash, base64 });
      }
      continue;
    }
    if (candidates.length > 1)
      throw new AmbiguousVerifierError(`more than one verifier is configured for key ${label}`);
    // Every signature by a known key is verified (signed-note §Signatures: verifiers MUST
    // verify it, and reject the note if it does not verify); each key counts once. Go skips a
    // known key's later lines unchecked, so a bad one after a good one passed there, and the
    // verdict hung on the order of the lines.
    if (!candidates[0]!.verify(textBytes, signature))
      throw new InvalidSignatureError(name, keyHash);
    if (seen.has(label)) continue;
    seen.add(label);
    verified.push({ name, keyHash, base64 });
  }
  if (verified.length === 0) throw new UnverifiedNoteError(unverified);
  return { text, verified, unverified };
}

/**
 * Signs `text` with each signer (Go's note.Sign). Existing signatures are kept before the new
 * ones, except those by a key that signs again. A `SigningKey` signs as Ed25519.
 * Requires text ending in "\n", free of control characters other than newline, and valid
 * key names. @throws MalformedNoteError.
 * @example signNote('example.com/log\n1\n...\n', [logKey])
 */
export function signNote(
  text: string,
  signers: readonly (SigningKey | NoteSigner)[],
  existing: readonly NoteSignature[] = [],
): string {
  if (!text.endsWith('\n')) throw new MalformedNoteError('note text must end with a newline');
  // Go's Sign does not check this, but Open would refuse the result; refuse it up front.
  if (forbiddenInNote.test(text))
    throw new MalformedNoteError(
      'note text contains a control character other than newline, or invalid UTF-8',
    );
  if (signers.length + existing.length === 0)
    throw new MalformedNoteError('a signed note needs at least one signature');
  const textBytes = utf8(text);
  const fresh: string[] = [];
  const replaced = new Set<string>();
  for (const signer of signers.map(asSigner)) {
    if (!isValidKeyName(signer.name))
      throw new MalformedNoteError(`invalid signer name ${JSON.stringify(signer.name)}`);
    replaced.add(keyLabel(signer.name, signer.keyHash));
    fresh.push(formatSignatureLine(signer.name, signer.keyHash, signer.sign(textBytes)));
  }
  const kept: string[] = [];
  for (const sig of existing) {
    if (!isValidKeyName(sig.name))
      throw new MalformedNoteError(`invalid key name ${JSON.stringify(sig.name)}`);
    if (replaced.has(keyLabel(sig.name, sig.keyHash))) continue;
    // Double-check the key id against the base64, as Go does.
    const parsed = parseSignatureLine(`${SIGNATURE_LINE_PREFIX}${sig.name} ${sig.base64}`);
    if (toHex(parsed.keyHash) !== toHex(sig.keyHash))
      throw new MalformedNoteError(`signature by ${sig.name} does not start with its key id`);
    kept.push(`${SIGNATURE_LINE_PREFIX}${sig.name} ${sig.base64}\n`);
  }
  return `${text}\n${kept.join('')}${fresh.join('')}`;
}

/**
 * Appends already-formatted signature lines (e.g. witness cosignatures) to a signed note,
 * dropping lines it already has. Verifies nothing. Requires a well-formed note and lines.
 * @throws MalformedNoteError.
 */
export function addSignatureLines(note: string, lines: readonly string[]): string {
  const { signatures } = splitNote(note);
  const have = new Set(signatures.map((s) => `${s.name} ${s.base64}`));
  let out = note;
  for (const line of lines) {
    const sig = parseSignatureLine(line);
    const key = `${sig.name} ${sig.base64}`;
    if (have.has(key)) continue;
    have.add(key);
    out += `${SIGNATURE_LINE_PREFIX}${key}\n`;
  }
  splitNote(out); // still within the signature limit
  return out;
}
