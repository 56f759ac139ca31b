// Reading tree hashes back for proofs and tiles. Leaf hashes (level 0) are stored with
// the entries; higher perfect-subtree hashes in tree_nodes. A proof needs O(log n) of them,
// fetched in one round trip.
import type pg from 'pg';
import type { NodeId } from '../proof.ts';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export class MissingNodeError extends Error {
  override name = 'MissingNodeError';
}

/** Fetches the hashes of `ids`, in order. @throws MissingNodeError if the store lacks one. */
export async function fetchNodes(db: Queryable, ids: readonly NodeId[]): Promise<Uint8Array[]> {
  if (ids.length === 0) return [];
  const leaves = ids.filter((id) => id.level === 0).map((id) => id.index);
  const inner = ids.filter((id) => id.level > 0);
  const found = new Map<string, Uint8Array>();
  const [leafRows, innerRows] = await Promise.all([
    leaves.length === 0
      ? Promise.resolve({ rows: [] as { idx: string; hash: Buffer }[] })
      : db.query<{ idx: string; hash: Buffer }>(
          'SELECT idx, leaf_hash AS hash FROM ledger_entries WHERE idx = ANY($1::bigint[])',
          [leaves],
        ),
    inner.length === 0
      ? Promise.resolve({ rows: [] as { level: number; idx: string; hash: Buffer }[] })
      : db.query<{ level: number; idx: string; hash: Buffer }>(
          `SELECT n.level, n.idx, n.hash FROM tree_nodes n
           JOIN unnest($1::smallint[], $2::bigint[]) AS want(level, idx) USING (level, idx)`,
          [inner.map((id) => id.level), inner.map((id) => id.index)],
        ),
  ]);
  for (const row of leafRows.rows) found.set(`0/${row.idx}`, new Uint8Array(row.hash));
  for (const row of innerRows.rows) found.set(`${row.level}/${row.idx}`, new Uint8Array(row.hash));
  return ids.map((id) => {
    const hash = found.get(`${id.level}/${id.index}`);
    if (!hash)
      throw new MissingNodeError(
        `the store has no hash for tree node level ${id.level} index ${id.index}`,
      );
    return hash;
  });
}

/** Hashes of tree level `level`, indices [from, from + count), in order (for tiles). */
export async function fetchLevel(
  db: Queryable,
  level: number,
  from: number,
  count: number,
): Promise<Uint8Array[]> {
  const source =
    level === 0
      ? { table: 'ledger_entries', hash: 'leaf_hash', where: 'idx >= $1 AND idx < $2' }
      : { table: 'tree_nodes', hash: 'hash', where: 'level = $3 AND idx >= $1 AND idx < $2' };
  const values = level === 0 ? [from, from + count] : [from, from + count, level];
  // A tile's hashes as one value, not `count` rows: an audit reads every tile of the log, and
  // parsing rows one by one was much of that read's CPU. Both tables CHECK that every hash is
  // 32 bytes (migration 1), so the value splits back into hashes at fixed offsets.
  const { rows } = await db.query<{ hashes: Buffer | null; n: number }>({
    text: `SELECT string_agg(${source.hash}, ''::bytea ORDER BY idx) AS hashes, count(*)::int4 AS n
             FROM ${source.table} WHERE ${source.where}`,
    values,
  });
  const { hashes, n } = rows[0]!;
  if (n !== count)
    throw new MissingNodeError(
      `the store has ${n} of ${count} hashes at level ${level} from ${from}`,
    );
  if (!hashes) return [];
  const all = new Uint8Array(hashes.buffer, hashes.byteOffset, hashes.byteLength);
  return Array.from({ length: n }, (_, i) => all.subarray(i * 32, i * 32 + 32));
}
