import type pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LogReader } from './logReader.ts';

/** A store whose largest published checkpoint is `published.size`, changed by the test. */
function storeOf(published: { size: number }) {
  const asked = { count: 0 };
  const pool = {
    query: (config: { text: string }) => {
      if (!/max\(size\) AS size FROM published_checkpoints/.test(config.text))
        throw new Error(`unexpected query: ${config.text}`);
      asked.count++;
      return Promise.resolve({ rows: [{ size: String(published.size) }] });
    },
  } as unknown as pg.Pool;
  return { reader: new LogReader(pool), asked };
}

describe('what a published checkpoint covers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('asks the store again only for a larger size, or once its answer is 5 s old', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const published = { size: 300 };
    const { reader, asked } = storeOf(published);
    expect(await reader.publishedCovers(256)).toBe(true);
    expect(await reader.publishedCovers(300)).toBe(true);
    expect(asked.count).toBe(1);
    expect(await reader.publishedCovers(301)).toBe(false);
    expect(asked.count).toBe(2);
    // Restored from a backup taken at 200: within 5 s the reader still answers from memory,
    // then it learns the log is shorter, and what lies past 200 is no longer settled.
    published.size = 200;
    vi.advanceTimersByTime(4_000);
    expect(await reader.publishedCovers(256)).toBe(true);
    vi.advanceTimersByTime(1_001);
    expect(await reader.publishedCovers(256)).toBe(false);
    expect(await reader.publishedCovers(200)).toBe(true);
    expect(asked.count).toBe(3);
  });
});
