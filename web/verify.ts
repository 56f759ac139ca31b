// What the pages verify in the browser, with the repo's own pure ledger library (no copy of
// any hashing or signature code): a checkpoint note against the log keys and the k-of-n
// witness policy of the trust info, and each entry against that checkpoint — its leaf hash
// recomputed from its RFC 8785 bytes, its place in the hash chain, the statement's Ed25519
// signature under a key of its agency valid at `issuedAt`, and its RFC 9162 inclusion proof.
// Every result says in words what was checked, or exactly what failed. No DOM, no I/O: the
// pages fetch, this module judges (and node tests it, web/verify.test.ts).
import { Entry } from '../domain/statement.ts';
import { bytesEqual, fromBase64, fromUtf8, toBase64, toHex } from '../ledger/bytes.ts';
import { canonicalJson } from '../ledger/canonicalJson.ts';
import { openCheckpoint, type Checkpoint } from '../ledger/checkpoint.ts';
import {
  formatAheadOfClock,
  openWitnessedCheckpoint,
  type Cosignature,
} from '../ledger/cosignature.ts';
import { encodeEntry, unknownEntryMembers } from '../ledger/entry.ts';
import { KeyTimeline } from '../ledger/keyEvents.ts';
import { verifyInclusion } from '../ledger/proof.ts';
import { hashLeaf } from '../ledger/rfc9162.ts';
import { verifyStatementSignature } from '../ledger/statement.ts';
import { loadTrust, type Trust, type TrustFile } from '../ledger/trust.ts';

export type { Trust, TrustFile };

/** A trust file (GET /ledger/trust) ready to verify with, and the key timeline it anchors. */
export interface TrustContext {
  readonly trust: Trust;
  readonly keys: KeyTimeline;
}

/**
 * Parses the trust info the log publishes (ledger/trust.ts TrustFile).
 * @throws TrustFileError naming the field at fault.
 */
export function readTrust(json: unknown): TrustContext {
  const trust = loadTrust(json);
  return { trust, keys: new KeyTimeline(trust.agencyKeys) };
}

/** `<name>+<hex key id>`: how the pages name a key. */
export function keyLabel(key: { name: string; keyHash: Uint8Array }): string {
  return `${key.name}+${toHex(key.keyHash)}`;
}

/** The keys the page trusted, in words: shown beside every verdict. */
export function describeTrust(context: TrustContext): {
  origin: string;
  logKeys: string[];
  witnesses: string[];
  threshold: number;
  agencyKeys: { keyId: string; agency: string; validFrom: string; validUntil: string | null }[];
} {
  const { trust } = context;
  return {
    origin: trust.origin,
    logKeys: trust.logKeys.map(keyLabel),
    witnesses: trust.policy.witnesses.map(keyLabel),
    threshold: trust.policy.threshold,
    agencyKeys: trust.agencyKeys.map((k) => ({
      keyId: k.keyId,
      agency: k.agency,
      validFrom: k.validFrom,
      validUntil: k.validUntil ?? null,
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

export interface VerifiedCheckpoint {
  readonly ok: true;
  readonly checkpoint: Checkpoint;
  /** The note text as signed. */
  readonly body: string;
  /** The log keys whose signatures verified. */
  readonly logKeys: readonly string[];
  readonly cosignatures: readonly Cosignature[];
  readonly witnessCount: number;
  readonly threshold: number;
  /** "Checkpoint of size N signed by log key … and 2 of 3 witnesses (…), policy 2 of 3 ✓". */
  readonly summary: string;
  /** "Checkpoint signed by log key … and 2 of 3 witnesses ✓": what each entry's line repeats. */
  readonly short: string;
}

export interface FailedCheckpoint {
  readonly ok: false;
  /** Why, in the words of the error the library threw (its class name first). */
  readonly reason: string;
  readonly summary: string;
}

export type CheckpointVerdict = VerifiedCheckpoint | FailedCheckpoint;

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Opens a cosigned checkpoint note: the log's signature first (any trusted log key), then the
 * body and its origin, then the witness cosignatures against the k-of-n policy, as the CLI
 * does: one dated more than five minutes past `now` (this browser's clock, POSIX seconds) is
 * not counted, and is named (C2SP tlog-cosignature §Format). Never throws.
 */
export function verifyCheckpoint(
  note: string,
  context: TrustContext,
  now = Math.floor(Date.now() / 1000),
): CheckpointVerdict {
  const { trust } = context;
  try {
    const opened = openWitnessedCheckpoint(note, trust.origin, trust.logKeys, trust.policy, now);
    // Which log keys signed (more than one during a rotation): the same note opened with the
    // log keys alone, where the cosignatures are lines by unknown keys.
    const signedBy = openCheckpoint(note, trust.origin, trust.logKeys).logSignatures.map(keyLabel);
    const witnessCount = trust.policy.witnesses.length;
    const names = opened.cosignatures.map((c) => c.name).join(', ');
    return {
      ok: true,
      checkpoint: opened.checkpoint,
      body: opened.body,
      logKeys: signedBy,
      cosignatures: opened.cosignatures,
      witnessCount,
      threshold: trust.policy.threshold,
      summary:
        `Checkpoint of size ${opened.checkpoint.size} signed by log key ${signedBy.join(' and ')} ` +
        `and ${opened.cosignatures.length} of ${witnessCount} witnesses${names ? ` (${names})` : ''}, ` +
        `policy ${trust.policy.threshold} of ${witnessCount} \u2713` +
        (opened.aheadOfClock.length ? `; ${formatAheadOfClock(opened.aheadOfClock)}` : ''),
      short:
        `Checkpoint signed by log key ${signedBy.join(' and ')} ` +
        `and ${opened.cosignatures.length} of ${witnessCount} witnesses \u2713`,
    };
  } catch (error) {
    const reason = errorText(error);
    return { ok: false, reason, summary: `FAILED: checkpoint: ${reason}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Entries

export type CheckName =
  'entry' | 'case' | 'leafHash' | 'chain' | 'signature' | 'inclusion' | 'checkpoint';
export type CheckState = 'ok' | 'failed' | 'pending';

export interface EntryCheck {
  readonly name: CheckName;
  readonly state: CheckState;
  readonly detail: string;
}

export type EntryStatus = 'verified' | 'failed' | 'pending';

export interface EntryVerdict {
  readonly index: number;
  /** verified: every check passed; pending: only the inclusion waits for a larger checkpoint. */
  readonly status: EntryStatus;
  readonly checks: readonly EntryCheck[];
  /** One line for the page: "Signature ✓ … Inclusion … ✓ …" or "FAILED: <why>". */
  readonly summary: string;
  /** The recomputed leaf hash, when the entry could be encoded. */
  readonly leafHash?: Uint8Array;
  /** The entry, when it parsed. */
  readonly entry?: Entry;
}

export interface EntryInput {
  /** The position the entry was asked for (or says it holds, for a case's entries). */
  readonly index: number;
  /** The leaf bytes as served (GET /ledger/entries/:index): hashed as they are. */
  readonly bytes?: Uint8Array;
  /** Or the entry as a JSON object (a case's entries): hashed as its RFC 8785 bytes. */
  readonly entry?: unknown;
  /** The leaf hash the server reported (base64): it must equal the recomputed one. */
  readonly reportedLeafHash?: string | null;
  /** The inclusion proof (base64 hashes) for `checkpoint.checkpoint.size`. */
  readonly inclusionProof?: readonly string[] | null;
  /** The leaf hash of entry `index - 1` when the caller has it (hash chain check). */
  readonly previousLeafHash?: Uint8Array;
  /** The case the page shows, when it shows one: the entry's statement must be of it. */
  readonly caseId?: string;
  readonly checkpoint: CheckpointVerdict;
  readonly context: TrustContext;
}

const ENTRY_FIELDS = ['index', 'prevLeafHash', 'statement', 'signature', 'sequencedAt'] as const;

/** The five entry members (ARCHITECTURE.md §3), without what an API adds (leafHash, proofs). */
function entryMembers(value: unknown): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const field of ENTRY_FIELDS) out[field] = record[field];
  return out;
}

function firstIssue(error: { issues: readonly { path: PropertyKey[]; message: string }[] }) {
  const issue = error.issues[0];
  return issue ? `${issue.path.map(String).join('.') || 'entry'}: ${issue.message}` : 'malformed';
}

/**
 * Verifies one entry against a verified checkpoint. Never throws: every failure becomes a
 * failed check saying what was expected and what was found. Checks, in order: the entry
 * bytes (JSON, RFC 8785 canonical, the entry shape, the index), its case (when the caller
 * shows one), the reported leaf hash, the
 * hash chain (when the previous leaf hash is known), the statement signature, the inclusion
 * proof, the checkpoint itself.
 */
export function verifyEntry(input: EntryInput): EntryVerdict {
  const checks: EntryCheck[] = [];
  const fail = (name: CheckName, detail: string) => checks.push({ name, state: 'failed', detail });
  const ok = (name: CheckName, detail: string) => checks.push({ name, state: 'ok', detail });
  const done = (leafHash?: Uint8Array, entry?: Entry): EntryVerdict =>
    verdict(input.index, checks, leafHash, entry);

  // 1. The leaf: the bytes that are hashed, and what they say.
  let bytes: Uint8Array;
  let raw: unknown;
  if (input.bytes !== undefined) {
    bytes = input.bytes;
    try {
      raw = JSON.parse(fromUtf8(bytes)) as unknown;
    } catch {
      fail('entry', 'the entry bytes are not UTF-8 JSON');
      return done(hashLeaf(bytes));
    }
    let canonical: string | undefined;
    try {
      canonical = canonicalJson(raw);
    } catch {
      canonical = undefined;
    }
    if (canonical === undefined || !bytesEqual(bytes, new TextEncoder().encode(canonical))) {
      fail('entry', 'the entry bytes are not RFC 8785 canonical JSON');
      return done(hashLeaf(bytes));
    }
  } else {
    const members = entryMembers(input.entry);
    if (members === undefined) {
      fail('entry', 'no entry to verify');
      return done();
    }
    try {
      bytes = encodeEntry(members as Entry);
    } catch (error) {
      fail('entry', `the entry cannot be encoded as RFC 8785 JSON (${errorText(error)})`);
      return done();
    }
    raw = members;
  }
  const leafHash = hashLeaf(bytes);
  const parsed = Entry.safeParse(raw);
  if (!parsed.success) {
    fail('entry', `the entry is malformed: ${firstIssue(parsed.error)}`);
    return done(leafHash);
  }
  const extra = unknownEntryMembers(raw as object);
  if (extra.length > 0) {
    fail('entry', `the entry has members the fixed format does not: ${extra.join(', ')}`);
    return done(leafHash);
  }
  const entry = parsed.data;
  if (entry.index !== input.index) {
    fail('entry', `entry ${input.index} says it is entry ${entry.index}`);
  } else ok('entry', `Entry ${entry.index}: ${bytes.length} bytes of RFC 8785 JSON`);

  // A server answering for one case with another's entries (each verifying on its own).
  if (input.caseId !== undefined) {
    if (entry.statement.caseId === input.caseId) ok('case', `Of case ${input.caseId}`);
    else
      fail(
        'case',
        `the entry is of case ${entry.statement.caseId}, not of case ${input.caseId} shown here`,
      );
  }

  // 2. What the server says the leaf hashes to must be what it hashes to.
  if (input.reportedLeafHash !== undefined && input.reportedLeafHash !== null) {
    if (input.reportedLeafHash === toBase64(leafHash))
      ok('leafHash', `Leaf hash ${toBase64(leafHash)} recomputed`);
    else
      fail(
        'leafHash',
        `the server reports leaf hash ${input.reportedLeafHash}, the entry hashes to ${toBase64(leafHash)}`,
      );
  }

  // 3. The hash chain, when the previous leaf is at hand.
  if (input.previousLeafHash !== undefined) {
    if (entry.prevLeafHash === toBase64(input.previousLeafHash))
      ok('chain', `Chained to entry ${entry.index - 1}`);
    else
      fail(
        'chain',
        `prevLeafHash is ${entry.prevLeafHash}, entry ${entry.index - 1} hashes to ${toBase64(input.previousLeafHash)}`,
      );
  }

  // 4. The statement signature, under a key of its agency valid when it was issued.
  const { statement } = entry;
  const key = input.context.keys.validAt(statement.keyId, statement.agency, statement.issuedAt);
  if (!key.ok) fail('signature', key.message);
  // Over the statement exactly as received, not as the schema parsed it.
  else if (
    !verifyStatementSignature(
      { statement: (raw as { statement?: unknown }).statement, signature: entry.signature },
      key.key.publicKey,
    )
  )
    fail('signature', `the statement signature does not verify under key ${statement.keyId}`);
  else ok('signature', `Signature by ${statement.keyId} (${statement.agency}) \u2713`);

  // 5. Inclusion in the checkpoint, and 6. the checkpoint itself.
  const cp = input.checkpoint;
  if (!cp.ok) {
    checks.push({ name: 'inclusion', state: 'failed', detail: 'no verified checkpoint' });
    fail('checkpoint', cp.reason);
    return done(leafHash, entry);
  }
  const size = cp.checkpoint.size;
  if (input.index >= size) {
    checks.push({
      name: 'inclusion',
      state: 'pending',
      detail: `not yet in a published checkpoint (latest has size ${size})`,
    });
  } else if (input.inclusionProof === undefined || input.inclusionProof === null) {
    fail('inclusion', `no inclusion proof for the checkpoint of size ${size}`);
  } else {
    try {
      const proof = input.inclusionProof.map((hash) => fromBase64(hash));
      verifyInclusion(leafHash, input.index, size, proof, cp.checkpoint.rootHash);
      ok('inclusion', `Inclusion in checkpoint of size ${size} \u2713`);
    } catch (error) {
      fail('inclusion', `inclusion in checkpoint of size ${size}: ${errorText(error)}`);
    }
  }
  ok('checkpoint', cp.short);
  return done(leafHash, entry);
}

function verdict(
  index: number,
  checks: readonly EntryCheck[],
  leafHash: Uint8Array | undefined,
  entry: Entry | undefined,
): EntryVerdict {
  const failed = checks.filter((c) => c.state === 'failed');
  const pending = checks.some((c) => c.state === 'pending');
  const status: EntryStatus = failed.length ? 'failed' : pending ? 'pending' : 'verified';
  const summary =
    status === 'failed'
      ? `FAILED: ${failed.map((c) => c.detail).join('; ')}`
      : checks
          .filter(
            (c) => c.name === 'signature' || c.name === 'inclusion' || c.name === 'checkpoint',
          )
          .map((c) => (c.state === 'pending' ? `Inclusion pending: ${c.detail}` : c.detail))
          .join(' \u00b7 ');
  return {
    index,
    status,
    checks,
    summary,
    ...(leafHash ? { leafHash } : {}),
    ...(entry ? { entry } : {}),
  };
}
