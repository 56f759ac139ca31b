// Ledger entries (ARCHITECTURE.md §3, fixed): {index, prevLeafHash, statement, signature,
// sequencedAt} as RFC 8785 bytes; those bytes are the RFC 9162 leaf.
import { Entry, type SignedStatement } from '../domain/statement.ts';
import { fromUtf8, toBase64, utf8 } from './bytes.ts';
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

/** An entry's members (ARCHITECTURE.md §3, fixed); only its statement may carry more ("at least"). */
const ENTRY_MEMBERS: ReadonlySet<string> = new Set(Object.keys(Entry.shape));

/** Members of a parsed entry the fixed format does not have (the schema drops them unseen). */
export function unknownEntryMembers(raw: object): string[] {
  return Object.keys(raw).filter((member) => !ENTRY_MEMBERS.has(member));
}

/**
 * Reads entry bytes the general way, for a verifier: the entry, and its statement exactly as
 * it stands in the bytes (what the signature is over), or every reason they are not an entry
 * of the fixed format. Entries are RFC 8785 bytes (ARCHITECTURE.md §3), so bytes that are not
 * exactly the canonical JSON of what they parse to are refused: a duplicate member (JSON.parse
 * keeps the last, other readers the first), white space, another member order or escape would
 * let two readers see different entries under one leaf hash. Members the format does not have
 * are refused too, since the schema would drop them unseen.
 */
export function parseEntryBytes(
  bytes: Uint8Array,
): { entry: Entry; raw: { statement: unknown; signature: unknown } } | { problems: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(fromUtf8(bytes));
  } catch {
    return { problems: ['entry is not valid UTF-8 JSON'] };
  }
  const parsed = Entry.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return {
      problems: [`entry is not of the fixed format: ${issue.path.join('.')}: ${issue.message}`],
    };
  }
  const problems: string[] = [];
  const extra = unknownEntryMembers(raw as object);
  if (extra.length > 0)
    problems.push(`entry has members the fixed format does not: ${extra.join(', ')}`);
  const differsAt = canonicalDifference(bytes, raw);
  if (differsAt === NO_CANONICAL_FORM)
    problems.push(
      'entry is not RFC 8785 canonical JSON: what it parses to has no canonical form here (a number out of range, or nesting too deep)',
    );
  else if (differsAt !== undefined)
    problems.push(
      `entry is not RFC 8785 canonical JSON: its bytes differ from the canonical form of what they parse to at byte ${differsAt}`,
    );
  if (problems.length > 0) return { problems };
  return { entry: parsed.data, raw: raw as { statement: unknown; signature: unknown } };
}

const NO_CANONICAL_FORM = -1;

/**
 * The first byte at which `bytes` differ from the RFC 8785 bytes of `value`, undefined where
 * they do not, or NO_CANONICAL_FORM.
 */
function canonicalDifference(bytes: Uint8Array, value: unknown): number | undefined {
  let canonical: Uint8Array;
  try {
    canonical = utf8(canonicalJson(value));
  } catch {
    // A number JSON.parse read as Infinity (RFC 8785, I-JSON, has no form for it), or nesting
    // deep enough to exhaust the stack.
    return NO_CANONICAL_FORM;
  }
  const length = Math.min(bytes.length, canonical.length);
  for (let i = 0; i < length; i++) if (bytes[i] !== canonical[i]) return i;
  return bytes.length === canonical.length ? undefined : length;
}

/**
 * The log's clock, read entry by entry in log order: at each entry, the latest `sequencedAt`
 * of the entries read so far. A revocation disowns what its key got logged from its revokedAt
 * on (ledger/keyEvents.ts), judged by this clock, not by the entry's own time: an operator
 * who backdates a thief's entry cannot put it before an entry logged ahead of it. A log whose
 * clock stepped back (sequencers on hosts with skewed clocks, before the sequencer took the
 * later of its clock and the last entry's) stays valid: such an entry counts as logged at the
 * later time, which disowns no less.
 */
export class LogClock {
  private latest: { sequencedAt: string; at: number } | undefined;

  /** The clock's reading at an entry sequenced at `sequencedAt` (RFC 3339), the next in log order. */
  step(sequencedAt: string): string {
    const latest = this.latest;
    // A batch's entries share one sequencedAt: parsed once.
    if (latest?.sequencedAt === sequencedAt) return sequencedAt;
    const at = Date.parse(sequencedAt);
    if (latest !== undefined && !(at > latest.at)) return latest.sequencedAt;
    this.latest = { sequencedAt, at };
    return sequencedAt;
  }
}
