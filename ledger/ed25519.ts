// Ed25519 (RFC 8032) through @noble/ed25519 by default (it needs a SHA-512 before first use),
// or through the implementation a process installs with `useEd25519`.
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { toHex } from './bytes.ts';
import { LruMap } from './lruMap.ts';

ed.hashes.sha512 = sha512;

/** Checks an Ed25519 signature; `false` for malformed input, never a throw. */
export type VerifySignature = (
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
) => boolean;

/** Signing and verifying (RFC 8032 Ed25519, pure variant); deterministic, so any two agree. */
export interface Ed25519 {
  /** Signs with a 32-byte seed. */
  sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  /** `false` for a bad signature or malformed input, never a throw. */
  verify: VerifySignature;
}

/** What every refusal of such a key says after naming it (see `isUnusablePublicKey`). */
export const UNUSABLE_KEY =
  'is no usable Ed25519 public key (no curve point, or one of small order, for which anyone can make a signature verify)';

/** Keys already judged by `isUnusablePublicKey`, by their hex: decoding a point costs more than a check. */
const judged = new LruMap<string, boolean>(10_000);

/**
 * Whether `publicKey` can stand for no signer: it is no canonical encoding of a curve point
 * (RFC 8032 §5.1.3), or the point has small order ([8]A is the identity). Under a key of
 * small order, R = identity and S = 0 satisfy RFC 8032's check [8][S]B = [8]R + [8][k]A for
 * every message, so anyone can sign for it. libsodium's verify refuses such keys; noble's and
 * OpenSSL's do not, so the backends here refuse them first, and all three agree on which keys
 * can sign. (On signatures they still differ at the edges: noble checks the cofactored
 * equation and takes an R of small order, libsodium neither. The log holds only what
 * libsodium, the sequencer's check, accepted, and noble accepts all of that.)
 */
export function isUnusablePublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return true;
  const hex = toHex(publicKey);
  let unusable = judged.get(hex);
  if (unusable === undefined) {
    try {
      unusable = ed.Point.fromBytes(publicKey).isSmallOrder();
    } catch {
      unusable = true;
    }
    judged.set(hex, unusable);
  }
  return unusable;
}

/** @noble/ed25519: pure JavaScript, the same in Node and in browsers. */
export const nobleEd25519: Ed25519 = {
  sign: (seed, message) => ed.sign(message, seed),
  verify: (publicKey, message, signature) => {
    if (signature.length !== 64 || isUnusablePublicKey(publicKey)) return false;
    try {
      return ed.verify(signature, message, publicKey);
    } catch {
      return false;
    }
  },
};

let backend: Ed25519 = nobleEd25519;

/**
 * Chooses the implementation every signature in this process goes through. Node processes
 * install libsodium's, else OpenSSL's (ledger/pg/sodiumEd25519.ts `processEd25519`, about 20x
 * and 10x faster here); the library itself stays
 * free of I/O and platform imports, so browsers and offline verifiers keep noble.
 */
export function useEd25519(implementation: Ed25519): void {
  backend = implementation;
}

export const verifyEd25519: VerifySignature = (publicKey, message, signature) =>
  backend.verify(publicKey, message, signature);

/** Signs `message` with a 32-byte Ed25519 seed. @throws RangeError for a seed of another length. */
export function signEd25519(seed: Uint8Array, message: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  return backend.sign(seed, message);
}

export function publicKeyOf(seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  return ed.getPublicKey(seed);
}

export function randomSeed(): Uint8Array {
  return ed.utils.randomSecretKey();
}
