// Key names and ids in the C2SP signed-note form (c2sp.org/signed-note, "Verifier keys"):
// key id = first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), where 0x01 is the
// Ed25519 signature type; a verifier key is written <name>+<hex id>+<base64(0x01 || key)>.
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromBase64, toBase64, toHex, utf8 } from './bytes.ts';
import { isUnusablePublicKey, publicKeyOf, randomSeed, UNUSABLE_KEY } from './ed25519.ts';

export const ED25519_ALG = 0x01;

export class KeyFormatError extends Error {
  override name = 'KeyFormatError';
}

/** Requires a name with no '+', no white space and no newline (signed-note §Verifier keys). */
export function assertKeyName(name: string): void {
  // Go's note.isValidName uses unicode.IsSpace (the White_Space property): JS `\s` differs
  // (it matches U+FEFF and misses U+0085). A lone surrogate cannot be encoded as UTF-8.
  if (name.length === 0 || /[\p{White_Space}+]|\p{Cs}/u.test(name)) {
    throw new KeyFormatError(
      `key name must be non-empty with no '+' or white space, got ${JSON.stringify(name)}`,
    );
  }
}

/** The 4-byte key hash of an Ed25519 key named `name`. */
export function keyHash(name: string, publicKey: Uint8Array): Uint8Array {
  assertKeyName(name);
  if (publicKey.length !== 32)
    throw new RangeError(`an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  return sha256(concatBytes(utf8(name), new Uint8Array([0x0a, ED25519_ALG]), publicKey)).slice(
    0,
    4,
  );
}

/** The statement `keyId`: `<name>+<hex key hash>`. */
export function keyIdOf(name: string, publicKey: Uint8Array): string {
  return `${name}+${toHex(keyHash(name, publicKey))}`;
}

export interface VerifierKey {
  name: string;
  keyHash: Uint8Array;
  publicKey: Uint8Array;
}

export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  return `${keyIdOf(name, publicKey)}+${toBase64(concatBytes(new Uint8Array([ED25519_ALG]), publicKey))}`;
}

/**
 * Splits at the first `count` plus signs only, like Go's strings.Cut: standard base64 uses
 * '+' too, so the key material may contain more of them.
 */
function cutPlus(text: string, count: number): string[] | undefined {
  const parts: string[] = [];
  let rest = text;
  for (let i = 0; i < count; i++) {
    const at = rest.indexOf('+');
    if (at < 0) return undefined;
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  parts.push(rest);
  return parts;
}

/** Parses `<name>+<hex id>+<base64(0x01 || key)>` and checks the id matches the key. */
export function parseVerifierKey(text: string): VerifierKey {
  const parts = cutPlus(text, 2);
  if (parts === undefined)
    throw new KeyFormatError('verifier key must be <name>+<hex id>+<base64 key>');
  const [name, hexId, encoded] = parts as [string, string, string];
  if (!/^[0-9a-f]{8}$/.test(hexId))
    throw new KeyFormatError(
      `verifier key id must be 8 lowercase hex digits, got ${JSON.stringify(hexId)}`,
    );
  assertKeyName(name);
  let raw: Uint8Array;
  try {
    raw = fromBase64(encoded);
  } catch {
    throw new KeyFormatError('verifier key material is not base64');
  }
  if (raw.length !== 33 || raw[0] !== ED25519_ALG) {
    throw new KeyFormatError(
      `verifier key must be 0x01 followed by 32 bytes, got ${raw.length} bytes of type ${raw[0]}`,
    );
  }
  const publicKey = raw.slice(1);
  if (isUnusablePublicKey(publicKey))
    throw new KeyFormatError(`verifier key of ${name} ${UNUSABLE_KEY}`);
  const hash = keyHash(name, publicKey);
  if (toHex(hash) !== hexId)
    throw new KeyFormatError(
      `verifier key id ${hexId} does not match its key (expected ${toHex(hash)})`,
    );
  return { name, keyHash: hash, publicKey };
}

/** A signing key: a name and a 32-byte Ed25519 seed. */
export interface SigningKey {
  name: string;
  seed: Uint8Array;
  publicKey: Uint8Array;
  keyId: string;
}

export function signingKey(name: string, seed: Uint8Array): SigningKey {
  const publicKey = publicKeyOf(seed);
  return { name, seed, publicKey, keyId: keyIdOf(name, publicKey) };
}

export function generateSigningKey(name: string): SigningKey {
  return signingKey(name, randomSeed());
}

/** The note signer key format: PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>. */
export function formatSignerKey(key: SigningKey): string {
  return `PRIVATE+KEY+${key.keyId}+${toBase64(concatBytes(new Uint8Array([ED25519_ALG]), key.seed))}`;
}

export function parseSignerKey(text: string): SigningKey {
  const parts = cutPlus(text.trim(), 4);
  if (parts === undefined || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY') {
    throw new KeyFormatError('signer key must be PRIVATE+KEY+<name>+<hex id>+<base64 key>');
  }
  const [, , name, hexId, encoded] = parts as [string, string, string, string, string];
  let raw: Uint8Array;
  try {
    raw = fromBase64(encoded);
  } catch {
    throw new KeyFormatError('signer key material is not base64');
  }
  if (raw.length !== 33 || raw[0] !== ED25519_ALG)
    throw new KeyFormatError('signer key must be 0x01 followed by a 32-byte seed');
  const key = signingKey(name, raw.slice(1));
  if (key.keyId !== `${name}+${hexId}`)
    throw new KeyFormatError(`signer key id ${hexId} does not match its key`);
  return key;
}

/** The key name of an agency's statement key. */
export function agencyKeyName(agency: string): string {
  return `${agency}.agency.onewindow`;
}
