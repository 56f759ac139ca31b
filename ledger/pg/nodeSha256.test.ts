import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CompactRange,
  consistencyProof,
  inclusionProof,
  ProofError,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from '../proof.ts';
import { hashChildren, hashLeaf } from '../rfc9162.ts';
import { hashChildrenNode, hashLeafNode } from './nodeSha256.ts';

describe('native RFC 9162 hashes', () => {
  it('hash leaves of any length to the same bytes as the pure hashLeaf', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (leaf) => {
        expect(hashLeafNode(leaf)).toEqual(hashLeaf(leaf));
      }),
    );
  });

  it('hash children to the same bytes as the pure hashChildren', () => {
    const hash = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(
      fc.property(hash, hash, (left, right) => {
        expect(hashChildrenNode(left, right)).toEqual(hashChildren(left, right));
      }),
    );
  });

  it('give a compact range the same nodes and roots as the pure hashes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), (n) => {
        const pure = new CompactRange();
        const native = new CompactRange(0, [], hashChildrenNode);
        for (let i = 0; i < n; i++) {
          const leaf = hashLeaf(new Uint8Array([i, i >> 8]));
          expect(native.appendLeaf(leaf)).toEqual(pure.appendLeaf(leaf));
          expect(native.root()).toEqual(pure.root());
        }
      }),
    );
  });

  it('check inclusion and consistency proofs to the same verdicts as the pure hashes', () => {
    const leaves = Array.from({ length: 40 }, (_, i) => hashLeaf(new Uint8Array([i])));
    const nodes = (ids: readonly { level: number; index: number }[]) =>
      ids.map(({ level, index }) =>
        rootFromLeafHashes(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level)),
      );
    /** 'accepted', or the name of the ProofError that refused the proof. */
    const verdict = (check: () => void): string => {
      try {
        check();
        return 'accepted';
      } catch (error) {
        if (error instanceof ProofError) return error.name;
        throw error;
      }
    };
    /** The verdict with the pure hash, having checked the native one gives the same. */
    const both = (check: (children: typeof hashChildren) => void): string => {
      const pure = verdict(() => check(hashChildren));
      expect(verdict(() => check(hashChildrenNode))).toBe(pure);
      return pure;
    };
    const flip = (hash: Uint8Array, bit: number): Uint8Array => {
      const copy = hash.slice();
      copy[bit >> 3]! ^= 1 << (bit & 7);
      return copy;
    };
    const flipOne = (hashes: readonly Uint8Array[], k: number, bit: number) =>
      hashes.map((h, j) => (j === k % hashes.length ? flip(h, bit) : h));
    const refusals = new Set<string>();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        (n, a, b, k, bit) => {
          const [i, m] = [a % n, 1 + (b % n)];
          const root = rootFromLeafHashes(leaves.slice(0, n));
          const proof = inclusionProof(i, n, nodes);
          const consistency = consistencyProof(m, n, nodes);
          const older = rootFromLeafHashes(leaves.slice(0, m));
          const inclusion = (
            leaf: Uint8Array,
            index: number,
            size: number,
            hashes: readonly Uint8Array[],
            expected: Uint8Array,
          ) => both((h) => verifyInclusion(leaf, index, size, hashes, expected, h));
          const consistent = (
            size1: number,
            size2: number,
            hashes: readonly Uint8Array[],
            root1: Uint8Array,
            root2: Uint8Array,
          ) => both((h) => verifyConsistency(size1, size2, hashes, root1, root2, h));

          // Valid proofs: both accept.
          expect(inclusion(leaves[i]!, i, n, proof, root)).toBe('accepted');
          expect(consistent(m, n, consistency, older, root)).toBe('accepted');

          // One bit flipped in a proof hash, the leaf or a root: both refuse.
          const bad = [
            inclusion(flip(leaves[i]!, bit), i, n, proof, root),
            inclusion(leaves[i]!, i, n, proof, flip(root, bit)),
            consistent(m, n, consistency, flip(older, bit), root),
            consistent(m, n, consistency, older, flip(root, bit)),
          ];
          if (proof.length > 0) bad.push(inclusion(leaves[i]!, i, n, flipOne(proof, k, bit), root));
          if (consistency.length > 0)
            bad.push(consistent(m, n, flipOne(consistency, k, bit), older, root));
          for (const v of bad) expect(v).toBe('RootMismatchError');

          // Wrong sizes and indices: whatever the verdict, the same with either hash (a proof
          // can fit another size whose tree folds the same way, so not every one is refused).
          for (const v of [
            inclusion(leaves[i]!, i, n + 1, proof, root),
            inclusion(leaves[i]!, i, n - 1, proof, root),
            inclusion(leaves[i]!, (i + 1) % n, n, proof, root),
            consistent(m, n + 1, consistency, older, root),
            consistent(m + 1, n, consistency, older, root),
            consistent(m - 1, n, consistency, older, root),
          ])
            if (v !== 'accepted') refusals.add(v);
        },
      ),
    );
    // The wrong sizes were refused in each of these ways at least once.
    expect([...refusals].sort()).toEqual([
      'IndexOutOfRangeError',
      'ProofSizeError',
      'RootMismatchError',
      'TreeSizeError',
    ]);
  });

  it('copy a compact range that then grows apart from the original, with the same hash', () => {
    const leaves = Array.from({ length: 6 }, (_, i) => hashLeaf(new Uint8Array([i])));
    const original = new CompactRange(0, [], hashChildrenNode);
    for (const leaf of leaves.slice(0, 5)) original.appendLeaf(leaf);
    const copy = original.copy();
    copy.appendLeaf(leaves[5]!);
    const pure = new CompactRange();
    for (const leaf of leaves.slice(0, 5)) pure.appendLeaf(leaf);
    expect([original.size, copy.size]).toEqual([5, 6]);
    expect(original.root()).toEqual(pure.root());
    pure.appendLeaf(leaves[5]!);
    expect(copy.root()).toEqual(pure.root());
  });

  it('refuses children that are not 32-byte hashes', () => {
    expect(() => hashChildrenNode(new Uint8Array(31), new Uint8Array(32))).toThrow(RangeError);
  });
});
