// Node's built-in (OpenSSL) SHA-256 for the RFC 9162 tree hashes on the ledger's hot paths
// (the sequencer, the full audit): the same bytes as ledger/rfc9162.ts, several times faster
// than @noble/hashes. The pure library keeps noble as its default so verifiers and browsers
// need nothing else.
import { hash } from 'node:crypto';

// One input buffer reused by every call (each hashes synchronously, so none overlap): the
// domain-separation prefix and the hashed bytes must be contiguous for one-shot `hash`.
let scratch = Buffer.allocUnsafe(1024);
const inputOf = (prefix: number, length: number): Buffer => {
  if (scratch.length < length) scratch = Buffer.allocUnsafe(Math.max(length, 2 * scratch.length));
  scratch[0] = prefix;
  return scratch;
};

const children = Buffer.alloc(65, 0x01);

/** SHA-256(0x00 || leaf) (RFC 9162 §2.1.1), as `hashLeaf` in ledger/rfc9162.ts. */
export function hashLeafNode(leaf: Uint8Array): Uint8Array {
  const input = inputOf(0x00, leaf.length + 1);
  input.set(leaf, 1);
  return digestOf(input.subarray(0, leaf.length + 1));
}

/**
 * SHA-256(0x01 || left || right) (RFC 9162 §2.1.1), as `hashChildren` in ledger/rfc9162.ts.
 * @throws RangeError unless both are 32-byte hashes.
 */
export function hashChildrenNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== 32 || right.length !== 32)
    throw new RangeError(
      `hashChildren needs two 32-byte hashes, got ${left.length} and ${right.length}`,
    );
  children.set(left, 1);
  children.set(right, 33);
  return digestOf(children);
}

/**
 * SHA-256 of `input` as a plain Uint8Array. Taken as a latin1 string (one character a byte)
 * and copied: a Buffer result costs a backing store of its own, about three times the hash.
 */
function digestOf(input: Uint8Array): Uint8Array {
  const text = hash('sha256', input, 'binary');
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = text.charCodeAt(i);
  return out;
}
