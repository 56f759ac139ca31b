// C2SP tlog-tiles (c2sp.org/tlog-tiles): the tree served as static tiles of height 8.
//
//   tile/<L>/<N>[.p/<W>]        hashes: tile N of level L; W (1..255) only for partial tiles
//   tile/entries/<N>[.p/<W>]    entry bundles: the leaves under level-0 tile N
//
// <N> is written in 3-digit groups, all but the last prefixed with 'x': 1234067 is
// x001/x234/067. A level-L tile holds the Merkle tree nodes at level 8·L, so storage that
// keeps perfect-subtree nodes (proof.ts `NodeId`) can serve any tile.
//
// Difference from Go's golang.org/x/mod/sumdb/tlog (the sum.golang.org format): its paths
// carry the tile height, `tile/<H>/<L>/<N>[.p/<W>]`, and its leaf data tiles are
// `tile/<H>/data/<N>`. The <N> and .p/<W> encodings are the same. We serve the C2SP form
// (ARCHITECTURE.md §3, Serving); `goTilePath` exists only to cross-check against Go.
import { concatBytes } from './bytes.ts';
import { rootFromLeafHashes, type NodeId } from './proof.ts';
import { HASH_SIZE } from './rfc9162.ts';

/** Tile height: each tile spans 8 tree levels (tlog-tiles §Merkle Tree). */
export const TILE_HEIGHT = 8;
/** Hashes (or entries) in a full tile. */
export const TILE_WIDTH = 2 ** TILE_HEIGHT;
/** Levels 0..63 (tlog-tiles: "between 0 and 63"). */
export const MAX_TILE_LEVEL = 63;
/** Largest entry an entry bundle can hold (big-endian uint16 length prefix). */
export const MAX_BUNDLE_ENTRY_SIZE = 0xffff;

/** A tile: level L (hash tiles) and index N, with `width` hashes (256 when full). */
export interface Tile {
  readonly level: number;
  readonly index: number;
  readonly width: number;
}

export type ParsedTilePath =
  | {
      readonly kind: 'hashes';
      readonly level: number;
      readonly index: number;
      readonly width: number;
    }
  | { readonly kind: 'entries'; readonly index: number; readonly width: number };

/**
 * How many leaves of the log a tile's contents depend on: its last hash (or entry) stands for
 * leaves up to this size (C2SP tlog-tiles: a level-L hash covers 256^L leaves).
 */
export function leavesUnder(tile: ParsedTilePath): number {
  const span = tile.kind === 'entries' ? 1 : TILE_WIDTH ** tile.level;
  return (tile.index * TILE_WIDTH + tile.width) * span;
}

export class MalformedTilePathError extends Error {
  override name = 'MalformedTilePathError';
}

/** A tile or entry bundle whose bytes do not match its declared shape. */
export class MalformedTileError extends Error {
  override name = 'MalformedTileError';
}

function assertIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0)
    throw new RangeError(`tile index must be a non-negative safe integer, got ${index}`);
}

function assertWidth(width: number): void {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH)
    throw new RangeError(`tile width must be 1..${TILE_WIDTH}, got ${width}`);
}

function assertLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL)
    throw new RangeError(`tile level must be 0..${MAX_TILE_LEVEL}, got ${level}`);
}

/** `<N>` as zero-padded 3-digit groups, 'x' before all but the last. Requires a safe integer >= 0. */
export function encodeTileIndex(index: number): string {
  assertIndex(index);
  let n = index;
  let out = String(n % 1000).padStart(3, '0');
  while (n >= 1000) {
    n = Math.floor(n / 1000);
    out = `x${String(n % 1000).padStart(3, '0')}/${out}`;
  }
  return out;
}

function widthSuffix(width: number): string {
  assertWidth(width);
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

/**
 * The path of hash tile `index` at `level`, relative to the log prefix.
 * Requires 0 <= level <= 63, index >= 0, 1 <= width <= 256.
 * @example tilePath(0, 1234067) // 'tile/0/x001/x234/067'
 */
export function tilePath(level: number, index: number, width: number = TILE_WIDTH): string {
  assertLevel(level);
  return `tile/${level}/${encodeTileIndex(index)}${widthSuffix(width)}`;
}

/**
 * The path of entry bundle `index`, relative to the log prefix. Requires index >= 0 and
 * 1 <= width <= 256. @example entriesTilePath(3, 17) // 'tile/entries/003.p/17'
 */
export function entriesTilePath(index: number, width: number = TILE_WIDTH): string {
  return `tile/entries/${encodeTileIndex(index)}${widthSuffix(width)}`;
}

/** Go sumdb/tlog's `Tile.Path` for height 8 (`tile/8/<L>/<N>`), for cross-checks only. Requires a valid tile. */
export function goTilePath(tile: Tile): string {
  return tilePath(tile.level, tile.index, tile.width).replace(/^tile\//, `tile/${TILE_HEIGHT}/`);
}

const decimal = /^(?:0|[1-9][0-9]*)$/;

/**
 * Parses a tile or entry-bundle path (relative to the log prefix, starting with `tile/`).
 * Strict: only the exact form `tilePath`/`entriesTilePath` would produce is accepted
 * (like Go's ParseTilePath, which re-formats and compares). @throws MalformedTilePathError.
 */
export function parseTilePath(path: string): ParsedTilePath {
  const fail = (why: string): never => {
    throw new MalformedTilePathError(`malformed tile path ${JSON.stringify(path)}: ${why}`);
  };
  const parts = path.split('/');
  if (parts.length < 3 || parts[0] !== 'tile')
    fail('expected tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]');
  const kindPart = parts[1]!;
  let rest = parts.slice(2);
  let width = TILE_WIDTH;
  const beforeLast = rest[rest.length - 2];
  if (beforeLast !== undefined && beforeLast.endsWith('.p')) {
    const w = rest[rest.length - 1]!;
    if (!decimal.test(w) || Number(w) < 1 || Number(w) >= TILE_WIDTH)
      fail(`partial width must be 1..${TILE_WIDTH - 1}`);
    width = Number(w);
    rest = [...rest.slice(0, -2), beforeLast.slice(0, -2)];
  }
  let index = 0;
  rest.forEach((group, i) => {
    const digits =
      i < rest.length - 1
        ? group.startsWith('x')
          ? group.slice(1)
          : fail('all but the last index group start with x')
        : group;
    if (!/^[0-9]{3}$/.test(digits)) fail('index groups are 3 digits');
    index = index * 1000 + Number(digits);
  });
  if (!Number.isSafeInteger(index)) fail('index exceeds 2^53 - 1');
  if (kindPart === 'entries') {
    const parsed = { kind: 'entries', index, width } as const;
    if (entriesTilePath(index, width) !== path) fail('not in canonical form');
    return parsed;
  }
  if (!decimal.test(kindPart) || Number(kindPart) > MAX_TILE_LEVEL)
    fail(`level must be 0..${MAX_TILE_LEVEL} without leading zeros`);
  const level = Number(kindPart);
  if (tilePath(level, index, width) !== path) fail('not in canonical form');
  return { kind: 'hashes', level, index, width };
}

/**
 * Every hash tile of a tree of `size` (full and partial), level by level: the tiles a log
 * must be able to serve for a checkpoint of that size (tlog-tiles §Partial Tiles).
 * Requires size >= 0.
 */
export function tilesForSize(size: number): Tile[] {
  return newTiles(0, size);
}

/**
 * The hash tiles that appear or change when the tree grows from `oldSize` to `newSize`
 * (Go's tlog.NewTiles at height 8). Requires 0 <= oldSize <= newSize.
 */
export function newTiles(oldSize: number, newSize: number): Tile[] {
  assertIndex(oldSize);
  assertIndex(newSize);
  if (oldSize > newSize)
    throw new RangeError(`newTiles needs oldSize <= newSize, got ${oldSize} > ${newSize}`);
  const out: Tile[] = [];
  for (let level = 0; Math.floor(newSize / TILE_WIDTH ** level) > 0; level++) {
    const oldCount = Math.floor(oldSize / TILE_WIDTH ** level);
    const newCount = Math.floor(newSize / TILE_WIDTH ** level);
    if (oldCount === newCount) continue;
    const lastFull = Math.floor(newCount / TILE_WIDTH);
    for (let n = Math.floor(oldCount / TILE_WIDTH); n < lastFull; n++)
      out.push({ level, index: n, width: TILE_WIDTH });
    const width = newCount % TILE_WIDTH;
    if (width > 0) out.push({ level, index: lastFull, width });
  }
  return out;
}

/** The entry bundles of a tree of `size`: the level-0 tiles, full then partial. Requires size >= 0. */
export function entryBundlesForSize(size: number): { index: number; width: number }[] {
  return tilesForSize(size)
    .filter((t) => t.level === 0)
    .map(({ index, width }) => ({ index, width }));
}

/** The tree nodes a tile holds: level 8·L, indices N·256 .. N·256 + W - 1. Requires a valid tile. */
export function tileNodeIds(tile: Tile): NodeId[] {
  assertLevel(tile.level);
  assertIndex(tile.index);
  assertWidth(tile.width);
  const level = tile.level * TILE_HEIGHT;
  const first = tile.index * TILE_WIDTH;
  return Array.from({ length: tile.width }, (_, i) => ({ level, index: first + i }));
}

/**
 * The hashes of `tile` computed from level-0 (leaf) hashes: hash i is
 * MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L]) (tlog-tiles §Merkle Tree).
 * Requires leafHashes to cover the tile (at least (N·256 + W)·256^L of them).
 */
export function tileHashesFromLeafHashes(
  tile: Tile,
  leafHashes: readonly Uint8Array[],
): Uint8Array[] {
  const span = TILE_WIDTH ** tile.level;
  return tileNodeIds(tile).map(({ index }) => {
    const begin = index * span;
    const end = begin + span;
    if (end > leafHashes.length)
      throw new RangeError(`tile needs leaf hashes up to ${end}, got ${leafHashes.length}`);
    return rootFromLeafHashes(leafHashes.slice(begin, end));
  });
}

/** Concatenates a tile's hashes into its served bytes. Requires 1..256 hashes of 32 bytes. */
export function encodeTile(hashes: readonly Uint8Array[]): Uint8Array {
  assertWidth(hashes.length);
  hashes.forEach((h, i) => {
    if (h.length !== HASH_SIZE)
      throw new RangeError(`tile hash ${i} must be ${HASH_SIZE} bytes, got ${h.length}`);
  });
  return concatBytes(...hashes);
}

/** Splits served tile bytes into hashes. Requires exactly `width` 32-byte hashes. @throws MalformedTileError. */
export function decodeTile(bytes: Uint8Array, width: number = TILE_WIDTH): Uint8Array[] {
  assertWidth(width);
  if (bytes.length !== width * HASH_SIZE)
    throw new MalformedTileError(
      `tile of width ${width} must be ${width * HASH_SIZE} bytes, got ${bytes.length}`,
    );
  return Array.from({ length: width }, (_, i) => bytes.slice(i * HASH_SIZE, (i + 1) * HASH_SIZE));
}

/**
 * Encodes entries as a bundle: each a big-endian uint16 length then its bytes
 * (tlog-tiles §Log entries). Requires 1..256 entries of at most 65535 bytes.
 */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  assertWidth(entries.length);
  const parts: Uint8Array[] = [];
  entries.forEach((entry, i) => {
    if (entry.length > MAX_BUNDLE_ENTRY_SIZE)
      throw new RangeError(
        `bundle entry ${i} is ${entry.length} bytes, at most ${MAX_BUNDLE_ENTRY_SIZE} fit`,
      );
    parts.push(new Uint8Array([entry.length >> 8, entry.length & 0xff]), entry);
  });
  return concatBytes(...parts);
}

/**
 * Decodes an entry bundle. Strict: no truncated entry, no trailing bytes, and exactly
 * `width` entries when given. @throws MalformedTileError.
 */
export function decodeEntryBundle(bytes: Uint8Array, width?: number): Uint8Array[] {
  if (width !== undefined) assertWidth(width);
  const out: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 2 > bytes.length)
      throw new MalformedTileError(`entry bundle ends inside a length prefix at byte ${offset}`);
    const length = (bytes[offset]! << 8) | bytes[offset + 1]!;
    offset += 2;
    if (offset + length > bytes.length) {
      throw new MalformedTileError(
        `entry ${out.length} claims ${length} bytes, only ${bytes.length - offset} remain`,
      );
    }
    // A view, not a copy: a copy's own backing store cost more than reading the entry.
    out.push(bytes.subarray(offset, offset + length));
    offset += length;
    if (out.length > TILE_WIDTH)
      throw new MalformedTileError(`entry bundle holds more than ${TILE_WIDTH} entries`);
  }
  if (width !== undefined && out.length !== width)
    throw new MalformedTileError(`entry bundle must hold ${width} entries, found ${out.length}`);
  return out;
}
