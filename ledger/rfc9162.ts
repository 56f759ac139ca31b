// RFC 9162 §2.1.1 Merkle tree hashing with SHA-256 and the domain-separation prefixes
// that keep a leaf from ever being read as an interior node.
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes } from './bytes.ts';

export const HASH_SIZE = 32;
const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** MTH({d(0)}) = SHA-256(0x00 || d(0)) (RFC 9162 §2.1.1). */
export function hashLeaf(leaf: Uint8Array): Uint8Array {
  return sha256(concatBytes(LEAF_PREFIX, leaf));
}

/** SHA-256(0x01 || left || right) (RFC 9162 §2.1.1). Requires two 32-byte hashes. */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    throw new RangeError(
      `hashChildren needs two ${HASH_SIZE}-byte hashes, got ${left.length} and ${right.length}`,
    );
  }
  return sha256(concatBytes(NODE_PREFIX, left, right));
}

/** MTH({}) = SHA-256() (RFC 9162 §2.1.1): the root of the empty tree. */
export function emptyRoot(): Uint8Array {
  return sha256(new Uint8Array(0));
}
