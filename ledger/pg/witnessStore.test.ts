import type pg from 'pg';
import { describe, expect, test } from 'vitest';
import { signCheckpoint } from '../checkpoint.ts';
import { formatVerifierKey, parseVerifierKey, signingKey } from '../keys.ts';
import { rootFromLeafHashes } from '../proof.ts';
import { formatAddCheckpoint, type WitnessConfig } from '../witness.ts';
import { addCheckpoint } from './witnessStore.ts';

// Deterministic keys: seed = 32 copies of one byte.
const ORIGIN = 'witnessStore.test/log';
const logKey = signingKey(ORIGIN, new Uint8Array(32).fill(0x10));
const stranger = signingKey(ORIGIN, new Uint8Array(32).fill(0x11));
const config: WitnessConfig = {
  key: signingKey('witnessStore.test/w1', new Uint8Array(32).fill(0x20)),
  logs: new Map([[ORIGIN, [parseVerifierKey(formatVerifierKey(ORIGIN, logKey.publicKey))]]]),
};
const checkpoint = (origin = ORIGIN) => ({
  origin,
  size: 1,
  rootHash: rootFromLeafHashes([new Uint8Array(32)]),
  extensions: [],
});

/** A pool that records each connection asked of it, and gives none. */
function countingPool() {
  const asked = { connections: 0 };
  const pool = {
    connect: () => {
      asked.connections++;
      return Promise.reject(new Error('no connection in this test'));
    },
  } as unknown as pg.Pool;
  return { pool, asked };
}

// A witness's lock serialises the requests of one log: one its log never signed must not
// hold a connection or wait for the lock, or a flood of them queues the log's own.
describe('addCheckpoint before the lock', () => {
  test.each([
    ['a body that is no request', 'old one\n\n', 400],
    [
      'an unknown log',
      formatAddCheckpoint(0, [], signCheckpoint(checkpoint('other.test/log'), stranger)),
      404,
    ],
    [
      'a checkpoint no trusted key signed',
      formatAddCheckpoint(0, [], signCheckpoint(checkpoint(), stranger)),
      403,
    ],
    [
      'an old size above the checkpoint',
      formatAddCheckpoint(2, [], signCheckpoint(checkpoint(), logKey)),
      400,
    ],
  ])('answers %s without a connection', async (_, body, status) => {
    const { pool, asked } = countingPool();
    expect((await addCheckpoint(pool, config, body)).status).toBe(status);
    expect(asked.connections).toBe(0);
  });

  test('takes a connection for a checkpoint its log signed', async () => {
    const { pool, asked } = countingPool();
    const body = formatAddCheckpoint(0, [], signCheckpoint(checkpoint(), logKey));
    await expect(addCheckpoint(pool, config, body)).rejects.toThrow('no connection in this test');
    expect(asked.connections).toBe(1);
  });
});
