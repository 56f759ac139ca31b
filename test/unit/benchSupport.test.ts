// What the benchmarks share (bench/support.ts): the pure helpers, no servers.
import { describe, expect, it } from 'vitest';
import { sampleLatencies, unlessAborted } from '../../bench/support.ts';

describe('sampleLatencies', () => {
  it('times calls whose arguments follow the warm-up calls, never repeating one', async () => {
    const seen: number[] = [];
    const times = await sampleLatencies(3, (i) => Promise.resolve(seen.push(i)), 2);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(times).toHaveLength(3);
  });
});

describe('unlessAborted', () => {
  it('gives the work its own result while the signal stays quiet', async () => {
    await expect(unlessAborted(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
  });

  it('rejects with the reason as soon as the signal aborts, and absorbs the work failing later', async () => {
    const failure = new AbortController();
    let failLater: (error: Error) => void = () => undefined;
    const work = new Promise<number>((_, reject) => (failLater = reject));
    const waiting = unlessAborted(work, failure.signal);
    failure.abort(new Error('worker died'));
    await expect(waiting).rejects.toThrow('worker died');
    // Were it unhandled, vitest would report an unhandled rejection and fail the run.
    failLater(new Error('connection closed'));
  });

  it('rejects at once on a signal that aborted before', async () => {
    await expect(
      unlessAborted(Promise.resolve(1), AbortSignal.abort(new Error('gone'))),
    ).rejects.toThrow('gone');
  });
});
