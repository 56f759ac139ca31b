import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../bytes.ts';
import { nobleEd25519, publicKeyOf } from '../ed25519.ts';
import { nodeEd25519 } from './nodeEd25519.ts';
import { RFC8032_VECTORS } from './rfc8032Vectors.ts';

// RFC 8032 §7.1, TEST 1 and TEST 2.
const RFC8032 = RFC8032_VECTORS.slice(0, 2);

describe("Node's built-in Ed25519", () => {
  for (const [i, vector] of RFC8032.entries()) {
    it(`signs RFC 8032 §7.1 test ${i + 1} exactly as the RFC and @noble/ed25519 do`, () => {
      const seed = fromHex(vector.seed);
      const message = fromHex(vector.message);
      expect(toHex(publicKeyOf(seed))).toBe(vector.publicKey);
      expect(toHex(nodeEd25519.sign(seed, message))).toBe(vector.signature);
      expect(toHex(nobleEd25519.sign(seed, message))).toBe(vector.signature);
      expect(
        nodeEd25519.verify(fromHex(vector.publicKey), message, fromHex(vector.signature)),
      ).toBe(true);
    });
  }

  it('refuses a signature with one bit flipped, and malformed keys and signatures, without throwing', () => {
    const vector = RFC8032[1]!;
    const publicKey = fromHex(vector.publicKey);
    const message = fromHex(vector.message);
    const signature = fromHex(vector.signature);
    signature[10]! ^= 1;
    expect(nodeEd25519.verify(publicKey, message, signature)).toBe(false);
    expect(nodeEd25519.verify(publicKey.slice(1), message, fromHex(vector.signature))).toBe(false);
    expect(nodeEd25519.verify(publicKey, message, new Uint8Array(63))).toBe(false);
  });
});
