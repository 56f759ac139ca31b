// Ed25519 (RFC 8032) through @noble/ed25519, which needs a SHA-512 before first use.
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';

ed.hashes.sha512 = sha512;

/** Checks an Ed25519 signature; `false` for malformed input, never a throw. */
export type VerifySignature = (
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
) => boolean;

export const verifyEd25519: VerifySignature = (publicKey, message, signature) => {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return ed.verify(signature, message, publicKey);
  } catch {
    return false;
  }
};

/** Signs `message` with a 32-byte Ed25519 seed. @throws RangeError for a seed of another length. */
export function signEd25519(seed: Uint8Array, message: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  return ed.sign(message, seed);
}

export function publicKeyOf(seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  return ed.getPublicKey(seed);
}

export function randomSeed(): Uint8Array {
  return ed.utils.randomSecretKey();
}
