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
  const { rows } =
    level === 0
      ? await db.query<{ hash: Buffer }>(
          'SELECT leaf_hash AS hash FROM ledger_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx',
          [from, from + count],
        )
      : await db.query<{ hash: Buffer }>(
          'SELECT hash FROM tree_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx',
          [level, from, from + count],
        );
  if (rows.length !== count)
    throw new MissingNodeError(
      `the store has ${rows.length} of ${count} hashes at level ${level} from ${from}`,
    );
  return rows.map((r) => new Uint8Array(r.hash));
}
