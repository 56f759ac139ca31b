// The log's read side over PostgreSQL: checkpoints, proofs bound to a checkpoint, tiles
// and entry bundles (C2SP tlog-tiles). Proofs fetch O(log n) stored node hashes and rehash
// them with the pure library; nothing here trusts a hash it did not have to.
import type pg from 'pg';
import { toBase64 } from '../bytes.ts';
import {
  consistencyProofAsync,
  inclusionNodes,
  inclusionProofAsync,
  rehash,
  verifyConsistency,
  verifyInclusion,
  type NodeId,
  type ProofNodes,
} from '../proof.ts';
import { encodeTile, MAX_BUNDLE_ENTRY_SIZE, TILE_HEIGHT, TILE_WIDTH } from '../tiles.ts';
import { LruMap } from '../lruMap.ts';
import { hashChildrenNode } from './nodeSha256.ts';
import { fetchLevel, fetchNodes } from './tree.ts';

/** The request names a size, index or tile the log does not have (HTTP 404). */
export class NotInLogError extends Error {
  override name = 'NotInLogError';
  constructor(
    message: string,
    /** The request parameter that names what is missing (`size`, `from`, `index`, `path`). */
    readonly field: string,
  ) {
    super(message);
  }
}

/**
 * A proof built from the stored hashes does not lead to its checkpoint's root: a stored node
 * hash (tree_nodes) was changed. Never served: the log's operator must restore the store.
 */
export class CorruptTreeError extends Error {
  override name = 'CorruptTreeError';
}

/** The request is well-formed but asks for something no proof exists for (HTTP 400). */
export class BadProofRequestError extends Error {
  override name = 'BadProofRequestError';
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(reason);
  }
}

export interface CheckpointRow {
  size: number;
  rootHash: Uint8Array;
  /** The signed note; with witness cosignatures once published. */
  note: string;
  published: boolean;
}

export interface InclusionProofResponse {
  index: number;
  size: number;
  leafHash: string;
  inclusionProof: string[];
  checkpoint: string;
}

export interface ConsistencyProofResponse {
  from: number;
  to: number;
  consistencyProof: string[];
  checkpoint: string;
}

/** How long a checkpoint size read stands for the store's (`covers`): a partial tile's cache life. */
const COVERS_FRESH_MS = 5_000;

export class LogReader {
  private nodeCache = new LruMap<number, Uint8Array>(NODE_CACHE_SIZE);
  /** Ephemeral node hashes (see rehashIn) of the tree of the latest size proofs were asked in. */
  private ephemerals = { size: -1, hashes: new Map<number, Uint8Array>() };
  /** The largest checkpoint sizes signed and published, as last read, and when (`covers`). */
  private readonly largest = {
    checkpoints: { size: 0, readAt: -Infinity },
    published_checkpoints: { size: 0, readAt: -Infinity },
  };

  constructor(private readonly pool: pg.Pool) {}

  /**
   * Checks a proof this reader built before it leaves (~log n hashes): a changed stored node
   * hash is a CorruptTreeError, never a wrong proof. The node caches are dropped with it, so a
   * store put right is read afresh, not through a hash cached while it was wrong.
   */
  private selfChecked(what: string, check: () => void): void {
    try {
      check();
    } catch (error) {
      this.nodeCache = new LruMap<number, Uint8Array>(NODE_CACHE_SIZE);
      this.ephemerals = { size: -1, hashes: new Map() };
      throw new CorruptTreeError(
        `the stored tree hashes do not give the ${what}: a stored node hash is wrong (${(error as Error).message})`,
      );
    }
  }

  /** The newest checkpoint that met the witness policy, or undefined before the first. */
  async latestPublished(): Promise<CheckpointRow | undefined> {
    const { rows } = await this.pool.query<{ size: string; root_hash: Buffer; note: string }>({
      name: 'latest-published-checkpoint',
      text: `SELECT p.size, c.root_hash, p.note FROM published_checkpoints p JOIN checkpoints c USING (size)
       ORDER BY p.size DESC LIMIT 1`,
    });
    const row = rows[0];
    return (
      row && {
        size: Number(row.size),
        rootHash: new Uint8Array(row.root_hash),
        note: row.note,
        published: true,
      }
    );
  }

  /** The newest checkpoint the log signed (witnessed or not yet). */
  async latestSigned(): Promise<CheckpointRow | undefined> {
    const { rows } = await this.pool.query<{ size: string }>(
      'SELECT max(size) AS size FROM checkpoints',
    );
    return rows[0]?.size == null ? undefined : this.checkpointAt(Number(rows[0].size));
  }

  /**
   * The checkpoint of exactly `size` leaves; the published (cosigned) note when there is one.
   * `field`: the request parameter that asked for it, named when there is none.
   */
  async checkpointAt(size: number, field = 'size'): Promise<CheckpointRow> {
    const { rows } = await this.pool.query<{
      size: string;
      root_hash: Buffer;
      note: string;
      published: string | null;
    }>(
      `SELECT c.size, c.root_hash, c.note, p.note AS published FROM checkpoints c
       LEFT JOIN published_checkpoints p USING (size) WHERE c.size = $1`,
      [size],
    );
    const row = rows[0];
    if (!row) throw new NotInLogError(`the log signed no checkpoint of size ${size}`, field);
    return {
      size,
      rootHash: new Uint8Array(row.root_hash),
      note: row.published ?? row.note,
      published: row.published !== null,
    };
  }

  private async sizeOrLatest(size: number | undefined, field: string): Promise<CheckpointRow> {
    if (size !== undefined) return this.checkpointAt(size, field);
    const latest = await this.latestPublished();
    if (!latest) throw new NotInLogError('the log has no published checkpoint yet', field);
    return latest;
  }

  /** Requires 0 <= index < size, and a checkpoint of `size` (default: the latest published). */
  async inclusion(index: number, size?: number): Promise<InclusionProofResponse> {
    const checkpoint = await this.sizeOrLatest(size, 'size');
    if (index >= checkpoint.size) {
      throw new BadProofRequestError(
        'index',
        `index ${index} is not below the checkpoint size ${checkpoint.size}`,
      );
    }
    const [proof, [leafHash]] = await Promise.all([
      inclusionProofAsync(index, checkpoint.size, (ids) => this.nodes(ids)),
      fetchLevel(this.pool, 0, index, 1),
    ]);
    this.selfChecked(
      `inclusion proof of entry ${index} in the checkpoint of size ${checkpoint.size}`,
      () =>
        verifyInclusion(
          leafHash!,
          index,
          checkpoint.size,
          proof,
          checkpoint.rootHash,
          hashChildrenNode,
        ),
    );
    return {
      index,
      size: checkpoint.size,
      leafHash: toBase64(leafHash!),
      inclusionProof: proof.map(toBase64),
      checkpoint: checkpoint.note,
    };
  }

  /**
   * Inclusion proofs of several entries in the tree of a signed checkpoint, with the stored
   * nodes of all of them fetched at once, each checked against the checkpoint's root before
   * it leaves (as `inclusion`'s). Requires 0 <= index < size for each entry.
   */
  async inclusionProofs(
    leaves: readonly { index: number; leafHash: Uint8Array }[],
    checkpoint: { size: number; rootHash: Uint8Array },
  ): Promise<Uint8Array[][]> {
    const { size } = checkpoint;
    const wanted = leaves.map(({ index }) => {
      if (!Number.isSafeInteger(index) || index < 0 || index >= size)
        throw new BadProofRequestError('index', `index ${index} is not below the size ${size}`);
      return inclusionNodes(index, size);
    });
    // Proofs in one tree share their upper nodes: each distinct node is looked up once.
    const distinct = new Map<number, NodeId>();
    for (const w of wanted) for (const id of w.ids) distinct.set(nodeKey(id), id);
    const hashes = await this.nodes([...distinct.values()]);
    const hashOf = new Map([...distinct.keys()].map((key, i) => [key, hashes[i]!]));
    const proofs = wanted.map((w) =>
      this.rehashIn(
        size,
        w,
        w.ids.map((id) => hashOf.get(nodeKey(id))!),
      ),
    );
    leaves.forEach(({ index, leafHash }, i) =>
      this.selfChecked(`inclusion proof of entry ${index} in the checkpoint of size ${size}`, () =>
        verifyInclusion(leafHash, index, size, proofs[i]!, checkpoint.rootHash, hashChildrenNode),
      ),
    );
    return proofs;
  }

  /**
   * `rehash`, with the ephemeral node of each fork hashed once per tree size: the proofs of a
   * checkpoint all fold their right-border runs into the same few ephemeral nodes.
   */
  private rehashIn(size: number, nodes: ProofNodes, hashes: Uint8Array[]): Uint8Array[] {
    if (nodes.begin === nodes.end) return rehash(nodes, hashes);
    if (this.ephemerals.size !== size) this.ephemerals = { size, hashes: new Map() };
    const key = nodeKey(nodes.ephemeral);
    let ephemeral = this.ephemerals.hashes.get(key);
    if (!ephemeral) {
      const ids = nodes.ids.slice(nodes.begin, nodes.end);
      const run = { ids, begin: 0, end: ids.length, ephemeral: nodes.ephemeral };
      ephemeral = rehash(run, hashes.slice(nodes.begin, nodes.end))[0]!;
      this.ephemerals.hashes.set(key, ephemeral);
    }
    return [...hashes.slice(0, nodes.begin), ephemeral, ...hashes.slice(nodes.end)];
  }

  /** Requires 0 < from <= to, both sizes of signed checkpoints. */
  async consistency(from: number, to?: number): Promise<ConsistencyProofResponse> {
    const checkpoint = await this.sizeOrLatest(to, 'to');
    if (from < 1 || from > checkpoint.size) {
      throw new BadProofRequestError(
        'from',
        `from must be between 1 and ${checkpoint.size}, got ${from}`,
      );
    }
    const older = await this.checkpointAt(from, 'from');
    const proof = await consistencyProofAsync(from, checkpoint.size, (ids) => this.nodes(ids));
    this.selfChecked(`consistency proof from size ${from} to ${checkpoint.size}`, () =>
      verifyConsistency(
        from,
        checkpoint.size,
        proof,
        older.rootHash,
        checkpoint.rootHash,
        hashChildrenNode,
      ),
    );
    return {
      from,
      to: checkpoint.size,
      consistencyProof: proof.map(toBase64),
      checkpoint: checkpoint.note,
    };
  }

  /** The entry bytes at `index` (the RFC 9162 leaf). */
  async entry(index: number): Promise<Uint8Array> {
    const { rows } = await this.pool.query<{ entry: Buffer }>(
      'SELECT entry FROM ledger_entries WHERE idx = $1',
      [index],
    );
    if (!rows[0]) throw new NotInLogError(`no entry at index ${index}`, 'index');
    return new Uint8Array(rows[0].entry);
  }

  /** A hash tile (tlog-tiles): level 8·L hashes N·256 .. N·256+W-1, within the newest checkpoint. */
  async tile(level: number, index: number, width: number): Promise<Uint8Array> {
    await this.requireCovered(
      index * TILE_WIDTH + width,
      TILE_WIDTH ** level,
      `tile/${level}/${index} of width ${width}`,
    );
    return encodeTile(await fetchLevel(this.pool, level * TILE_HEIGHT, index * TILE_WIDTH, width));
  }

  /** An entry bundle (tlog-tiles): entries N·256 .. N·256+W-1, each with a 2-byte length. */
  async entryBundle(index: number, width: number): Promise<Uint8Array> {
    await this.requireCovered(
      index * TILE_WIDTH + width,
      1,
      `entry bundle ${index} of width ${width}`,
    );
    // Built by PostgreSQL in one value: each entry after its length as a big-endian uint16
    // (C2SP tlog-tiles), the two low bytes of int4send. An audit reads the whole log this way,
    // so one row a bundle instead of 256 is about half its read cost. The sequencer never
    // writes an entry of 65,536 bytes or more; that limit is checked again here. Whatever rows
    // the table holds are served, as they are: a verifier reports a bundle short of entries.
    const { rows } = await this.pool.query<{ bundle: Buffer | null; longest: number | null }>({
      name: 'entry-bundle',
      text: `SELECT string_agg(substring(int4send(length(entry)) FROM 3) || entry, ''::bytea ORDER BY idx) AS bundle,
                    max(length(entry)) AS longest
               FROM ledger_entries WHERE idx >= $1 AND idx < $2`,
      values: [index * TILE_WIDTH, index * TILE_WIDTH + width],
    });
    const { bundle, longest } = rows[0]!;
    // No rows at all: an empty body (the encoder takes 1..256 entries), a bundle of none.
    if (!bundle) return new Uint8Array(0);
    if (longest! > MAX_BUNDLE_ENTRY_SIZE)
      throw new RangeError(
        `an entry of bundle ${index} is ${longest} bytes, at most ${MAX_BUNDLE_ENTRY_SIZE} fit`,
      );
    return new Uint8Array(bundle.buffer, bundle.byteOffset, bundle.byteLength);
  }

  /** Whether a signed checkpoint covers the first `size` leaves: a tile is served only then. */
  signedCovers(size: number): Promise<boolean> {
    return this.covers('checkpoints', size);
  }

  /**
   * Whether a published checkpoint, which witnesses cosigned, covers the first `size` leaves.
   * Only then may what they hold be cached for good: a log restored from a backup may lose
   * entries it signed but no witness saw, and serve others in their place, which no witness
   * objects to; once witnessed, the entries can change only with a witness's alarm.
   */
  publishedCovers(size: number): Promise<boolean> {
    return this.covers('published_checkpoints', size);
  }

  /**
   * Checkpoints only grow, so the largest size read is kept and the store is asked again only
   * for a size beyond it, or once it is older than `COVERS_FRESH_MS`: a restore from a backup
   * shrinks the log under a running reader, which then learns it within that time, as long as
   * a partial tile is cached.
   */
  private async covers(table: keyof LogReader['largest'], size: number): Promise<boolean> {
    const known = this.largest[table];
    if (size > known.size || performance.now() - known.readAt > COVERS_FRESH_MS) {
      const { rows } = await this.pool.query<{ size: string | null }>({
        name: `largest-size-of-${table}`,
        text: `SELECT max(size) AS size FROM ${table}`,
      });
      this.largest[table] = { size: Number(rows[0]?.size ?? 0), readAt: performance.now() };
    }
    return size <= this.largest[table].size;
  }

  /** A tile is served only once a signed checkpoint covers all of it. */
  private async requireCovered(endNode: number, span: number, what: string): Promise<void> {
    if (!(await this.signedCovers(endNode * span)))
      throw new NotInLogError(`${what} is beyond the log's newest checkpoint`, 'path');
  }

  /**
   * Stored nodes are hashes of complete subtrees (RFC 9162 §2.1.1): once written they never
   * change, so each one read is kept (up to `NODE_CACHE_SIZE`, least recently used dropped first) and a
   * proof asks PostgreSQL only for the nodes no earlier proof needed.
   */
  private async nodes(ids: readonly NodeId[]): Promise<Uint8Array[]> {
    const hashes = ids.map((id) => this.nodeCache.get(nodeKey(id)));
    const missing = ids.filter((_, i) => hashes[i] === undefined);
    const fetched = await fetchNodes(this.pool, missing);
    let next = 0;
    for (const [i, id] of ids.entries()) {
      if (hashes[i] !== undefined) continue;
      hashes[i] = fetched[next++]!;
      this.nodeCache.set(nodeKey(id), hashes[i]);
    }
    return hashes as Uint8Array[];
  }
}

/**
 * A node's level and index as one number, a cheaper map key than a string. Requires a level
 * below 64 and an index below 2^47, so the key is an exact integer (a log of 2^47 entries is
 * far beyond this store). @throws RangeError otherwise.
 */
function nodeKey(id: NodeId): number {
  if (id.index >= 2 ** 47 || id.level >= 64)
    throw new RangeError(`tree node level ${id.level} index ${id.index} is beyond this store`);
  return id.index * 64 + id.level;
}

/** About 6 MB of node hashes: every node the proofs of a busy log's recent entries need. */
const NODE_CACHE_SIZE = 50_000;
