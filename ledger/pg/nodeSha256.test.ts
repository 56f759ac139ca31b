import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
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

  it('refuses children that are not 32-byte hashes', () => {
    expect(() => hashChildrenNode(new Uint8Array(31), new Uint8Array(32))).toThrow(RangeError);
  });
});
