import type pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { signCheckpoint } from '../checkpoint.ts';
import { cosign, cosignerKeyOf, countCosignatures } from '../cosignature.ts';
import { formatVerifierKey, generateSigningKey, parseVerifierKey } from '../keys.ts';
import { toBase64, toHex } from '../bytes.ts';
import { splitNote } from '../note.ts';
import { consistencyProofAsync, rootFromLeafHashes } from '../proof.ts';
import { decideAddCheckpoint, formatAddCheckpoint, type WitnessState } from '../witness.ts';
import { CheckpointPublisher } from './publisher.ts';
import { fetchNodes } from './tree.ts';

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

/** A store whose newest checkpoint, of size 3, is not published yet; keeps what is written. */
function storeAtThree() {
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
  return { origin, note, pool, written };
}

describe('CheckpointPublisher', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('publishes once k witnesses cosigned, without waiting for a slow one, and keeps its cosignature when it comes', async () => {
    const { origin, pool, written } = storeAtThree();
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

  it("takes its witness's own cosignature from an answer that also holds a line by another key under the same name", async () => {
    // tlog-witness §add-checkpoint: the answer holds "one or more" lines, and "The client
    // MUST ignore any cosignatures from unknown keys".
    const { origin, note, pool, written } = storeAtThree();
    const witnessKey = generateSigningKey('w.witness.test');
    const otherKey = generateSigningKey('w.witness.test');
    const logs = new Map([
      [origin, [parseVerifierKey(formatVerifierKey(origin, logKey.publicKey))]],
    ]);
    vi.stubGlobal('fetch', (_url: string, init: { body: string }) => {
      const answer = decideAddCheckpoint({ key: witnessKey, logs }, init.body, () => undefined);
      const other = cosign(splitNote(note).text, otherKey, 1_700_000_000);
      return Promise.resolve(new Response(`${other}${answer.body}`, { status: answer.status }));
    });
    const lines: string[] = [];
    await new CheckpointPublisher(
      pool,
      { witnesses: [{ url: 'http://w', key: cosignerKeyOf(witnessKey) }], threshold: 1 },
      (line) => lines.push(line),
      0,
    ).request();
    expect(lines).toEqual([]);
    const published = written.filter((w) => w.text.includes('published_checkpoints'));
    expect(published).toHaveLength(1);
    const cosignatures = countCosignatures(published[0]!.values[1] as string, [
      cosignerKeyOf(witnessKey),
      cosignerKeyOf(otherKey),
    ]);
    expect(cosignatures.map((c) => toHex(c.keyHash))).toEqual([
      toHex(cosignerKeyOf(witnessKey).keyHash),
    ]);
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

  describe('a witness another publisher of the log moves (tlog-witness 409)', () => {
    const origin = 'publisher.test/log';
    // A five-leaf tree: leaf i is 32 bytes of i + 1. Node (level, index) is the root of its
    // perfect subtree, as tree_nodes and ledger_entries.leaf_hash hold them.
    const leaves = Array.from({ length: 5 }, (_, i) => new Uint8Array(32).fill(i + 1));
    const node = (level: number, index: number) =>
      rootFromLeafHashes(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level));
    const noteOf = (size: number) =>
      signCheckpoint(
        { origin, size, rootHash: rootFromLeafHashes(leaves.slice(0, size)), extensions: [] },
        logKey,
      );
    const logs = new Map([
      [origin, [parseVerifierKey(formatVerifierKey(origin, logKey.publicKey))]],
    ]);
    const witnessKey = generateSigningKey('moved.witness.test');

    /** The log's store at size 5, newest checkpoint unpublished; the writes it was asked for. */
    function storeAtFive() {
      const written: { text: string; values: unknown[] }[] = [];
      const pool = {
        query: (text: string, values: unknown[] = []) => {
          if (text.includes('FROM checkpoints c'))
            return Promise.resolve({ rows: [{ size: '5', note: noteOf(5), published: false }] });
          if (text.includes('FROM ledger_entries'))
            return Promise.resolve({
              rows: (values[0] as number[]).map((idx) => ({
                idx: String(idx),
                hash: Buffer.from(node(0, Number(idx))),
              })),
            });
          if (text.includes('FROM tree_nodes')) {
            const [levels, indices] = values as [number[], number[]];
            return Promise.resolve({
              rows: levels.map((level, i) => ({
                level,
                idx: String(indices[i]),
                hash: Buffer.from(node(level, Number(indices[i]))),
              })),
            });
          }
          written.push({ text, values });
          return Promise.resolve({ rows: [] });
        },
      } as unknown as pg.Pool;
      return { pool, written };
    }

    /** A tlog-witness in memory: cosigns what decideAddCheckpoint accepts, keeps its size. */
    function witness() {
      let state: WitnessState | undefined;
      const add = (body: string) => {
        const answer = decideAddCheckpoint({ key: witnessKey, logs }, body, () => state);
        if (answer.status === 200)
          state = { size: answer.checkpoint.size, rootHash: answer.checkpoint.rootHash };
        return answer;
      };
      return { add, size: () => state?.size ?? 0 };
    }

    const publisherOf = (pool: pg.Pool, log: (line: string) => void = () => undefined) =>
      new CheckpointPublisher(
        pool,
        { witnesses: [{ url: 'http://moved', key: cosignerKeyOf(witnessKey) }], threshold: 1 },
        log,
        0,
      );
    const oldSizeOf = (body: string) => Number(/^old (\d+)$/m.exec(body)![1]);

    it('learns its size from each 409, proves consistency from there, and publishes on the third attempt', async () => {
      const { pool, written } = storeAtFive();
      const w = witness();
      // The other publisher had it cosign size 3 before, and size 5 just after this
      // publisher's first attempt (from 0, as it knew nothing yet).
      expect(w.add(formatAddCheckpoint(0, [], noteOf(3))).status).toBe(200);
      const oldSizes: number[] = [];
      // Moving it to 5 needs a proof from 3: made here the way the publisher makes one.
      const moveToFive = async () => {
        const proof = await consistencyProofAsync(3, 5, (ids) => fetchNodes(pool, ids));
        expect(w.add(formatAddCheckpoint(3, proof.map(toBase64), noteOf(5))).status).toBe(200);
      };
      vi.stubGlobal('fetch', async (_url: string, init: { body: string }) => {
        oldSizes.push(oldSizeOf(init.body));
        const answer = w.add(init.body);
        if (oldSizes.length === 1) await moveToFive();
        return new Response(answer.body, { status: answer.status });
      });
      await publisherOf(pool).request();
      expect(oldSizes).toEqual([0, 3, 5]);
      expect(w.size()).toBe(5);
      const published = written.filter((x) => x.text.includes('published_checkpoints'));
      expect(published).toHaveLength(1);
      expect(published[0]!.values[0]).toBe(5);
      expect(published[0]!.values[1]).toContain('— moved.witness.test ');
    });

    it('takes a 409 without a size as that witness failing, and publishes nothing without its k', async () => {
      const { pool, written } = storeAtFive();
      const lines: string[] = [];
      vi.stubGlobal('fetch', () => Promise.resolve(new Response('stale\n', { status: 409 })));
      await publisherOf(pool, (line) => lines.push(line)).request();
      expect(lines).toEqual([
        'witness moved.witness.test did not cosign size 5: Error: 409 without a size: "stale"',
      ]);
      expect(written.filter((x) => x.text.includes('published_checkpoints'))).toEqual([]);
    });

    it('stops reading a witness that streams an endless answer, counts it as failed and quotes little of it', async () => {
      const { pool, written } = storeAtFive();
      const lines: string[] = [];
      let pulled = 0;
      const chunk = new Uint8Array(1024 * 1024).fill(0x61);
      const endless = () =>
        new ReadableStream<Uint8Array>({
          pull(controller) {
            pulled += chunk.length;
            controller.enqueue(chunk);
          },
        });
      vi.stubGlobal('fetch', () => Promise.resolve(new Response(endless(), { status: 200 })));
      await publisherOf(pool, (line) => lines.push(line)).request();
      expect(pulled).toBeLessThanOrEqual(2 * chunk.length);
      expect(lines).toEqual([
        'witness moved.witness.test did not cosign size 5: Error: an answer of more than 65536 bytes',
      ]);
      // An error page is quoted in the log, cut short.
      vi.stubGlobal('fetch', () =>
        Promise.resolve(new Response('x'.repeat(10_000), { status: 500 })),
      );
      await publisherOf(pool, (line) => lines.push(line)).request();
      expect(lines[1]).toBe(
        `witness moved.witness.test did not cosign size 5: Error: HTTP 500: "${'x'.repeat(200)}"`,
      );
      expect(written.filter((x) => x.text.includes('published_checkpoints'))).toEqual([]);
    });

    it('gives up after three 409s, as a witness ahead of this log never cosigns it', async () => {
      const { pool, written } = storeAtFive();
      const lines: string[] = [];
      let requests = 0;
      vi.stubGlobal('fetch', () => {
        requests++;
        return Promise.resolve(new Response('7\n', { status: 409 }));
      });
      await publisherOf(pool, (line) => lines.push(line)).request();
      expect(requests).toBe(3);
      expect(lines).toEqual([
        'witness moved.witness.test did not cosign size 5: Error: witness answered 409 3 times, last at size 7',
      ]);
      expect(written.filter((x) => x.text.includes('published_checkpoints'))).toEqual([]);
    });
  });
});
