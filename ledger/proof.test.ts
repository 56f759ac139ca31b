import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { fromHex, utf8 } from './bytes.ts';
import {
  CompactRange,
  compactRangeNodes,
  consistencyNodes,
  consistencyProof,
  consistencyProofAsync,
  HashSizeError,
  inclusionNodes,
  inclusionProof,
  inclusionProofAsync,
  IndexOutOfRangeError,
  nodeCoverage,
  ProofError,
  ProofSizeError,
  rangeNodes,
  rehash,
  RootMismatchError,
  rootFromConsistencyProof,
  rootFromInclusionProof,
  rootFromLeafHashes,
  TreeSizeError,
  verifyConsistency,
  verifyInclusion,
  type NodeId,
} from './proof.ts';
import { emptyRoot, hashChildren, hashLeaf } from './rfc9162.ts';

// ---------------------------------------------------------------------------------------------
// Test-only helpers: an in-memory tree whose storage holds perfect-subtree nodes only, and
// RFC 9162 §2.1 written out recursively as an independent oracle.

class MemoryTree {
  readonly leafHashes: Uint8Array[] = [];
  readonly nodes = new Map<string, Uint8Array>();
  readonly range = new CompactRange();

  constructor(leafCount: number) {
    for (let i = 0; i < leafCount; i++) this.append(utf8(`leaf-${i}`));
  }

  append(leaf: Uint8Array): void {
    const hash = hashLeaf(leaf);
    this.leafHashes.push(hash);
    for (const { id, hash: h } of this.range.appendLeaf(hash))
      this.nodes.set(`${id.level}/${id.index}`, h);
  }

  getNodes = (ids: readonly NodeId[]): Uint8Array[] =>
    ids.map((id) => {
      const hash = this.nodes.get(`${id.level}/${id.index}`);
      if (hash === undefined) throw new Error(`node ${id.level}/${id.index} not stored`);
      return hash;
    });
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH (RFC 9162 §2.1.1), recursive. */
function mth(hashes: Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return emptyRoot();
  if (hashes.length === 1) return hashes[0]!;
  const k = largestPowerOfTwoBelow(hashes.length);
  return hashChildren(mth(hashes.slice(0, k)), mth(hashes.slice(k)));
}

/** PATH(m, D[n]) (RFC 9162 §2.1.3.1). */
function path(m: number, hashes: Uint8Array[]): Uint8Array[] {
  if (hashes.length <= 1) return [];
  const k = largestPowerOfTwoBelow(hashes.length);
  return m < k
    ? [...path(m, hashes.slice(0, k)), mth(hashes.slice(k))]
    : [...path(m - k, hashes.slice(k)), mth(hashes.slice(0, k))];
}

/** SUBPROOF(m, D[n], b) (RFC 9162 §2.1.4.1). */
function subproof(m: number, hashes: Uint8Array[], b: boolean): Uint8Array[] {
  if (m === hashes.length) return b ? [] : [mth(hashes)];
  const k = largestPowerOfTwoBelow(hashes.length);
  return m <= k
    ? [...subproof(m, hashes.slice(0, k), b), mth(hashes.slice(k))]
    : [...subproof(m - k, hashes.slice(k), false), mth(hashes.slice(0, k))];
}

const MAX_LEAVES = 300;
const tree = new MemoryTree(MAX_LEAVES);
const rootOf = (n: number): Uint8Array => mth(tree.leafHashes.slice(0, n));

function flipBit(proof: Uint8Array[], which: number, bit: number): Uint8Array[] {
  const out = proof.map((h) => h.slice());
  const i = which % out.length;
  out[i]![Math.floor(bit / 8) % 32]! ^= 1 << (bit % 8);
  return out;
}

const sizeAndIndex = fc
  .integer({ min: 1, max: MAX_LEAVES })
  .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 })));
const twoSizes = fc
  .integer({ min: 1, max: MAX_LEAVES })
  .chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n)));

// ---------------------------------------------------------------------------------------------

describe('node addressing', () => {
  test('rangeNodes covers a range exactly with the fewest perfect subtrees, left to right', () => {
    expect(rangeNodes(6, 29)).toEqual([
      { level: 1, index: 3 },
      { level: 3, index: 1 },
      { level: 3, index: 2 },
      { level: 2, index: 6 },
      { level: 0, index: 28 },
    ]);
  });

  test('compactRangeNodes lists the right border of a tree, highest level first', () => {
    expect(compactRangeNodes(13)).toEqual([
      { level: 3, index: 0 },
      { level: 2, index: 2 },
      { level: 0, index: 12 },
    ]);
  });

  test('nodeCoverage gives the leaf range under a node', () => {
    expect(nodeCoverage({ level: 3, index: 2 })).toEqual({ begin: 16, end: 24 });
  });

  test('inclusionNodes names the sibling path and the right border that forms the ephemeral node', () => {
    // Leaf 2 of 7: its sibling 3, the subtree [0,2), then [4,7) folded from (0,6) and (1,2).
    const nodes = inclusionNodes(2, 7);
    expect(nodes.ids).toEqual([
      { level: 0, index: 3 },
      { level: 1, index: 0 },
      { level: 0, index: 6 },
      { level: 1, index: 2 },
    ]);
    expect([nodes.begin, nodes.end]).toEqual([2, 4]);
    expect(nodes.ephemeral).toEqual({ level: 2, index: 1 });
  });

  test('inclusionNodes refuses an index at or beyond the size', () => {
    expect(() => inclusionNodes(7, 7)).toThrow(IndexOutOfRangeError);
  });

  test('consistencyNodes is empty between equal sizes', () => {
    expect(consistencyNodes(5, 5).ids).toEqual([]);
  });

  test('consistencyNodes refuses size 0 and a shrinking tree', () => {
    expect(() => consistencyNodes(0, 3)).toThrow(TreeSizeError);
    expect(() => consistencyNodes(4, 3)).toThrow(TreeSizeError);
  });

  test('proof node ids are perfect subtrees inside the tree, O(log n) of them, even near 2^53', () => {
    const big = fc
      .integer({ min: 1, max: Number.MAX_SAFE_INTEGER })
      .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 })));
    fc.assert(
      fc.property(big, ([size, index]) => {
        const { ids } = inclusionNodes(index, size);
        expect(ids.length).toBeLessThanOrEqual(2 * 54);
        for (const id of ids) expect(nodeCoverage(id).end).toBeLessThanOrEqual(size);
        // As many hashes as the verifier expects once the ephemeral run is folded.
        const nodes = inclusionNodes(index, size);
        const folded = nodes.ids.length - Math.max(0, nodes.end - nodes.begin - 1);
        const dummy = new Uint8Array(32);
        expect(() =>
          rootFromInclusionProof(
            dummy,
            index,
            size,
            Array.from({ length: folded }, () => dummy),
          ),
        ).not.toThrow();
      }),
    );
  });

  test('rehash refuses a hash list of the wrong length', () => {
    expect(() => rehash(inclusionNodes(2, 7), [])).toThrow(ProofSizeError);
  });
});

describe('roots', () => {
  // The RFC 6962 test leaves used by transparency-dev/merkle and Certificate Transparency.
  const ctLeaves = [
    '',
    '00',
    '10',
    '2021',
    '3031',
    '40414243',
    '5051525354555657',
    '606162636465666768696a6b6c6d6e6f',
  ].map(fromHex);
  const ctRoots = [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ];

  test.each(ctRoots.map((root, i) => [i + 1, root] as const))(
    'rootFromLeafHashes matches the RFC 6962 test root for %i leaves',
    (n, root) => {
      expect(rootFromLeafHashes(ctLeaves.slice(0, n).map(hashLeaf))).toEqual(fromHex(root));
    },
  );

  test('the root of no leaves is SHA-256 of the empty string', () => {
    expect(rootFromLeafHashes([])).toEqual(
      fromHex('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'),
    );
  });

  test('CompactRange gives the RFC 9162 root after every append', () => {
    const range = new CompactRange();
    for (let n = 1; n <= 70; n++) {
      range.appendLeaf(tree.leafHashes[n - 1]!);
      expect(range.root()).toEqual(rootOf(n));
    }
  });

  test('appendLeaf reports the leaf and every perfect subtree it completes', () => {
    const range = new CompactRange();
    for (let i = 0; i < 7; i++) range.appendLeaf(tree.leafHashes[i]!);
    const completed = range.appendLeaf(tree.leafHashes[7]!);
    expect(completed.map((n) => n.id)).toEqual([
      { level: 0, index: 7 },
      { level: 1, index: 3 },
      { level: 2, index: 1 },
      { level: 3, index: 0 },
    ]);
    expect(completed[3]!.hash).toEqual(rootOf(8));
  });

  test('a CompactRange resumed from stored border nodes continues with the same roots', () => {
    const size = 45;
    const resumed = new CompactRange(size, tree.getNodes(compactRangeNodes(size)));
    expect(resumed.root()).toEqual(rootOf(size));
    resumed.appendLeaf(tree.leafHashes[size]!);
    expect(resumed.root()).toEqual(rootOf(size + 1));
  });

  test('a CompactRange refuses border hashes that do not fit its size', () => {
    expect(() => new CompactRange(3, [new Uint8Array(32)])).toThrow(ProofSizeError);
  });
});

describe('inclusion proofs', () => {
  test('a proof built from storage equals RFC 9162 PATH and verifies, for any leaf of any tree up to 300', () => {
    fc.assert(
      fc.property(sizeAndIndex, ([n, i]) => {
        const proof = inclusionProof(i, n, tree.getNodes);
        expect(proof).toEqual(path(i, tree.leafHashes.slice(0, n)));
        verifyInclusion(tree.leafHashes[i]!, i, n, proof, rootOf(n));
      }),
    );
  });

  test('any flipped bit in the proof is rejected', () => {
    fc.assert(
      fc.property(
        sizeAndIndex.filter(([n]) => n > 1),
        fc.nat(),
        fc.nat(255),
        ([n, i], which, bit) => {
          const proof = flipBit(inclusionProof(i, n, tree.getNodes), which, bit);
          expect(() => verifyInclusion(tree.leafHashes[i]!, i, n, proof, rootOf(n))).toThrow(
            RootMismatchError,
          );
        },
      ),
    );
  });

  test('a truncated proof is rejected', () => {
    fc.assert(
      fc.property(
        sizeAndIndex.filter(([n]) => n > 1),
        ([n, i]) => {
          const proof = inclusionProof(i, n, tree.getNodes).slice(0, -1);
          expect(() => verifyInclusion(tree.leafHashes[i]!, i, n, proof, rootOf(n))).toThrow(
            ProofSizeError,
          );
        },
      ),
    );
  });

  test('an extended proof is rejected', () => {
    fc.assert(
      fc.property(
        sizeAndIndex,
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        ([n, i], extra) => {
          const proof = [...inclusionProof(i, n, tree.getNodes), extra];
          expect(() => verifyInclusion(tree.leafHashes[i]!, i, n, proof, rootOf(n))).toThrow(
            ProofSizeError,
          );
        },
      ),
    );
  });

  test('a proof presented for another index is rejected', () => {
    fc.assert(
      fc.property(
        sizeAndIndex.filter(([n]) => n > 1),
        fc.nat(),
        ([n, i], other) => {
          const j = (i + 1 + (other % (n - 1))) % n; // any index but i
          const proof = inclusionProof(i, n, tree.getNodes);
          expect(() => verifyInclusion(tree.leafHashes[i]!, j, n, proof, rootOf(n))).toThrow(
            ProofError,
          );
        },
      ),
    );
  });

  test('a proof presented against another tree size and its root is rejected', () => {
    fc.assert(
      fc.property(sizeAndIndex, fc.integer({ min: 1, max: MAX_LEAVES }), ([n, i], m) => {
        fc.pre(m !== n && i < m);
        const proof = inclusionProof(i, n, tree.getNodes);
        expect(() => verifyInclusion(tree.leafHashes[i]!, i, m, proof, rootOf(m))).toThrow(
          ProofError,
        );
      }),
    );
  });

  test('RootMismatchError carries the expected and the computed root', () => {
    const proof = inclusionProof(3, 10, tree.getNodes);
    const wrong = rootOf(9);
    try {
      verifyInclusion(tree.leafHashes[3]!, 3, 10, proof, wrong);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(RootMismatchError);
      expect((error as RootMismatchError).expected).toEqual(wrong);
      expect((error as RootMismatchError).computed).toEqual(rootOf(10));
      expect((error as Error).name).toBe('RootMismatchError');
    }
  });

  test('a leaf hash that is not 32 bytes is refused', () => {
    expect(() => rootFromInclusionProof(new Uint8Array(31), 0, 1, [])).toThrow(HashSizeError);
  });

  test('the async builder gives the same proof as the sync one', async () => {
    const proof = await inclusionProofAsync(5, 17, (ids) => Promise.resolve(tree.getNodes(ids)));
    expect(proof).toEqual(inclusionProof(5, 17, tree.getNodes));
  });
});

describe('consistency proofs', () => {
  test('a proof built from storage equals RFC 9162 PROOF and verifies, for any 1 <= m <= n <= 300', () => {
    fc.assert(
      fc.property(twoSizes, ([m, n]) => {
        const proof = consistencyProof(m, n, tree.getNodes);
        expect(proof).toEqual(m === n ? [] : subproof(m, tree.leafHashes.slice(0, n), true));
        verifyConsistency(m, n, proof, rootOf(m), rootOf(n));
      }),
    );
  });

  test('any flipped bit in the proof is rejected', () => {
    fc.assert(
      fc.property(
        twoSizes.filter(([m, n]) => m < n),
        fc.nat(),
        fc.nat(255),
        ([m, n], which, bit) => {
          const proof = flipBit(consistencyProof(m, n, tree.getNodes), which, bit);
          expect(() => verifyConsistency(m, n, proof, rootOf(m), rootOf(n))).toThrow(
            RootMismatchError,
          );
        },
      ),
    );
  });

  test('a truncated proof is rejected', () => {
    fc.assert(
      fc.property(
        twoSizes.filter(([m, n]) => m < n),
        ([m, n]) => {
          const proof = consistencyProof(m, n, tree.getNodes).slice(0, -1);
          expect(() => verifyConsistency(m, n, proof, rootOf(m), rootOf(n))).toThrow(
            ProofSizeError,
          );
        },
      ),
    );
  });

  test('an extended proof is rejected', () => {
    fc.assert(
      fc.property(twoSizes, fc.uint8Array({ minLength: 32, maxLength: 32 }), ([m, n], extra) => {
        const proof = [...consistencyProof(m, n, tree.getNodes), extra];
        expect(() => verifyConsistency(m, n, proof, rootOf(m), rootOf(n))).toThrow(ProofSizeError);
      }),
    );
  });

  test('a proof presented for another old size is rejected', () => {
    fc.assert(
      fc.property(twoSizes, fc.integer({ min: 1, max: MAX_LEAVES }), ([m, n], other) => {
        fc.pre(other !== m && other <= n);
        const proof = consistencyProof(m, n, tree.getNodes);
        expect(() => verifyConsistency(other, n, proof, rootOf(other), rootOf(n))).toThrow(
          ProofError,
        );
      }),
    );
  });

  test('a proof presented for another new size is rejected', () => {
    fc.assert(
      fc.property(twoSizes, fc.integer({ min: 1, max: MAX_LEAVES }), ([m, n], other) => {
        fc.pre(other !== n && other >= m);
        const proof = consistencyProof(m, n, tree.getNodes);
        expect(() => verifyConsistency(m, other, proof, rootOf(m), rootOf(other))).toThrow(
          ProofError,
        );
      }),
    );
  });

  test('a consistency proof from size 0 is refused', () => {
    expect(() => verifyConsistency(0, 5, [], emptyRoot(), rootOf(5))).toThrow(TreeSizeError);
  });

  test('equal sizes need an empty proof', () => {
    expect(() => verifyConsistency(4, 4, [rootOf(4)], rootOf(4), rootOf(4))).toThrow(
      ProofSizeError,
    );
  });

  test('equal sizes need equal roots', () => {
    expect(() => verifyConsistency(4, 4, [], rootOf(4), rootOf(5))).toThrow(RootMismatchError);
  });

  test('a shrinking tree is refused', () => {
    expect(() => verifyConsistency(5, 4, [], rootOf(5), rootOf(4))).toThrow(TreeSizeError);
  });

  test('rootFromConsistencyProof returns the new root', () => {
    expect(
      rootFromConsistencyProof(6, 13, consistencyProof(6, 13, tree.getNodes), rootOf(6)),
    ).toEqual(rootOf(13));
  });

  test('the async builder gives the same proof as the sync one', async () => {
    const proof = await consistencyProofAsync(6, 29, (ids) => Promise.resolve(tree.getNodes(ids)));
    expect(proof).toEqual(consistencyProof(6, 29, tree.getNodes));
  });
});
