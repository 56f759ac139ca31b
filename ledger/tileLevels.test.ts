import { describe, expect, it } from 'vitest';
import { toBase64 } from './bytes.ts';
import { rootFromLeafHashes } from './proof.ts';
import { hashChildren } from './rfc9162.ts';
import {
  checkTile,
  firstTileMismatch,
  rootFromTileLevels,
  tileLevels,
  tilesOf,
  TileTree,
  type TileHashes,
} from './tileLevels.ts';
import type { FetchPath } from './tlogClient.ts';
import { encodeTile, tileHashesFromLeafHashes, tilesForSize, tilePath } from './tiles.ts';

/** Distinct 32-byte stand-ins for leaf hashes: the tree hashes them like any others. */
const leaves = (n: number) =>
  Array.from({ length: n }, (_, i) => {
    const hash = new Uint8Array(32);
    new DataView(hash.buffer).setUint32(0, i + 1);
    return hash;
  });

/** Every tile of the tree as the log serves it, computed the reference way (tiles.ts). */
function servedTiles(leafHashes: Uint8Array[]): Map<string, Uint8Array> {
  const served = new Map<string, Uint8Array>();
  for (const tile of tilesForSize(leafHashes.length))
    served.set(
      tilePath(tile.level, tile.index, tile.width),
      encodeTile(tileHashesFromLeafHashes(tile, leafHashes)),
    );
  return served;
}

/** Every tile checked at once, judged in order, as the audit does. */
const checkTileLevels = (fetchPath: FetchPath, levels: (readonly Uint8Array[])[]) =>
  firstTileMismatch([...tilesOf(levels)].map((tile) => checkTile(fetchPath, tile)));

const fetchFrom = (served: Map<string, Uint8Array>) => (path: string) => {
  const bytes = served.get(path);
  return bytes ? Promise.resolve(bytes) : Promise.reject(new Error(`no ${path}`));
};

describe('tileLevels', () => {
  it.each([0, 1, 2, 3, 255, 256, 257, 511, 512, 4097, 65536, 65536 + 256 * 3 + 5])(
    'gives the RFC 9162 root of %i leaves, as CompactRange does',
    (n) => {
      const leafHashes = leaves(n);
      const levels = tileLevels(leafHashes, hashChildren);
      expect(toBase64(rootFromTileLevels(levels, n, hashChildren))).toBe(
        toBase64(rootFromLeafHashes(leafHashes)),
      );
    },
  );

  it.each([1, 256, 300, 65536 + 700])(
    'matches every tile the log serves for %i leaves',
    async (n) => {
      const leafHashes = leaves(n);
      const levels = tileLevels(leafHashes, hashChildren);
      await expect(
        checkTileLevels(fetchFrom(servedTiles(leafHashes)), levels),
      ).resolves.toBeUndefined();
    },
  );

  it('reports the first changed stored hash by level, tile and position', async () => {
    const leafHashes = leaves(1100);
    const served = servedTiles(leafHashes);
    const path = tilePath(1, 0, 4);
    const tampered = served.get(path)!.slice();
    tampered[64] = tampered[64]! ^ 1;
    served.set(path, tampered);
    const mismatch = await checkTileLevels(fetchFrom(served), tileLevels(leafHashes, hashChildren));
    expect(mismatch).toMatchObject({ level: 1, index: 0, position: 2 });
  });

  it('fails with the error of the first tile it cannot read', async () => {
    const leafHashes = leaves(600);
    const served = servedTiles(leafHashes);
    served.delete(tilePath(0, 1, 256));
    await expect(
      checkTileLevels(fetchFrom(served), tileLevels(leafHashes, hashChildren)),
    ).rejects.toThrow('no tile/0/001');
  });
});

describe('TileTree', () => {
  /** Each tile as level/index/width and its hashes, for comparing two lists of them. */
  const described = (tiles: Iterable<TileHashes>) =>
    [...tiles].map(
      (t) => `${t.level}/${t.index}/${t.hashes.length} ${t.hashes.map(toBase64).join()}`,
    );

  it.each([0, 1, 255, 256, 257, 511, 512, 65536, 65536 + 256 * 3 + 5])(
    'built leaf by leaf, gives the root and the tiles of tileLevels for %i leaves',
    (n) => {
      const leafHashes = leaves(n);
      const tree = new TileTree(hashChildren);
      const handedOn: TileHashes[] = [];
      for (const leaf of leafHashes) {
        const full = tree.push(leaf);
        if (full) handedOn.push(full);
      }
      const { root, tiles } = tree.finish();
      expect(toBase64(root)).toBe(toBase64(rootFromLeafHashes(leafHashes)));
      // Full level-0 tiles as they fill, then the rest: together every tile, each once.
      expect(handedOn.every((t) => t.level === 0 && t.hashes.length === 256)).toBe(true);
      expect(described([...handedOn, ...tiles]).sort()).toEqual(
        described(tilesOf(tileLevels(leafHashes, hashChildren))).sort(),
      );
    },
  );

  it('hands on only what the log serves: its tiles all match a served tree', async () => {
    const leafHashes = leaves(65536 + 700);
    const tree = new TileTree(hashChildren);
    const checks: Promise<unknown>[] = [];
    const fetchPath = fetchFrom(servedTiles(leafHashes));
    for (const leaf of leafHashes) {
      const full = tree.push(leaf);
      if (full) checks.push(checkTile(fetchPath, full));
    }
    for (const tile of tree.finish().tiles) checks.push(checkTile(fetchPath, tile));
    expect(await Promise.all(checks)).toEqual(checks.map(() => undefined));
  });
});
