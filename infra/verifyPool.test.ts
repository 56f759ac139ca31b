import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { fromHex } from '../ledger/bytes.ts';
import { VerifyPool, type VerifyItem } from './verifyPool.ts';

// RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte).
const TEST_1: VerifyItem = {
  publicKey: fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'),
  message: fromHex(''),
  signature: fromHex(
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  ),
};
const TEST_2: VerifyItem = {
  publicKey: fromHex('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c'),
  message: fromHex('72'),
  signature: fromHex(
    '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  ),
};

function flipped(item: VerifyItem, field: 'message' | 'signature'): VerifyItem {
  const bytes = item[field].slice();
  bytes[0]! ^= 1;
  return { ...item, [field]: bytes };
}

describe('the verify pool', () => {
  const pool = new VerifyPool(2);
  afterAll(() => pool.close());

  it('accepts the RFC 8032 vectors and refuses them with a flipped bit, each in its place', async () => {
    const items = [TEST_1, flipped(TEST_2, 'message'), TEST_2, flipped(TEST_1, 'signature')];
    expect(await pool.verifyBatch(items)).toEqual([true, false, true, false]);
  });

  it('refuses a key or a signature of the wrong length without failing the rest of the batch', async () => {
    const items = [
      { ...TEST_1, publicKey: TEST_1.publicKey.slice(1) },
      TEST_2,
      { ...TEST_2, signature: TEST_2.signature.slice(0, 63) },
      TEST_1,
    ];
    expect(await pool.verifyBatch(items)).toEqual([false, true, false, true]);
  });

  it('keeps the order of a large batch spread over both threads', async () => {
    const items = Array.from({ length: 301 }, (_, i) =>
      i % 3 === 0 ? flipped(TEST_1, 'signature') : TEST_2,
    );
    const results = await pool.verifyBatch(items);
    expect(results).toEqual(items.map((_, i) => i % 3 !== 0));
  });

  it('answers batches in flight together, each in its order, handed to the threads a chunk at a time', async () => {
    const batch = (every: number) =>
      Array.from({ length: 1000 }, (_, i) =>
        i % every === 0 ? flipped(TEST_2, 'message') : TEST_1,
      );
    const [a, b] = await Promise.all([pool.verifyBatch(batch(7)), pool.verifyBatch(batch(5))]);
    expect(a).toEqual(batch(7).map((_, i) => i % 7 !== 0));
    expect(b).toEqual(batch(5).map((_, i) => i % 5 !== 0));
  });

  it('refuses a batch it cannot send and still answers every later batch with its own results', async () => {
    const unsendable = [TEST_1, { ...TEST_2, message: undefined as unknown as Uint8Array }];
    await expect(pool.verifyBatch(unsendable)).rejects.toThrow(TypeError);
    const later = [flipped(TEST_1, 'signature'), TEST_2];
    expect(await pool.verifyBatch(later)).toEqual([false, true]);
    expect(await pool.verifyBatch([TEST_1, flipped(TEST_2, 'message')])).toEqual([true, false]);
  });

  it("checks with libsodium's stricter rule: a forgery under the identity point as key fails", async () => {
    // See ledger/pg/sodiumEd25519.test.ts: OpenSSL's check accepts this for any message.
    const forged: VerifyItem = {
      publicKey: fromHex('01' + '00'.repeat(31)),
      message: fromHex('72'),
      signature: fromHex('58' + '66'.repeat(31) + '01' + '00'.repeat(31)),
    };
    expect(await pool.verifyBatch([TEST_2, forged, TEST_1])).toEqual([true, false, true]);
  });

  it('refuses a nice value out of range, and takes the ends of the range', async () => {
    for (const nice of [20, -1, 1.5])
      expect(() => new VerifyPool(1, { nice })).toThrow(
        `nice must be an integer from 0 to 19, not ${nice}`,
      );
    for (const nice of [0, 19]) {
      const edge = new VerifyPool(1, { nice });
      try {
        expect(await edge.verifyBatch([TEST_1])).toEqual([true]);
      } finally {
        await edge.close();
      }
    }
  });

  // Reads each thread's nice value from /proc: Linux only.
  it.runIf(existsSync('/proc/thread-self'))(
    'runs its threads at the nice value asked, below the process',
    async () => {
      const niceOfThreads = () =>
        readdirSync('/proc/self/task').map((tid) => {
          const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
          // Field 19 of proc_pid_stat(5); the fields after the command name start at field 3.
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19 - 3]);
        });
      const before = niceOfThreads().filter((n) => n === 7).length;
      const gentle = new VerifyPool(2, { nice: 7 });
      try {
        // A batch each thread answers has run each thread's start.
        expect(await gentle.verifyBatch([TEST_1, TEST_2])).toEqual([true, true]);
        expect(niceOfThreads().filter((n) => n === 7).length - before).toBe(2);
      } finally {
        await gentle.close();
      }
    },
  );

  it('answers an empty batch, and refuses work once closed', async () => {
    expect(await pool.verifyBatch([])).toEqual([]);
    const closed = new VerifyPool(1);
    await closed.close();
    await expect(closed.verifyBatch([TEST_1])).rejects.toThrow('the verify pool is closed');
  });
});
