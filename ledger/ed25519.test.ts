import { describe, expect, it } from 'vitest';
import { fromHex } from './bytes.ts';
import { isUnusablePublicKey, nobleEd25519, publicKeyOf, signEd25519 } from './ed25519.ts';
import { RFC8032_VECTORS } from './pg/rfc8032Vectors.ts';

// Encodings of the small-order points, as libsodium's ge25519_has_small_order lists them.
const SMALL_ORDER = {
  'the identity (order 1)': '01' + '00'.repeat(31),
  'y = 0 (order 4)': '00'.repeat(32),
  'a point of order 8': '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'another point of order 8': 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'y = p - 1 (order 2)': 'ec' + 'ff'.repeat(30) + '7f',
};

describe('isUnusablePublicKey', () => {
  it.each(Object.entries(SMALL_ORDER))('refuses %s', (_, hex) => {
    expect(isUnusablePublicKey(fromHex(hex))).toBe(true);
  });

  it('refuses an encoding that is no point: y = 2 has no x, y = p is not canonical (RFC 8032 §5.1.3)', () => {
    expect(isUnusablePublicKey(fromHex('02' + '00'.repeat(31)))).toBe(true);
    expect(isUnusablePublicKey(fromHex('ed' + 'ff'.repeat(30) + '7f'))).toBe(true);
    expect(isUnusablePublicKey(new Uint8Array(31))).toBe(true);
  });

  it("takes every RFC 8032 §7.1 test key, and a fresh seed's key", () => {
    for (const vector of RFC8032_VECTORS)
      expect(isUnusablePublicKey(fromHex(vector.publicKey))).toBe(false);
    expect(isUnusablePublicKey(publicKeyOf(new Uint8Array(32).fill(9)))).toBe(false);
  });

  it('keeps its answer for a key it judged before', () => {
    const key = fromHex(SMALL_ORDER['a point of order 8']);
    expect([isUnusablePublicKey(key), isUnusablePublicKey(key)]).toEqual([true, true]);
  });
});

describe('nobleEd25519', () => {
  it('verifies a real signature, and not R = B, S = 1 under the identity as key, which satisfies [S]B = R + [k]A for any message', () => {
    const seed = new Uint8Array(32).fill(9);
    const message = new TextEncoder().encode('registerTransfer');
    expect(nobleEd25519.verify(publicKeyOf(seed), message, signEd25519(seed, message))).toBe(true);
    const forged = fromHex('58' + '66'.repeat(31) + '01' + '00'.repeat(31));
    expect(
      nobleEd25519.verify(fromHex(SMALL_ORDER['the identity (order 1)']), message, forged),
    ).toBe(false);
  });
});
