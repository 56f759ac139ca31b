// Reads the log back. Entries are returned as stored bytes; callers that verify re-hash them.
import type pg from 'pg';
import { Entry } from '../../domain/statement.ts';
import { LruMap } from '../lruMap.ts';

export interface StoredEntry {
  entry: Entry;
  bytes: Uint8Array;
  leafHash: Uint8Array;
}

/** A stored row as an entry, its exact bytes and its leaf hash. */
export function storedEntry(row: { entry: Buffer; leaf_hash: Buffer }): StoredEntry {
  return {
    entry: Entry.parse(JSON.parse(row.entry.toString('utf8'))),
    bytes: new Uint8Array(row.entry),
    leafHash: new Uint8Array(row.leaf_hash),
  };
}

export async function entriesOfCase(pool: pg.Pool, caseId: string): Promise<StoredEntry[]> {
  const { rows } = await pool.query<{ entry: Buffer; leaf_hash: Buffer }>(
    'SELECT entry, leaf_hash FROM ledger_entries WHERE case_id = $1 ORDER BY idx',
    [caseId],
  );
  return rows.map(storedEntry);
}

/**
 * Each case's entries as read so far. Entries are append-only (the triggers of migration 1
 * refuse UPDATE and DELETE) and the one sequencer commits indices in order, so a case's entries
 * only ever grow at the end: each read asks PostgreSQL only for those after the last one kept,
 * and parses each entry once. Holds up to `maxCases` cases, the least recently read dropped first.
 */
export class CaseEntries {
  private readonly cases: LruMap<string, StoredEntry[]>;

  constructor(
    private readonly pool: pg.Pool,
    maxCases = 2_000,
  ) {
    this.cases = new LruMap(maxCases);
  }

  async of(caseId: string): Promise<StoredEntry[]> {
    const known = this.cases.get(caseId) ?? [];
    const { rows } = await this.pool.query<{ entry: Buffer; leaf_hash: Buffer }>({
      name: 'case-entries-after',
      text: 'SELECT entry, leaf_hash FROM ledger_entries WHERE case_id = $1 AND idx > $2 ORDER BY idx',
      values: [caseId, known.at(-1)?.entry.index ?? -1],
    });
    // Another read of this case may have finished first: keep whichever list is longer.
    const read = [...known, ...rows.map(storedEntry)];
    const current = this.cases.get(caseId) ?? [];
    const entries = current.length > read.length ? current : read;
    this.cases.set(caseId, entries);
    return entries;
  }
}

export async function entryRange(pool: pg.Pool, from: number, to: number): Promise<StoredEntry[]> {
  const { rows } = await pool.query<{ entry: Buffer; leaf_hash: Buffer }>(
    'SELECT entry, leaf_hash FROM ledger_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx',
    [from, to],
  );
  return rows.map(storedEntry);
}

export async function ledgerSize(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ size: string }>(
    'SELECT coalesce(max(idx) + 1, 0) AS size FROM ledger_entries',
  );
  return Number(rows[0]!.size);
}
