// Reading a OneWindow log as any outside verifier would: only through its C2SP tlog-tiles
// paths (`checkpoint`, `tile/<L>/<N>`, `tile/entries/<N>`), fetched through a port, so the
// same code reads a live address or an exported folder. Nothing here trusts a served hash
// it could recompute; proofs are built from hash tiles and checked against a checkpoint
// whose signatures were verified first.
import { bytesEqual } from './bytes.ts';
import {
  consistencyProofAsync,
  inclusionProofAsync,
  ProofError,
  rootFromLeafHashes,
  verifyConsistency,
  type NodeId,
} from './proof.ts';
import { emptyRoot } from './rfc9162.ts';
import {
  decodeEntryBundle,
  decodeTile,
  entriesTilePath,
  MalformedTileError,
  tilePath,
  TILE_HEIGHT,
  TILE_WIDTH,
} from './tiles.ts';

/** Fetches a path relative to the log's prefix (e.g. `tile/0/000`); rejects when it is missing. */
export type FetchPath = (path: string) => Promise<Uint8Array>;

/** The width of tile `index` at tile level `level` in a tree of `size` leaves. */
export function tileWidth(level: number, index: number, size: number): number {
  const count = Math.floor(size / TILE_WIDTH ** level);
  return Math.min(TILE_WIDTH, count - index * TILE_WIDTH);
}

/**
 * A node source for proofs over a tree of `size` leaves, reading hash tiles: a node at tree
 * level l lies in the tile at level floor(l/8), as the root of 2^(l mod 8) of its hashes.
 * Requires nodes that are perfect subtrees of the tree of `size` leaves.
 */
export function tileNodeSource(
  fetchPath: FetchPath,
  size: number,
): (ids: readonly NodeId[]) => Promise<Uint8Array[]> {
  const tiles = new Map<string, Promise<Uint8Array[]>>();
  const tile = (level: number, index: number): Promise<Uint8Array[]> => {
    const width = tileWidth(level, index, size);
    const key = `${level}/${index}/${width}`;
    let hashes = tiles.get(key);
    if (!hashes) {
      hashes = fetchPath(tilePath(level, index, width)).then((bytes) => decodeTile(bytes, width));
      tiles.set(key, hashes);
    }
    return hashes;
  };
  return (ids) =>
    Promise.all(
      ids.map(async ({ level, index }) => {
        const tileLevel = Math.floor(level / TILE_HEIGHT);
        const span = 2 ** (level - tileLevel * TILE_HEIGHT);
        const first = index * span;
        const hashes = await tile(tileLevel, Math.floor(first / TILE_WIDTH));
        const offset = first % TILE_WIDTH;
        return span === 1
          ? hashes[offset]!
          : rootFromLeafHashes(hashes.slice(offset, offset + span));
      }),
    );
}

export function inclusionProofFromTiles(
  fetchPath: FetchPath,
  index: number,
  size: number,
): Promise<Uint8Array[]> {
  return inclusionProofAsync(index, size, tileNodeSource(fetchPath, size));
}

export function consistencyProofFromTiles(
  fetchPath: FetchPath,
  size1: number,
  size2: number,
): Promise<Uint8Array[]> {
  return consistencyProofAsync(size1, size2, tileNodeSource(fetchPath, size2));
}

/** A tree as a checkpoint states it. */
export interface TreeHead {
  readonly size: number;
  readonly rootHash: Uint8Array;
}

/**
 * How a later tree of a log relates to an earlier one: the same tree, one grown from the empty
 * tree, or one grown by a consistency proof; else why not (a log never shrinks, and has one
 * root a size), with what the proof said.
 */
export type Extension =
  | { ok: true; how: 'same' | 'fromEmpty' | 'proven' }
  | { ok: false; why: 'shrank' | 'split' | 'badEmptyRoot' | 'inconsistent'; detail?: string };

/**
 * Whether the tree `later` extends the tree `earlier` of the same log (RFC 9162 §2.1.4), the
 * proof built from the hash tiles of `later` that `fetchPath` reads. Requires trees of one
 * log (one origin).
 * @throws what `fetchPath` throws when a tile cannot be read: that proves nothing either way.
 */
export async function extensionOf(
  fetchPath: FetchPath,
  earlier: TreeHead,
  later: TreeHead,
): Promise<Extension> {
  if (later.size < earlier.size) return { ok: false, why: 'shrank' };
  if (later.size === earlier.size)
    return bytesEqual(earlier.rootHash, later.rootHash)
      ? { ok: true, how: 'same' }
      : { ok: false, why: 'split' };
  // Every tree extends the empty one, whose root is MTH({}) (§2.1.1): no proof to ask for.
  if (earlier.size === 0)
    return bytesEqual(earlier.rootHash, emptyRoot())
      ? { ok: true, how: 'fromEmpty' }
      : { ok: false, why: 'badEmptyRoot' };
  try {
    const proof = await consistencyProofFromTiles(fetchPath, earlier.size, later.size);
    verifyConsistency(earlier.size, later.size, proof, earlier.rootHash, later.rootHash);
  } catch (error) {
    // A tile that is none cannot prove it; a tile that cannot be read goes to the caller.
    if (error instanceof ProofError || error instanceof MalformedTileError)
      return { ok: false, why: 'inconsistent', detail: error.message };
    throw error;
  }
  return { ok: true, how: 'proven' };
}

/** The entry bytes at `index` in a tree of `size` leaves, from its entry bundle. */
export async function readEntry(
  fetchPath: FetchPath,
  index: number,
  size: number,
): Promise<Uint8Array> {
  const bundle = Math.floor(index / TILE_WIDTH);
  const width = tileWidth(0, bundle, size);
  const entries = decodeEntryBundle(await fetchPath(entriesTilePath(bundle, width)), width);
  return entries[index % TILE_WIDTH]!;
}

/**
 * Yields the entries [0, size) bundle by bundle, with `concurrency` bundles fetched ahead.
 * Requires size >= 0.
 */
export async function* readEntries(
  fetchPath: FetchPath,
  size: number,
  concurrency = 8,
): AsyncGenerator<{ first: number; entries: Uint8Array[] }> {
  const bundles = Math.ceil(size / TILE_WIDTH);
  const inFlight: Promise<Uint8Array[]>[] = [];
  const start = (n: number) => {
    // Decoded without a width check: a short bundle is the auditor's finding, not a crash.
    const bundle = fetchPath(entriesTilePath(n, tileWidth(0, n, size))).then((bytes) =>
      decodeEntryBundle(bytes),
    );
    // Awaited in its turn below; a failure of one fetched ahead must not count as unhandled
    // meanwhile (Node ends the process on an unhandled rejection).
    bundle.catch(() => undefined);
    inFlight.push(bundle);
  };
  let next = 0;
  for (; next < Math.min(concurrency, bundles); next++) start(next);
  for (let n = 0; n < bundles; n++) {
    const entries = await inFlight.shift()!;
    if (next < bundles) start(next++);
    yield { first: n * TILE_WIDTH, entries };
  }
}

export interface TileMismatch {
  level: number;
  index: number;
  position: number;
  expected: string;
  found: string;
}
