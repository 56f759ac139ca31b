import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { utf8 } from './bytes.ts';
import { CompactRange, type NodeId } from './proof.ts';
import { hashLeaf } from './rfc9162.ts';
import {
  leavesUnder,
  decodeEntryBundle,
  decodeTile,
  encodeEntryBundle,
  encodeTile,
  encodeTileIndex,
  entriesTilePath,
  entryBundlesForSize,
  goTilePath,
  MalformedTileError,
  MalformedTilePathError,
  newTiles,
  parseTilePath,
  tileHashesFromLeafHashes,
  tileNodeIds,
  tilePath,
  tilesForSize,
} from './tiles.ts';

// Known answers from Go's golang.org/x/mod v0.43.0 sumdb/tlog, produced by a throwaway program
// outside the repo: Tile{H: 8, L, N, W}.Path() and NewTiles(8, 0, 70000). Recompute by rerunning it.
const GO_TILE_PATHS: [level: number, index: number, width: number, path: string][] = [
  [0, 0, 256, 'tile/8/0/000'],
  [0, 1234067, 256, 'tile/8/0/x001/x234/067'],
  [1, 999, 1, 'tile/8/1/999.p/1'],
  [2, 1000, 17, 'tile/8/2/x001/000.p/17'],
];
const GO_NEW_TILES_70000_TAIL = [
  'tile/8/0/272',
  'tile/8/0/273.p/112',
  'tile/8/1/000',
  'tile/8/1/001.p/17',
  'tile/8/2/000.p/1',
];

describe('tile paths', () => {
  test('the tile index is written in 3-digit groups, x before all but the last', () => {
    expect(encodeTileIndex(1234067)).toBe('x001/x234/067');
    expect(encodeTileIndex(67)).toBe('067');
    expect(encodeTileIndex(1000)).toBe('x001/000');
  });

  test('a full hash tile has no width suffix', () => {
    expect(tilePath(0, 1234067)).toBe('tile/0/x001/x234/067');
  });

  test('a partial hash tile ends in .p/<width>', () => {
    expect(tilePath(1, 3, 17)).toBe('tile/1/003.p/17');
  });

  test('entry bundles live under tile/entries', () => {
    expect(entriesTilePath(3)).toBe('tile/entries/003');
    expect(entriesTilePath(3, 17)).toBe('tile/entries/003.p/17');
  });

  test.each(GO_TILE_PATHS)(
    'level %i index %i width %i matches Go sumdb/tlog apart from the height element',
    (level, index, width, path) => {
      expect(goTilePath({ level, index, width })).toBe(path);
      expect(tilePath(level, index, width)).toBe(path.replace('tile/8/', 'tile/'));
    },
  );

  test('parseTilePath reads back every path tilePath writes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 63 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: 256 }),
        (level, index, width) => {
          expect(parseTilePath(tilePath(level, index, width))).toEqual({
            kind: 'hashes',
            level,
            index,
            width,
          });
          expect(parseTilePath(entriesTilePath(index, width))).toEqual({
            kind: 'entries',
            index,
            width,
          });
        },
      ),
    );
  });

  test.each([
    ['a level with a leading zero', 'tile/01/000'],
    ['a level above 63', 'tile/64/000'],
    ['an index group of 2 digits', 'tile/0/00'],
    ['a last group with an x', 'tile/0/x000'],
    ['a leading x000 group', 'tile/0/x000/001'],
    ['an inner group without x', 'tile/0/001/000'],
    ['width 256 written out', 'tile/0/000.p/256'],
    ['width 0', 'tile/0/000.p/0'],
    ['a width with a leading zero', 'tile/0/000.p/017'],
    ['the Go height element', 'tile/8/0/000'],
    ['the Go data tiles', 'tile/8/data/000'],
    ['no tile prefix', '0/000'],
    ['a trailing slash', 'tile/0/000/'],
  ])('a path with %s is refused', (_what, path) => {
    expect(() => parseTilePath(path)).toThrow(MalformedTilePathError);
  });
});

describe('which tiles a tree has', () => {
  test('a tree of 70000 has the tiles of the tlog-tiles example, as Go NewTiles lists them', () => {
    const tiles = tilesForSize(70000);
    expect(tiles).toHaveLength(273 + 1 + 1 + 1 + 1);
    expect(tiles.slice(-5).map(goTilePath)).toEqual(GO_NEW_TILES_70000_TAIL);
  });

  test('a tree of 256 has a full level-0 tile and a level-1 tile of width 1', () => {
    expect(tilesForSize(256)).toEqual([
      { level: 0, index: 0, width: 256 },
      { level: 1, index: 0, width: 1 },
    ]);
  });

  test('the empty tree has no tiles', () => {
    expect(tilesForSize(0)).toEqual([]);
  });

  test('newTiles lists only the tiles that appear or change', () => {
    expect(newTiles(300, 520)).toEqual([
      { level: 0, index: 1, width: 256 },
      { level: 0, index: 2, width: 8 },
      { level: 1, index: 0, width: 2 },
    ]);
  });

  test('entry bundles follow the level-0 tiles', () => {
    expect(entryBundlesForSize(600)).toEqual([
      { index: 0, width: 256 },
      { index: 1, width: 256 },
      { index: 2, width: 88 },
    ]);
  });
});

describe('tile contents', () => {
  const leafHashes = Array.from({ length: 256 * 3 + 5 }, (_, i) => hashLeaf(utf8(`leaf-${i}`)));
  const nodes = new Map<string, Uint8Array>();
  const range = new CompactRange();
  for (const h of leafHashes)
    for (const { id, hash } of range.appendLeaf(h)) nodes.set(`${id.level}/${id.index}`, hash);
  const stored = (id: NodeId): Uint8Array => nodes.get(`${id.level}/${id.index}`)!;

  test('a level-0 tile holds the leaf hashes', () => {
    expect(tileHashesFromLeafHashes({ level: 0, index: 1, width: 256 }, leafHashes)).toEqual(
      leafHashes.slice(256, 512),
    );
  });

  test('a level-1 tile holds the roots of full level-0 tiles, which storage has as level-8 nodes', () => {
    const tile = { level: 1, index: 0, width: 3 };
    expect(tileHashesFromLeafHashes(tile, leafHashes)).toEqual(tileNodeIds(tile).map(stored));
  });

  test('tile bytes are the hashes concatenated, and decode back', () => {
    const hashes = leafHashes.slice(0, 5);
    const bytes = encodeTile(hashes);
    expect(bytes).toHaveLength(5 * 32);
    expect(decodeTile(bytes, 5)).toEqual(hashes);
  });

  test('tile bytes of the wrong length are refused', () => {
    expect(() => decodeTile(new Uint8Array(33), 1)).toThrow(MalformedTileError);
  });
});

describe('entry bundles', () => {
  test('each entry is a big-endian uint16 length and its bytes', () => {
    expect(
      encodeEntryBundle([utf8('ab'), new Uint8Array(0), new Uint8Array(258)]).slice(0, 8),
    ).toEqual(new Uint8Array([0, 2, 0x61, 0x62, 0, 0, 1, 2]));
  });

  test('a bundle decodes back to its entries', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 256 }),
        (entries) => {
          expect(decodeEntryBundle(encodeEntryBundle(entries), entries.length)).toEqual(entries);
        },
      ),
    );
  });

  test('an entry over 65535 bytes cannot be bundled', () => {
    expect(() => encodeEntryBundle([new Uint8Array(65536)])).toThrow(RangeError);
  });

  test('a truncated bundle is refused', () => {
    expect(() => decodeEntryBundle(new Uint8Array([0, 3, 1, 2]))).toThrow(MalformedTileError);
  });

  test('a bundle ending inside a length prefix is refused', () => {
    expect(() => decodeEntryBundle(new Uint8Array([0, 1, 9, 0]))).toThrow(MalformedTileError);
  });

  test('a bundle with another number of entries than expected is refused', () => {
    expect(() => decodeEntryBundle(encodeEntryBundle([utf8('a')]), 2)).toThrow(MalformedTileError);
  });
});

describe('the leaves a tile stands for', () => {
  test.each([
    ['tile/entries/000', 256],
    ['tile/entries/001.p/5', 261],
    ['tile/0/x001/234', 1_234 * 256 + 256],
    ['tile/1/000.p/3', 3 * 256],
    ['tile/1/002', 3 * 256 * 256],
    ['tile/2/000.p/1', 256 * 256],
  ])('%s depends on the first %i leaves', (path, leaves) => {
    expect(leavesUnder(parseTilePath(path))).toBe(leaves);
  });
});
