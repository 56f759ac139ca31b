import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../bytes.ts';
import { nobleEd25519, publicKeyOf } from '../ed25519.ts';
import { nodeEd25519 } from './nodeEd25519.ts';

// RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte).
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
];

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
