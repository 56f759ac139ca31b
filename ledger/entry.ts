// Ledger entries (ARCHITECTURE.md §3, fixed): {index, prevLeafHash, statement, signature,
// sequencedAt} as RFC 8785 bytes; those bytes are the RFC 9162 leaf.
import type { Entry, SignedStatement } from '../domain/statement.ts';
import { toBase64, utf8 } from './bytes.ts';
import { canonicalJson } from './canonicalJson.ts';
import { hashLeaf, HASH_SIZE } from './rfc9162.ts';

/** Entry 0 chains to 32 zero bytes. */
export const GENESIS_PREV_LEAF_HASH = toBase64(new Uint8Array(HASH_SIZE));

export function encodeEntry(entry: Entry): Uint8Array {
  return utf8(canonicalJson(entry));
}

export interface SequencedEntry {
  entry: Entry;
  bytes: Uint8Array;
  leafHash: Uint8Array;
}

/** Hashing and serialisation a caller may supply (the sequencer uses faster native ones). */
export interface ChainOptions {
  /** RFC 8785 JSON of each statement exactly as signed, in `signed` order. */
  statementJson?: readonly string[];
  /** RFC 9162 leaf hash; defaults to the pure `hashLeaf`. */
  hashLeaf?: (leaf: Uint8Array) => Uint8Array;
}

/**
 * An entry's RFC 8785 bytes from its parts, the statement already canonical. The members
 * are written in RFC 8785 order (index, prevLeafHash, sequencedAt, signature, statement), so
 * this equals `encodeEntry` without serialising the statement again.
 */
export function entryBytes(
  index: number,
  prevLeafHash: string,
  sequencedAt: string,
  signature: string,
  statementJson: string,
): Uint8Array {
  return utf8(
    `{"index":${canonicalJson(index)},"prevLeafHash":${canonicalJson(prevLeafHash)},"sequencedAt":${canonicalJson(sequencedAt)},"signature":${canonicalJson(signature)},"statement":${statementJson}}`,
  );
}

/**
 * Chains signed statements after the leaf whose hash is `prevLeafHash`, from `firstIndex`.
 * Pure: the sequencer decides order and time, this computes the bytes.
 * Requires `options.statementJson`, when given, to hold one canonical statement per input.
 */
export function chainEntries(
  signed: readonly SignedStatement[],
  firstIndex: number,
  prevLeafHash: Uint8Array,
  sequencedAt: string,
  options: ChainOptions = {},
): SequencedEntry[] {
  const out: SequencedEntry[] = [];
  const hash = options.hashLeaf ?? hashLeaf;
  let prev = prevLeafHash;
  signed.forEach(({ statement, signature }, i) => {
    const entry: Entry = {
      index: firstIndex + i,
      prevLeafHash: toBase64(prev),
      statement,
      signature,
      sequencedAt,
    };
    const json = options.statementJson?.[i];
    const bytes =
      json === undefined
        ? encodeEntry(entry)
        : entryBytes(entry.index, entry.prevLeafHash, sequencedAt, signature, json);
    const leafHash = hash(bytes);
    out.push({ entry, bytes, leafHash });
    prev = leafHash;
  });
  return out;
}
