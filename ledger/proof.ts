// RFC 9162 §2.1.3 (inclusion) and §2.1.4 (consistency) proofs, shaped like
// transparency-dev/merkle: `proof.Inclusion`/`proof.Consistency` name the tree nodes a proof
// needs, the caller fetches them from storage, `Rehash` folds the right border into the one
// ephemeral node, and `VerifyInclusion`/`VerifyConsistency` check the result.
//
// Sizes and indices are JavaScript numbers. Every bit operation below is done with exact
// arithmetic (division by powers of two), not the 32-bit `>>`/`^` operators, so any safe
// integer (< 2^53) works.
import { bytesEqual, toBase64 } from './bytes.ts';
import { emptyRoot, hashChildren, HASH_SIZE } from './rfc9162.ts';
import type { HashChildren } from './tileLevels.ts';

// ---------------------------------------------------------------------------------------------
// Errors

/** Base class of every proof failure, so callers can catch them together. */
export class ProofError extends Error {
  override name = 'ProofError';
}

/** The proof folds to a root other than the one the caller trusts. */
export class RootMismatchError extends ProofError {
  override name = 'RootMismatchError';
  constructor(
    readonly expected: Uint8Array,
    readonly computed: Uint8Array,
  ) {
    super(`computed root ${toBase64(computed)} does not match expected root ${toBase64(expected)}`);
  }
}

/** The proof has the wrong number of hashes for its (index, size) or (size1, size2). */
export class ProofSizeError extends ProofError {
  override name = 'ProofSizeError';
  constructor(
    readonly expected: number,
    readonly found: number,
    what = 'proof',
  ) {
    super(`${what} must have ${expected} hashes, found ${found}`);
  }
}

/** A leaf index at or beyond the tree size. */
export class IndexOutOfRangeError extends ProofError {
  override name = 'IndexOutOfRangeError';
  constructor(
    readonly index: number,
    readonly size: number,
  ) {
    super(`leaf index ${index} is out of range for a tree of size ${size} (need index < size)`);
  }
}

/** Tree sizes that no proof can relate (size1 > size2, or a consistency proof from size 0). */
export class TreeSizeError extends ProofError {
  override name = 'TreeSizeError';
}

/** A hash of the wrong length where a SHA-256 hash is required. */
export class HashSizeError extends ProofError {
  override name = 'HashSizeError';
  constructor(
    readonly found: number,
    what = 'hash',
  ) {
    super(`${what} must be ${HASH_SIZE} bytes, found ${found}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Exact bit arithmetic on safe integers

const TWO_32 = 2 ** 32;

function shr(x: number, k: number): number {
  return Math.floor(x / 2 ** k);
}

function shl(x: number, k: number): number {
  return x * 2 ** k;
}

function bit(x: number, k: number): number {
  return shr(x, k) % 2;
}

function xor(a: number, b: number): number {
  const hi = (Math.floor(a / TWO_32) ^ Math.floor(b / TWO_32)) >>> 0;
  const lo = ((a % TWO_32) ^ (b % TWO_32)) >>> 0;
  return hi * TWO_32 + lo;
}

/** Number of bits needed to represent x (Go's bits.Len64). */
function bitLength(x: number): number {
  let n = 0;
  while (x > 0) {
    x = shr(x, 1);
    n++;
  }
  return n;
}

function popCount(x: number): number {
  let n = 0;
  while (x > 0) {
    n += x % 2;
    x = shr(x, 1);
  }
  return n;
}

/** Trailing zero bits of x > 0 (Go's bits.TrailingZeros64). */
function trailingZeros(x: number): number {
  let n = 0;
  while (x > 0 && x % 2 === 0) {
    x /= 2;
    n++;
  }
  return n;
}

function assertCount(value: number, what: string): void {
  if (typeof value !== 'number')
    throw new TypeError(`${what} must be a number, got ${typeof value}`);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${value}`);
  }
}

function assertHash(hash: Uint8Array, what: string): void {
  if (!(hash instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  if (hash.length !== HASH_SIZE) throw new HashSizeError(hash.length, what);
}

// ---------------------------------------------------------------------------------------------
// Node addressing (transparency-dev/merkle compact.NodeID)

/**
 * A perfect subtree: the node at `level` (leaves are level 0) and horizontal `index`,
 * covering leaves [index·2^level, (index+1)·2^level). Storage keeps only these hashes.
 */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/** A node id with its hash, as a store persists it. */
export interface NodeHash {
  readonly id: NodeId;
  readonly hash: Uint8Array;
}

/** The leaf range [begin, end) under `id`. Requires a valid node id. */
export function nodeCoverage(id: NodeId): { begin: number; end: number } {
  return { begin: shl(id.index, id.level), end: shl(id.index + 1, id.level) };
}

/**
 * The perfect subtrees that exactly cover leaves [begin, end), left to right: the left
 * border by increasing level, then the right border by decreasing level (merkle's
 * `compact.RangeNodes`). Requires 0 <= begin <= end.
 */
export function rangeNodes(begin: number, end: number): NodeId[] {
  assertCount(begin, 'begin');
  assertCount(end, 'end');
  if (begin > end) throw new TreeSizeError(`range needs begin <= end, got [${begin}, ${end})`);
  const out: NodeId[] = [];
  let pos = begin;
  while (pos < end) {
    // The largest aligned perfect subtree that starts at pos and fits in the range.
    let level =
      pos === 0 ? bitLength(end - pos) - 1 : Math.min(trailingZeros(pos), bitLength(end - pos) - 1);
    while (shl(1, level) > end - pos) level--;
    out.push({ level, index: shr(pos, level) });
    pos += shl(1, level);
  }
  return out;
}

/**
 * The perfect subtrees on the right border of a tree of `size` (the compact range
 * [0, size)), highest level first: what a store needs to resume appending.
 * Requires 0 <= size.
 */
export function compactRangeNodes(size: number): NodeId[] {
  return rangeNodes(0, size);
}

// ---------------------------------------------------------------------------------------------
// Which nodes a proof needs (transparency-dev/merkle proof.Inclusion / proof.Consistency)

/**
 * The stored nodes a proof needs, and how to fold the right-border run of them into the
 * single ephemeral node (a node over a partial subtree, which storage never holds).
 */
export interface ProofNodes {
  /** Perfect-subtree nodes to fetch, in the order `rehash` expects their hashes. */
  readonly ids: readonly NodeId[];
  /** ids[begin, end) together make up the ephemeral node; begin === end when there is none. */
  readonly begin: number;
  readonly end: number;
  /** The node these ids stand in for (the sibling of the fork node). */
  readonly ephemeral: NodeId;
}

/** merkle's `proof.nodes`: the path from (level, index) up to the root of a tree of `size`. */
function proofNodesFrom(index: number, level: number, size: number): ProofNodes {
  // The fork node is where the path from (level, index) diverges from the path to leaf
  // `size`; its sibling is the ephemeral node on the right border.
  const inner = bitLength(xor(index, shr(size, level))) - 1;
  const fork: NodeId = { level: level + inner, index: shr(index, inner) };
  const { begin: forkBegin, end: forkEnd } = nodeCoverage(fork);

  const ids: NodeId[] = [{ level, index }];
  let node: NodeId = { level, index };
  while (node.level < fork.level) {
    ids.push({ level: node.level, index: xor(node.index, 1) });
    node = { level: node.level + 1, index: shr(node.index, 1) };
  }
  // The right range [forkEnd, size), lowest level first so rehash can fold upwards.
  const right = rangeNodes(forkEnd, size).reverse();
  const begin = ids.length;
  ids.push(...right);
  const end = ids.length;
  // The left range [0, forkBegin), by increasing level (bottom-up proof order).
  ids.push(...rangeNodes(0, forkBegin).reverse());

  const ephemeral: NodeId = { level: fork.level, index: xor(fork.index, 1) };
  return begin < end ? { ids, begin, end, ephemeral } : { ids, begin: 0, end: 0, ephemeral };
}

function skipFirst(nodes: ProofNodes): ProofNodes {
  const ids = nodes.ids.slice(1);
  return nodes.begin < nodes.end
    ? { ids, begin: nodes.begin - 1, end: nodes.end - 1, ephemeral: nodes.ephemeral }
    : { ids, begin: 0, end: 0, ephemeral: nodes.ephemeral };
}

/**
 * The nodes an inclusion proof for leaf `index` in a tree of `size` needs (RFC 9162 §2.1.3.1),
 * O(log size) of them. Requires 0 <= index < size.
 * @throws IndexOutOfRangeError when index >= size.
 */
export function inclusionNodes(index: number, size: number): ProofNodes {
  assertCount(index, 'index');
  assertCount(size, 'size');
  if (index >= size) throw new IndexOutOfRangeError(index, size);
  return skipFirst(proofNodesFrom(index, 0, size));
}

/**
 * The nodes a consistency proof from `size1` to `size2` needs (RFC 9162 §2.1.4.1); none when
 * size1 === size2. Requires 0 < size1 <= size2.
 * @throws TreeSizeError when size1 is 0 or greater than size2.
 */
export function consistencyNodes(size1: number, size2: number): ProofNodes {
  assertCount(size1, 'size1');
  assertCount(size2, 'size2');
  if (size1 > size2)
    throw new TreeSizeError(`consistency needs size1 <= size2, got ${size1} > ${size2}`);
  if (size1 === 0)
    throw new TreeSizeError(
      'a consistency proof from the empty tree is meaningless (need size1 > 0)',
    );
  if (size1 === size2) return { ids: [], begin: 0, end: 0, ephemeral: { level: 0, index: 0 } };
  // The biggest perfect subtree that ends at size1 seeds the proof; when size1 is a power of
  // two that subtree is the old root itself, which the verifier already has (§2.1.4.1 SUBPROOF
  // with b = true), so it is left out.
  const level = trailingZeros(size1);
  const index = shr(size1 - 1, level);
  const nodes = proofNodesFrom(index, level, size2);
  return index === 0 ? skipFirst(nodes) : nodes;
}

/**
 * Folds the fetched hashes into the final proof: the run ids[begin, end) becomes one
 * ephemeral node hash (merkle's `Nodes.Rehash`). Requires one 32-byte hash per id, in order.
 * @throws ProofSizeError for a wrong count, HashSizeError for a wrong length.
 */
export function rehash(nodes: ProofNodes, hashes: readonly Uint8Array[]): Uint8Array[] {
  if (hashes.length !== nodes.ids.length)
    throw new ProofSizeError(nodes.ids.length, hashes.length, 'fetched node list');
  hashes.forEach((hash, i) => assertHash(hash, `node hash ${i}`));
  const out: Uint8Array[] = [];
  for (let i = 0; i < hashes.length; i++) {
    let hash = hashes[i]!;
    if (i === nodes.begin && nodes.begin < nodes.end) {
      // Right-border nodes come lowest first; each next one is a left sibling.
      for (i++; i < nodes.end; i++) hash = hashChildren(hashes[i]!, hash);
      i--;
    }
    out.push(hash);
  }
  return out;
}

/** Reads the hashes of perfect subtrees by id (storage as a function argument). */
export type GetNodes = (ids: readonly NodeId[]) => Uint8Array[];
export type GetNodesAsync = (ids: readonly NodeId[]) => Promise<Uint8Array[]>;

/**
 * Builds the inclusion proof for leaf `index` in a tree of `size` from stored nodes.
 * Requires 0 <= index < size and getNodes to return one 32-byte hash per id.
 */
export function inclusionProof(index: number, size: number, getNodes: GetNodes): Uint8Array[] {
  const nodes = inclusionNodes(index, size);
  return rehash(nodes, getNodes(nodes.ids));
}

/** Async `inclusionProof`. Requires 0 <= index < size. */
export async function inclusionProofAsync(
  index: number,
  size: number,
  getNodes: GetNodesAsync,
): Promise<Uint8Array[]> {
  const nodes = inclusionNodes(index, size);
  return rehash(nodes, await getNodes(nodes.ids));
}

/**
 * Builds the consistency proof from `size1` to `size2` from stored nodes.
 * Requires 0 < size1 <= size2 and getNodes to return one 32-byte hash per id.
 */
export function consistencyProof(size1: number, size2: number, getNodes: GetNodes): Uint8Array[] {
  const nodes = consistencyNodes(size1, size2);
  return nodes.ids.length === 0 ? [] : rehash(nodes, getNodes(nodes.ids));
}

/** Async `consistencyProof`. Requires 0 < size1 <= size2. */
export async function consistencyProofAsync(
  size1: number,
  size2: number,
  getNodes: GetNodesAsync,
): Promise<Uint8Array[]> {
  const nodes = consistencyNodes(size1, size2);
  return nodes.ids.length === 0 ? [] : rehash(nodes, await getNodes(nodes.ids));
}

// ---------------------------------------------------------------------------------------------
// Verification (transparency-dev/merkle proof/verify.go)

/** Splits an inclusion proof into the part below the right border and the border part. */
function decomposeInclusionProof(index: number, size: number): { inner: number; border: number } {
  const inner = bitLength(xor(index, size - 1));
  return { inner, border: popCount(shr(index, inner)) };
}

function chainInner(
  seed: Uint8Array,
  proof: readonly Uint8Array[],
  index: number,
  children: HashChildren,
): Uint8Array {
  proof.forEach((hash, i) => {
    seed = bit(index, i) === 0 ? children(seed, hash) : children(hash, seed);
  });
  return seed;
}

/** Like chainInner, using only left siblings: the same subtree as it was at the older size. */
function chainInnerRight(
  seed: Uint8Array,
  proof: readonly Uint8Array[],
  index: number,
  children: HashChildren,
): Uint8Array {
  proof.forEach((hash, i) => {
    if (bit(index, i) === 1) seed = children(hash, seed);
  });
  return seed;
}

function chainBorderRight(
  seed: Uint8Array,
  proof: readonly Uint8Array[],
  children: HashChildren,
): Uint8Array {
  for (const hash of proof) seed = children(hash, seed);
  return seed;
}

function checkProofHashes(proof: readonly Uint8Array[]): void {
  proof.forEach((hash, i) => assertHash(hash, `proof hash ${i}`));
}

/**
 * The root a tree of `size` must have if `proof` shows leaf `index` with `leafHash` in it
 * (RFC 9162 §2.1.3.2). Requires 0 <= index < size and a 32-byte leafHash. `children` is the
 * interior node hash (the pure one by default; the server passes Node's native one).
 * @throws IndexOutOfRangeError, HashSizeError, ProofSizeError.
 */
export function rootFromInclusionProof(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  children: HashChildren = hashChildren,
): Uint8Array {
  assertCount(size, 'size');
  // An index past the tree (even past 2^53, as a wrapped uint64 in a JSON vector) is out of range.
  if (index >= size) throw new IndexOutOfRangeError(index, size);
  assertCount(index, 'index');
  assertHash(leafHash, 'leaf hash');
  checkProofHashes(proof);
  const { inner, border } = decomposeInclusionProof(index, size);
  if (proof.length !== inner + border)
    throw new ProofSizeError(inner + border, proof.length, 'inclusion proof');
  return chainBorderRight(
    chainInner(leafHash, proof.slice(0, inner), index, children),
    proof.slice(inner),
    children,
  );
}

/**
 * Checks that `proof` shows leaf `index` with `leafHash` in the tree of `size` with `root`
 * (RFC 9162 §2.1.3.2). Requires 0 <= index < size.
 * @throws RootMismatchError (with expected and computed roots) or another ProofError.
 * @example verifyInclusion(hashLeaf(entry), 3, 17, proof, checkpoint.rootHash)
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
  children: HashChildren = hashChildren,
): void {
  const computed = rootFromInclusionProof(leafHash, index, size, proof, children);
  if (!bytesEqual(computed, root)) throw new RootMismatchError(root, computed);
}

/**
 * The root the tree of `size2` must have if `proof` extends the tree of `size1` with `root1`
 * (RFC 9162 §2.1.4.2); checks root1 on the way. Requires 0 < size1 <= size2.
 * @throws TreeSizeError, ProofSizeError, HashSizeError, RootMismatchError (for root1).
 */
export function rootFromConsistencyProof(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  children: HashChildren = hashChildren,
): Uint8Array {
  assertCount(size1, 'size1');
  assertCount(size2, 'size2');
  if (size2 < size1)
    throw new TreeSizeError(`consistency needs size1 <= size2, got ${size1} > ${size2}`);
  // Policy shared with the transparency-dev/merkle vectors: nothing is proven "from" the
  // empty tree, so size 0 is refused even when size2 is 0 too.
  if (size1 === 0)
    throw new TreeSizeError(
      'a consistency proof from the empty tree is meaningless (need size1 > 0)',
    );
  checkProofHashes(proof);
  if (size1 === size2) {
    if (proof.length !== 0)
      throw new ProofSizeError(0, proof.length, 'consistency proof between equal sizes');
    return root1;
  }
  const { inner: fullInner, border } = decomposeInclusionProof(size1 - 1, size2);
  const shift = trailingZeros(size1);
  const inner = fullInner - shift; // shift < fullInner because size1 < size2
  // The proof starts with the hash of the perfect subtree of size 2^shift ending at size1,
  // unless size1 is that subtree, whose hash is root1 itself.
  const seedIsRoot1 = size1 === shl(1, shift);
  if (seedIsRoot1) assertHash(root1, 'root1');
  const start = seedIsRoot1 ? 0 : 1;
  if (proof.length !== start + inner + border) {
    throw new ProofSizeError(start + inner + border, proof.length, 'consistency proof');
  }
  const seed = seedIsRoot1 ? root1 : proof[0]!;
  const rest = proof.slice(start);
  const mask = shr(size1 - 1, shift);
  const hash1 = chainBorderRight(
    chainInnerRight(seed, rest.slice(0, inner), mask, children),
    rest.slice(inner),
    children,
  );
  if (!bytesEqual(hash1, root1)) throw new RootMismatchError(root1, hash1);
  return chainBorderRight(
    chainInner(seed, rest.slice(0, inner), mask, children),
    rest.slice(inner),
    children,
  );
}

/**
 * Checks that the tree of `size2` with `root2` extends the tree of `size1` with `root1`
 * (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal roots.
 * Requires 0 < size1 <= size2.
 * @throws TreeSizeError, ProofSizeError, HashSizeError or RootMismatchError.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
  children: HashChildren = hashChildren,
): void {
  const computed = rootFromConsistencyProof(size1, size2, proof, root1, children);
  if (!bytesEqual(computed, root2)) throw new RootMismatchError(root2, computed);
}

// ---------------------------------------------------------------------------------------------
// Roots and the right border (transparency-dev/merkle compact.Range)

/**
 * The right border of a tree: one hash per perfect subtree of [0, size), so appending a leaf
 * and computing the root are O(log n). `appendLeaf` reports every perfect-subtree node it
 * completes (the leaf itself and each merged parent) so a store can persist exactly those.
 */
export class CompactRange {
  #size: number;
  #hashes: Uint8Array[];
  readonly #hashChildren: HashChildren;

  /**
   * Resumes from a stored border: `hashes` are those of `compactRangeNodes(size)`, in order.
   * Requires one 32-byte hash per border node. `hash` computes RFC 9162 §2.1.1's node hash:
   * a port, so the sequencer can pass Node's native SHA-256 (ledger/pg/nodeSha256.ts) while
   * this library stays pure.
   */
  constructor(size = 0, hashes: readonly Uint8Array[] = [], hash: HashChildren = hashChildren) {
    assertCount(size, 'size');
    const expected = compactRangeNodes(size).length;
    if (hashes.length !== expected)
      throw new ProofSizeError(expected, hashes.length, `compact range of size ${size}`);
    hashes.forEach((hash, i) => assertHash(hash, `compact range hash ${i}`));
    this.#size = size;
    this.#hashes = [...hashes];
    this.#hashChildren = hash;
  }

  /** A copy of this range that can grow apart from it (same hash function). */
  copy(): CompactRange {
    return new CompactRange(this.#size, this.#hashes, this.#hashChildren);
  }

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /** The border hashes, matching `compactRangeNodes(size)`. */
  get hashes(): readonly Uint8Array[] {
    return [...this.#hashes];
  }

  /**
   * Appends a leaf hash; returns the nodes this completes, lowest first.
   * Requires a 32-byte leaf hash.
   */
  appendLeaf(leafHash: Uint8Array): NodeHash[] {
    assertHash(leafHash, 'leaf hash');
    const completed: NodeHash[] = [{ id: { level: 0, index: this.#size }, hash: leafHash }];
    let hash = leafHash;
    let index = this.#size;
    let level = 0;
    // Every trailing one bit of the old size is a left sibling waiting for this leaf's subtree.
    while (index % 2 === 1) {
      hash = this.#hashChildren(this.#hashes.pop()!, hash);
      index = shr(index, 1);
      level++;
      completed.push({ id: { level, index }, hash });
    }
    this.#hashes.push(hash);
    this.#size++;
    return completed;
  }

  /** MTH of the leaves so far (RFC 9162 §2.1.1); the empty-tree hash for size 0. */
  root(): Uint8Array {
    if (this.#hashes.length === 0) return emptyRoot();
    let hash = this.#hashes[this.#hashes.length - 1]!;
    for (let i = this.#hashes.length - 2; i >= 0; i--)
      hash = this.#hashChildren(this.#hashes[i]!, hash);
    return hash;
  }
}

/** MTH(D[n]) from the n leaf hashes (RFC 9162 §2.1.1), iteratively in O(n). Requires 32-byte hashes. */
export function rootFromLeafHashes(leafHashes: readonly Uint8Array[]): Uint8Array {
  const range = new CompactRange();
  for (const hash of leafHashes) range.appendLeaf(hash);
  return range.root();
}
