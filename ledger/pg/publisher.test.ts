import type pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { signCheckpoint } from '../checkpoint.ts';
import { cosignerKeyOf } from '../cosignature.ts';
import { formatVerifierKey, generateSigningKey, parseVerifierKey } from '../keys.ts';
import { decideAddCheckpoint } from '../witness.ts';
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
    vi.unstubAllGlobals();
  });

  it('publishes once k witnesses cosigned, without waiting for a slow one, and keeps its cosignature when it comes', async () => {
    const origin = 'publisher.test/log';
    const note = signCheckpoint(
      { origin, size: 3, rootHash: new Uint8Array(32).fill(3), extensions: [] },
      logKey,
    );
    const written: { text: string; values: unknown[] }[] = [];
    const pool = {
      query: (text: string, values: unknown[] = []) => {
        if (text.trimStart().startsWith('SELECT'))
          return Promise.resolve({ rows: [{ size: '3', note, published: false }] });
        written.push({ text, values });
        return Promise.resolve({ rows: [] });
      },
    } as unknown as pg.Pool;
    const [fast, slow] = ['fast', 'slow'].map((name) => generateSigningKey(`${name}.witness.test`));
    const logs = new Map([
      [origin, [parseVerifierKey(formatVerifierKey(origin, logKey.publicKey))]],
    ]);
    // Each witness answers as tlog-witness does, from size 0; the slow one when let go.
    let letGo!: () => void;
    const slowAnswers = new Promise<void>((resolve) => (letGo = resolve));
    vi.stubGlobal('fetch', async (url: string, init: { body: string }) => {
      const key = url.startsWith('http://slow') ? slow! : fast!;
      if (key === slow) await slowAnswers;
      const answer = decideAddCheckpoint({ key, logs }, init.body, () => undefined);
      return new Response(answer.body, { status: answer.status });
    });
    const publisher = new CheckpointPublisher(
      pool,
      {
        witnesses: [
          { url: 'http://fast', key: cosignerKeyOf(fast!) },
          { url: 'http://slow', key: cosignerKeyOf(slow!) },
        ],
        threshold: 1,
      },
      () => undefined,
      0,
    );
    await publisher.request();
    const published = written.filter((w) => w.text.includes('published_checkpoints'));
    expect(published).toHaveLength(1);
    expect(published[0]!.values[1]).toContain('— fast.witness.test ');
    expect(published[0]!.values[1]).not.toContain('slow.witness.test');
    const kept = () =>
      written.filter((w) => w.text.includes('cosignatures')).map((w) => w.values[1] as string);
    expect(kept()).toEqual(['fast.witness.test']);
    letGo();
    await publisher.idle();
    expect(kept()).toEqual(['fast.witness.test', 'slow.witness.test']);
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
