import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../bytes.ts';
import * as ed from '@noble/ed25519';
import { createPublicKey, verify } from 'node:crypto';
import { nobleEd25519, publicKeyOf } from '../ed25519.ts';
import { nodeEd25519 } from './nodeEd25519.ts';
import { RFC8032_VECTORS } from './rfc8032Vectors.ts';
import { processEd25519, processEd25519Name, sodiumEd25519 } from './sodiumEd25519.ts';

const RFC8032 = RFC8032_VECTORS;

// The identity point (y = 1) as a public key, R = the base point B, S = 1: [S]B = R + [k]A
// holds for every message, since [k]A is the identity whatever k is. A small-order key like
// this must never verify anything.
const IDENTITY_KEY = fromHex('01' + '00'.repeat(31));
const FORGED_UNDER_IDENTITY = fromHex(
  '5866666666666666666666666666666666666666666666666666666666666666' + '01' + '00'.repeat(31),
);
// The group order L (RFC 8032 §5.1), little-endian: S + L encodes the same scalar non-canonically.
const L = fromHex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');

/** The little-endian sum of two 32-byte numbers (no carry out: S + L < 2^256 here). */
function addLittleEndian(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const sum = a[i]! + b[i]! + carry;
    out[i] = sum & 0xff;
    carry = sum >> 8;
  }
  return out;
}

describe("libsodium's Ed25519 (sodium-native)", () => {
  const sodium = sodiumEd25519!;

  it('loads on this machine, and is what processes sign and verify with', () => {
    expect(sodiumEd25519).toBeDefined();
    expect(processEd25519).toBe(sodiumEd25519);
    expect(processEd25519Name).toBe('libsodium');
  });

  for (const [i, vector] of RFC8032.entries()) {
    it(`signs and verifies RFC 8032 §7.1 test ${i + 1} exactly as the RFC says`, () => {
      const seed = fromHex(vector.seed);
      const message = fromHex(vector.message);
      expect(toHex(publicKeyOf(seed))).toBe(vector.publicKey);
      expect(toHex(sodium.sign(seed, message))).toBe(vector.signature);
      expect(sodium.verify(fromHex(vector.publicKey), message, fromHex(vector.signature))).toBe(
        true,
      );
    });
  }

  it('makes the signatures OpenSSL makes, and each accepts the other’s, for any seed and message', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 600 }),
        (seed, message) => {
          const signature = sodium.sign(seed, message);
          expect(toHex(signature)).toBe(toHex(nodeEd25519.sign(seed, message)));
          const publicKey = publicKeyOf(seed);
          expect(sodium.verify(publicKey, message, signature)).toBe(true);
          expect(nodeEd25519.verify(publicKey, message, signature)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses, as OpenSSL does, any one flipped bit of the signature, message or key', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.constantFrom('signature', 'message', 'publicKey'),
        fc.nat(),
        (seed, message, field, at) => {
          const item = {
            publicKey: publicKeyOf(seed),
            message,
            signature: sodium.sign(seed, message),
          };
          const bytes = item[field].slice();
          bytes[at % bytes.length]! ^= 1 << (at % 8);
          const changed = { ...item, [field]: bytes };
          expect(sodium.verify(changed.publicKey, changed.message, changed.signature)).toBe(false);
          expect(nodeEd25519.verify(changed.publicKey, changed.message, changed.signature)).toBe(
            false,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses, as OpenSSL does, a signature whose S is not reduced (S + L)', () => {
    const vector = RFC8032[1]!;
    const signature = fromHex(vector.signature);
    const unreduced = new Uint8Array(64);
    unreduced.set(signature.subarray(0, 32));
    unreduced.set(addLittleEndian(signature.subarray(32), L), 32);
    const publicKey = fromHex(vector.publicKey);
    const message = fromHex(vector.message);
    expect(sodium.verify(publicKey, message, unreduced)).toBe(false);
    expect(nodeEd25519.verify(publicKey, message, unreduced)).toBe(false);
  });

  it('refuses a "signature" under the identity point as key in every backend, though OpenSSL and noble alone accept it for any message', () => {
    const openSslKey = createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), IDENTITY_KEY]),
      format: 'der',
      type: 'spki',
    });
    for (const message of [new Uint8Array(0), fromHex('72'), new TextEncoder().encode('pay 1')]) {
      expect(verify(null, message, openSslKey, FORGED_UNDER_IDENTITY)).toBe(true);
      expect(ed.verify(FORGED_UNDER_IDENTITY, message, IDENTITY_KEY)).toBe(true);
      expect(nodeEd25519.verify(IDENTITY_KEY, message, FORGED_UNDER_IDENTITY)).toBe(false);
      expect(nobleEd25519.verify(IDENTITY_KEY, message, FORGED_UNDER_IDENTITY)).toBe(false);
      expect(sodium.verify(IDENTITY_KEY, message, FORGED_UNDER_IDENTITY)).toBe(false);
    }
  });

  it('answers false for keys and signatures of the wrong length, and a seed of the wrong length throws', () => {
    const vector = RFC8032[1]!;
    const publicKey = fromHex(vector.publicKey);
    const message = fromHex(vector.message);
    const signature = fromHex(vector.signature);
    expect(sodium.verify(publicKey.slice(1), message, signature)).toBe(false);
    expect(sodium.verify(publicKey, message, signature.slice(0, 63))).toBe(false);
    expect(() => sodium.sign(new Uint8Array(31), message)).toThrow(RangeError);
  });
});
