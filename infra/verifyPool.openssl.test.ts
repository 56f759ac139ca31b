// The verify pool where sodium-native's binary cannot load: its threads check with OpenSSL,
// which takes a forgery under a key of small order; the pool must not.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { fromHex } from '../ledger/bytes.ts';
import { VerifyPool, type VerifyItem } from './verifyPool.ts';

vi.mock('../ledger/pg/sodiumEd25519.ts', () => ({ sodiumModulePath: undefined }));

// RFC 8032 §7.1, TEST 2 (one byte).
const TEST_2: VerifyItem = {
  publicKey: fromHex('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c'),
  message: fromHex('72'),
  signature: fromHex(
    '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  ),
};

describe('the verify pool on OpenSSL alone', () => {
  const pool = new VerifyPool(1);
  afterAll(() => pool.close());

  it('verifies a real signature, and refuses R = B, S = 1 under the identity point as key', async () => {
    const forged: VerifyItem = {
      publicKey: fromHex('01' + '00'.repeat(31)),
      message: fromHex('72'),
      signature: fromHex('58' + '66'.repeat(31) + '01' + '00'.repeat(31)),
    };
    expect(await pool.verifyBatch([TEST_2, forged])).toEqual([true, false]);
  });
});
