// Reading a OneWindow log as any outside verifier would: only through its C2SP tlog-tiles
// paths (`checkpoint`, `tile/<L>/<N>`, `tile/entries/<N>`), fetched through a port, so the
// same code reads a live address or an exported folder. Nothing here trusts a served hash
// it could recompute; proofs are built from hash tiles and checked against a checkpoint
// whose signatures were verified first.
import {
  consistencyProofAsync,
  inclusionProofAsync,
  rootFromLeafHashes,
  type NodeId,
} from './proof.ts';
import {
  decodeEntryBundle,
  decodeTile,
  entriesTilePath,
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
