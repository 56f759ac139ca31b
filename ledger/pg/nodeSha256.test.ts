import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CompactRange,
  consistencyProof,
  inclusionProof,
  rootFromLeafHashes,
  RootMismatchError,
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
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(), fc.nat(), (n, a, b) => {
        const [i, m] = [a % n, 1 + (b % n)];
        const root = rootFromLeafHashes(leaves.slice(0, n));
        const proof = inclusionProof(i, n, nodes);
        verifyInclusion(leaves[i]!, i, n, proof, root, hashChildrenNode);
        const consistency = consistencyProof(m, n, nodes);
        const older = rootFromLeafHashes(leaves.slice(0, m));
        verifyConsistency(m, n, consistency, older, root, hashChildrenNode);
        // A wrong root fails the same way with either hash.
        const wrong = hashLeaf(new Uint8Array([255]));
        expect(() => verifyInclusion(leaves[i]!, i, n, proof, wrong, hashChildrenNode)).toThrow(
          RootMismatchError,
        );
        expect(() => verifyConsistency(m, n, consistency, older, wrong, hashChildrenNode)).toThrow(
          RootMismatchError,
        );
      }),
    );
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
