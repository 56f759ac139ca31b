import type pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { signCheckpoint } from '../checkpoint.ts';
import { generateSigningKey } from '../keys.ts';
import { CheckpointPublisher } from './publisher.ts';

const logKey = generateSigningKey('publisher.test/log');
const NO_WITNESSES = { witnesses: [], threshold: 0 };

/**
 * A store whose newest checkpoint is never published yet, so every round publishes one.
 * Counts the rounds (each reads the newest checkpoint once).
 */
function unpublishedStore() {
  const store = { rounds: 0, pool: undefined as unknown as pg.Pool };
  store.pool = {
    query: (text: string) => {
      if (!text.trimStart().startsWith('SELECT')) return Promise.resolve({ rows: [] });
      store.rounds++;
      const size = store.rounds;
      const note = signCheckpoint(
        { origin: 'publisher.test/log', size, rootHash: new Uint8Array(32), extensions: [] },
        logKey,
      );
      return Promise.resolve({ rows: [{ size: String(size), note, published: false }] });
    },
  } as unknown as pg.Pool;
  return store;
}

describe('CheckpointPublisher', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('publishes at once when no round started within the interval', async () => {
    const store = unpublishedStore();
    await new CheckpointPublisher(store.pool, NO_WITNESSES, () => undefined, 0).request();
    expect(store.rounds).toBe(1);
  });

  it('starts the next round no sooner than the interval after the last one started', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const store = unpublishedStore();
    const publisher = new CheckpointPublisher(store.pool, NO_WITNESSES, () => undefined, 1000);
    await publisher.request();
    const next = publisher.request();
    await vi.advanceTimersByTimeAsync(999);
    expect(store.rounds).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await next;
    expect(store.rounds).toBe(2);
  });

  it('answers every request made while it waits with one round', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const store = unpublishedStore();
    const publisher = new CheckpointPublisher(store.pool, NO_WITNESSES, () => undefined, 1000);
    await publisher.request();
    const waiting = Array.from({ length: 50 }, () => publisher.request());
    await vi.advanceTimersByTimeAsync(1000);
    await Promise.all(waiting);
    expect(store.rounds).toBe(2);
  });
});
