// Every tlog-tiles level of a tree computed from its leaf hashes, with the `hashChildren` the
// caller supplies (the audit passes Node's native SHA-256): what the full audit compares the
// served hash tiles with, and the tree's root. Level L holds the roots of the consecutive
// complete subtrees of 256^L leaves (C2SP tlog-tiles, "Merkle Tree"): a tree of n leaves has
// floor(n / 256^L) of them, so the last tile of a level may be partial.
import { bytesEqual, toBase64 } from './bytes.ts';
import { emptyRoot } from './rfc9162.ts';
import { decodeTile, tilePath, TILE_WIDTH } from './tiles.ts';
import type { FetchPath, TileMismatch } from './tlogClient.ts';

/** SHA-256(0x01 || left || right) (RFC 9162 §2.1.1), e.g. `hashChildren` of ledger/rfc9162.ts. */
export type HashChildren = (left: Uint8Array, right: Uint8Array) => Uint8Array;

/**
 * The hashes of each tile level, level 0 being `leafHashes` itself, up to the first level
 * with fewer than 256 hashes. Requires 32-byte leaf hashes.
 */
export function tileLevels(
  leafHashes: readonly Uint8Array[],
  hashChildren: HashChildren,
): (readonly Uint8Array[])[] {
  const levels: (readonly Uint8Array[])[] = [leafHashes];
  let hashes = leafHashes;
  while (hashes.length >= TILE_WIDTH) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + TILE_WIDTH <= hashes.length; i += TILE_WIDTH)
      next.push(perfectRoot(hashes, i, TILE_WIDTH, hashChildren));
    levels.push(next);
    hashes = next;
  }
  return levels;
}

/**
 * MTH(D[size]) (RFC 9162 §2.1.1) from `tileLevels` of those `size` leaves: the roots of the
 * perfect subtrees that `size`'s binary digits split the leaves into, left to right (each
 * read from the highest tile level it spans), folded from the right.
 */
export function rootFromTileLevels(
  levels: readonly (readonly Uint8Array[])[],
  size: number,
  hashChildren: HashChildren,
): Uint8Array {
  if (size === 0) return emptyRoot();
  return foldFromRight(perfectSubtreeRoots(levels, size, hashChildren), hashChildren);
}

/** The roots of the perfect subtrees `size`'s binary digits split `levels`' leaves into. */
function perfectSubtreeRoots(
  levels: readonly (readonly Uint8Array[])[],
  size: number,
  hashChildren: HashChildren,
): Uint8Array[] {
  const roots: Uint8Array[] = [];
  let start = 0;
  for (let k = Math.floor(Math.log2(size)); k >= 0; k--) {
    const span = 2 ** k;
    if (size - start < span) continue;
    const level = Math.min(Math.floor(k / 8), levels.length - 1);
    const unit = TILE_WIDTH ** level;
    roots.push(perfectRoot(levels[level]!, start / unit, span / unit, hashChildren));
    start += span;
  }
  return roots;
}

function foldFromRight(roots: Uint8Array[], hashChildren: HashChildren): Uint8Array {
  let root = roots.pop()!;
  while (roots.length > 0) root = hashChildren(roots.pop()!, root);
  return root;
}

/**
 * The tile levels of a tree built leaf by leaf, keeping of level 0 only the tile being
 * filled: the full audit of a large log hands each full tile of leaf hashes on to be checked
 * and keeps its root (a level-1 hash) instead of the 256 hashes. A million leaf hashes kept to
 * the end were a million small objects the collector traced on every major collection.
 */
export class TileTree {
  private tail: Uint8Array[] = [];
  /** The roots of level 0's full tiles: level 1. */
  private readonly level1: Uint8Array[] = [];

  constructor(private readonly hashChildren: HashChildren) {}

  /** Leaves added so far. */
  get size(): number {
    return this.level1.length * TILE_WIDTH + this.tail.length;
  }

  /** Adds the next leaf hash; returns the level-0 tile it completes, when it completes one. */
  push(leafHash: Uint8Array): TileHashes | undefined {
    this.tail.push(leafHash);
    if (this.tail.length < TILE_WIDTH) return undefined;
    const tile = { level: 0, index: this.level1.length, hashes: this.tail };
    this.level1.push(perfectRoot(this.tail, 0, TILE_WIDTH, this.hashChildren));
    this.tail = [];
    return tile;
  }

  /**
   * The tree's root (MTH of its leaves, as `rootFromTileLevels`) and every tile `push` did not
   * return: the last, partial tile of level 0 and every tile of the levels above it, as
   * `tilesOf(tileLevels(...))` gives them.
   */
  finish(): { root: Uint8Array; tiles: TileHashes[] } {
    const upper = tileLevels(this.level1, this.hashChildren);
    const tiles: TileHashes[] = [];
    if (this.tail.length > 0)
      tiles.push({ level: 0, index: this.level1.length, hashes: this.tail });
    for (const tile of tilesOf(upper)) tiles.push({ ...tile, level: tile.level + 1 });
    if (this.size === 0) return { root: emptyRoot(), tiles };
    // The digits of size of 256 and above are level 1's; those below, the tail's.
    const roots = [
      ...perfectSubtreeRoots(upper, this.level1.length, this.hashChildren),
      ...perfectSubtreeRoots([this.tail], this.tail.length, this.hashChildren),
    ];
    return { root: foldFromRight(roots, this.hashChildren), tiles };
  }
}

/** One tile of `levels`: its level, index and the hashes it must hold (its width). */
export interface TileHashes {
  level: number;
  index: number;
  hashes: readonly Uint8Array[];
}

/** Every tile of `levels` (as `tileLevels` gives them), level by level, tile by tile. */
export function* tilesOf(levels: readonly (readonly Uint8Array[])[]): Generator<TileHashes> {
  for (const [level, hashes] of levels.entries())
    for (let first = 0; first < hashes.length; first += TILE_WIDTH)
      yield { level, index: first / TILE_WIDTH, hashes: hashes.slice(first, first + TILE_WIDTH) };
}

/**
 * Fetches the served hash tile (`tile/<L>/<N>`, tlog-tiles) and compares it with the hashes
 * it must hold: the first that differs (a tampered stored node), or undefined.
 * @throws whatever `fetchPath` or `decodeTile` throws when the tile cannot be read.
 */
export async function checkTile(
  fetchPath: FetchPath,
  { level, index, hashes }: TileHashes,
): Promise<TileMismatch | undefined> {
  const width = hashes.length;
  const served = decodeTile(await fetchPath(tilePath(level, index, width)), width);
  for (let i = 0; i < width; i++) {
    if (!bytesEqual(served[i]!, hashes[i]!))
      return {
        level,
        index,
        position: i,
        expected: toBase64(hashes[i]!),
        found: toBase64(served[i]!),
      };
  }
  return undefined;
}

/**
 * The outcome of checks already running (so their round trips overlap), taken in the order
 * given: the first mismatch is returned and the first tile that could not be read throws,
 * whichever comes first; later outcomes are never looked at.
 */
export async function firstTileMismatch(
  checks: readonly Promise<TileMismatch | undefined>[],
): Promise<TileMismatch | undefined> {
  // A failure after the first mismatch is never awaited: it must not count as unhandled.
  for (const check of checks) check.catch(() => undefined);
  for (const check of checks) {
    const mismatch = await check;
    if (mismatch) return mismatch;
  }
  return undefined;
}

/** MTH of the perfect subtree over hashes[from, from + count); requires count a power of two. */
function perfectRoot(
  hashes: readonly Uint8Array[],
  from: number,
  count: number,
  hashChildren: HashChildren,
): Uint8Array {
  let level = hashes.slice(from, from + count);
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(hashChildren(level[i]!, level[i + 1]!));
    level = next;
  }
  return level[0]!;
}
