// The full audit (`onewindow ledger audit`): re-hash every entry from the entry bundles
// (never trusting a stored hash), rebuild the tree, check the hash chain, every statement's
// signature under a key valid for its agency at its `issuedAt`, and the served hash tiles,
// and compare the root with a checkpoint whose signatures were already verified. Key validity
// starts from the trust file's agency keys (anchors) and follows the key events in the log
// (ledger/keyEvents.ts), in log order: each statement is judged by the keys as they stood
// when it was appended.
import { Entry } from '../domain/statement.ts';
import { bytesEqual, fromBase64, fromUtf8, toBase64 } from './bytes.ts';
import type { Checkpoint } from './checkpoint.ts';
import { GENESIS_PREV_LEAF_HASH } from './entry.ts';
import { CompactRange } from './proof.ts';
import { isKeyEvent, KeyTimeline } from './keyEvents.ts';
import { hashLeaf } from './rfc9162.ts';
import { statementMessage } from './statement.ts';
import { checkHashTiles, readEntries, type FetchPath } from './tlogClient.ts';

/** A key the verifier trusts for an agency, within its validity window. */
export interface TrustedAgencyKey {
  keyId: string;
  agency: string;
  publicKey: Uint8Array;
  validFrom: string;
  validUntil?: string | null;
}

export interface VerifyRequest {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

/** Verifies a batch of Ed25519 signatures; the caller decides how (threads, one core). */
export type VerifyBatch = (items: readonly VerifyRequest[]) => Promise<boolean[]>;

export interface AuditFinding {
  /** The leaf index the problem is at, or -1 for the tree as a whole. */
  index: number;
  problem: string;
}

export interface AuditResult {
  size: number;
  ok: boolean;
  findings: AuditFinding[];
  /** How many findings were seen in all (only the first `maxFindings` are kept). */
  findingCount: number;
  signaturesChecked: number;
}

export interface AuditOptions {
  fetchPath: FetchPath;
  /** A checkpoint whose signatures (log and witnesses) the caller has verified. */
  checkpoint: Checkpoint;
  agencyKeys: readonly TrustedAgencyKey[];
  verifyBatch: VerifyBatch;
  onProgress?: (done: number, total: number) => void;
  maxFindings?: number;
  batchSize?: number;
}

/** Audits entries [0, checkpoint.size). Requires a verified checkpoint. */
export async function auditLedger(options: AuditOptions): Promise<AuditResult> {
  const { checkpoint, fetchPath } = options;
  const size = checkpoint.size;
  const maxFindings = options.maxFindings ?? 1000;
  const findings: AuditFinding[] = [];
  let findingCount = 0;
  const report = (index: number, problem: string) => {
    findingCount++;
    if (findings.length < maxFindings) findings.push({ index, problem });
  };
  const keys = new KeyTimeline(options.agencyKeys);
  const seenStatements = new Map<string, number>();
  const range = new CompactRange();
  const leafHashes: Uint8Array[] = [];
  let prev = fromBase64(GENESIS_PREV_LEAF_HASH);
  let pending: { index: number; keyId: string; request: VerifyRequest }[] = [];
  let signaturesChecked = 0;
  // One batch verifies on the pool while this thread re-hashes and parses the next:
  // the audit is bounded by whichever of the two is slower, not by their sum.
  let verifying: Promise<void> = Promise.resolve();
  const verifyPending = async () => {
    const batch = pending;
    pending = [];
    await verifying;
    verifying = options.verifyBatch(batch.map((p) => p.request)).then((results) => {
      signaturesChecked += batch.length;
      results.forEach((ok, i) => {
        if (!ok)
          report(
            batch[i]!.index,
            `statement signature does not verify under key ${batch[i]!.keyId}`,
          );
      });
    });
  };

  let position = 0;
  for await (const { first, entries } of readEntries(fetchPath, size)) {
    const expected = Math.min(256, size - first);
    if (entries.length !== expected) {
      report(
        first + entries.length,
        `entry bundle at ${first} holds ${entries.length} entries where the checkpoint needs ${expected}: entries are missing`,
      );
    }
    for (const bytes of entries) {
      const index = position++;
      const leafHash = hashLeaf(bytes);
      range.appendLeaf(leafHash);
      leafHashes.push(leafHash);
      const checked = checkEntry(index, bytes, prev, keys, seenStatements, report);
      prev = leafHash;
      if (!checked) continue;
      const { statement, request } = checked;
      if (!isKeyEvent(statement)) {
        pending.push({ index, keyId: statement.keyId, request });
        continue;
      }
      // A key event changes how every later entry is judged: verify its signature now (key
      // events are rare), and apply it only if it holds (verify first, then act on it).
      const [valid] = await options.verifyBatch([request]);
      signaturesChecked++;
      if (!valid) report(index, `statement signature does not verify under key ${statement.keyId}`);
      else {
        const outcome = keys.apply(statement, index);
        if (!outcome.applied) report(index, outcome.message);
      }
    }
    if (pending.length >= (options.batchSize ?? 4096)) await verifyPending();
    options.onProgress?.(position, size);
  }
  await verifyPending();
  await verifying;

  if (position === size) {
    const root = range.root();
    if (!bytesEqual(root, checkpoint.rootHash)) {
      report(
        -1,
        `the ${size} entries hash to root ${toBase64(root)}, the checkpoint says ${toBase64(checkpoint.rootHash)}`,
      );
    }
    const mismatch = await checkHashTiles(fetchPath, leafHashes).catch((error: unknown) => ({
      error,
    }));
    if (mismatch && 'error' in mismatch)
      report(-1, `hash tiles could not be read: ${String(mismatch.error)}`);
    else if (mismatch) {
      const index = mismatch.level === 0 ? mismatch.index * 256 + mismatch.position : -1;
      report(
        index,
        `stored hash at tile level ${mismatch.level}, tile ${mismatch.index}, position ${mismatch.position} is ${mismatch.found}; the entries give ${mismatch.expected}`,
      );
    }
  } else {
    report(-1, `read ${position} entries, the checkpoint covers ${size}`);
  }
  // Tree-wide findings first, then by index: the earliest damage is what a reader needs first.
  findings.sort((a, b) => a.index - b.index);
  return { size, ok: findingCount === 0, findings, findingCount, signaturesChecked };
}

/** Checks one entry's format, chain and key; returns what its signature check needs. */
function checkEntry(
  index: number,
  bytes: Uint8Array,
  prev: Uint8Array,
  keys: KeyTimeline,
  seenStatements: Map<string, number>,
  report: (index: number, problem: string) => void,
): { statement: Entry['statement']; request: VerifyRequest } | undefined {
  let raw: { statement?: unknown; signature?: unknown; index?: unknown; prevLeafHash?: unknown };
  try {
    raw = JSON.parse(fromUtf8(bytes)) as typeof raw;
  } catch {
    report(index, 'entry is not valid UTF-8 JSON');
    return undefined;
  }
  const parsed = Entry.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    report(index, `entry is not of the fixed format: ${issue.path.join('.')}: ${issue.message}`);
    return undefined;
  }
  const entry = parsed.data;
  if (entry.index !== index)
    report(index, `entry at position ${index} says it is entry ${entry.index}`);
  if (entry.prevLeafHash !== toBase64(prev))
    report(index, `entry does not chain to the one before it (prevLeafHash ${entry.prevLeafHash})`);
  const earlier = seenStatements.get(entry.statement.statementId);
  if (earlier !== undefined)
    report(index, `statement ${entry.statement.statementId} was already appended at ${earlier}`);
  else seenStatements.set(entry.statement.statementId, index);
  const check = keys.validAt(
    entry.statement.keyId,
    entry.statement.agency,
    entry.statement.issuedAt,
  );
  if (!check.ok) {
    report(index, check.message);
    return undefined;
  }
  // Sign-over-received-bytes: the statement object exactly as it stands in the entry.
  return {
    statement: entry.statement,
    request: {
      publicKey: check.key.publicKey,
      message: statementMessage(raw.statement),
      signature: fromBase64(entry.signature),
    },
  };
}
