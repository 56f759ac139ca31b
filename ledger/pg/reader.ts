// Reads the log back. Entries are returned as stored bytes; callers that verify re-hash them.
import type pg from 'pg';
import { Entry } from '../../domain/statement.ts';

export interface StoredEntry {
  entry: Entry;
  bytes: Uint8Array;
  leafHash: Uint8Array;
}

function toStored(row: { entry: Buffer; leaf_hash: Buffer }): StoredEntry {
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
  return rows.map(toStored);
}

export async function entryRange(pool: pg.Pool, from: number, to: number): Promise<StoredEntry[]> {
  const { rows } = await pool.query<{ entry: Buffer; leaf_hash: Buffer }>(
    'SELECT entry, leaf_hash FROM ledger_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx',
    [from, to],
  );
  return rows.map(toStored);
}

export async function ledgerSize(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ size: string }>(
    'SELECT coalesce(max(idx) + 1, 0) AS size FROM ledger_entries',
  );
  return Number(rows[0]!.size);
}
