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

/**
 * Chains signed statements after the leaf whose hash is `prevLeafHash`, from `firstIndex`.
 * Pure: the sequencer decides order and time, this computes the bytes.
 */
export function chainEntries(
  signed: readonly SignedStatement[],
  firstIndex: number,
  prevLeafHash: Uint8Array,
  sequencedAt: string,
): SequencedEntry[] {
  const out: SequencedEntry[] = [];
  let prev = prevLeafHash;
  signed.forEach(({ statement, signature }, i) => {
    const entry: Entry = {
      index: firstIndex + i,
      prevLeafHash: toBase64(prev),
      statement,
      signature,
      sequencedAt,
    };
    const bytes = encodeEntry(entry);
    const leafHash = hashLeaf(bytes);
    out.push({ entry, bytes, leafHash });
    prev = leafHash;
  });
  return out;
}
