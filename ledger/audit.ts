// The full audit (`onewindow ledger audit`): re-hash every entry from the entry bundles
// (never trusting a stored hash), rebuild the tree, check the hash chain, every statement's
// signature under a key valid for its agency at its `issuedAt`, and the served hash tiles,
// and compare the root with a checkpoint whose signatures were already verified. Key validity
// starts from the trust file's agency keys (anchors) and follows the key events in the log
// (ledger/keyEvents.ts), in log order: each statement is judged by the keys as they stood
// when it was appended, and a later revocation disowns what the key got logged from its
// revokedAt on, by the log's clock (LogClock: the latest sequencedAt so far, so an entry
// backdated before one logged ahead of it counts as logged no earlier).
import type { Entry } from '../domain/statement.ts';
import { bytesEqual, fromBase64, isBase64Of, toBase64, utf8 } from './bytes.ts';
import { readCanonicalEntry } from './canonicalEntry.ts';
import { FirstIndexById } from './firstIndexById.ts';
import type { Checkpoint } from './checkpoint.ts';
import { GENESIS_PREV_LEAF_HASH, LogClock, parseEntryBytes } from './entry.ts';
import { isKeyEvent, KeyTimeline } from './keyEvents.ts';
import { hashChildren, hashLeaf } from './rfc9162.ts';
import { STATEMENT_CONTEXT, statementMessage } from './statement.ts';
import {
  checkTile,
  firstTileMismatch,
  type HashChildren,
  type TileHashes,
  TileTree,
} from './tileLevels.ts';
import { MalformedTileError } from './tiles.ts';
import { readEntries, type FetchPath, type TileMismatch } from './tlogClient.ts';

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
  /** How many findings were seen in all (only the `maxFindings` of lowest index are kept). */
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
  /** RFC 9162 §2.1.1 leaf hash; defaults to the pure `hashLeaf` (Node passes a native one). */
  hashLeaf?: (leaf: Uint8Array) => Uint8Array;
  /** RFC 9162 §2.1.1 interior node hash; defaults to the pure `hashChildren`. */
  hashChildren?: HashChildren;
}

/** Signature batches on the verifier at once: one per thread finishing never idles the others. */
const BATCHES_IN_FLIGHT = 2;
const CONTEXT = utf8(STATEMENT_CONTEXT);

/** Audits entries [0, checkpoint.size). Requires a verified checkpoint. */
export async function auditLedger(options: AuditOptions): Promise<AuditResult> {
  const { checkpoint, fetchPath } = options;
  const size = checkpoint.size;
  const maxFindings = options.maxFindings ?? 1000;
  const findings: AuditFinding[] = [];
  let findingCount = 0;
  // The earliest `maxFindings` by index are kept, whenever each was found: a signature's
  // finding comes when its batch is verified, after the entries parsed since have reported.
  const byIndex = (a: AuditFinding, b: AuditFinding) => a.index - b.index;
  const report = (index: number, problem: string) => {
    findingCount++;
    findings.push({ index, problem });
    if (findings.length >= 2 * maxFindings) findings.sort(byIndex).splice(maxFindings);
  };
  const leafOf = options.hashLeaf ?? hashLeaf;
  const childrenOf = options.hashChildren ?? hashChildren;
  const keys = new KeyTimeline(options.agencyKeys);
  const seenStatements = new FirstIndexById();
  const clock = new LogClock();
  // Leaf hashes are kept only until their tile is full (ledger/tileLevels.ts TileTree).
  const tree = new TileTree(childrenOf);
  let prev = fromBase64(GENESIS_PREV_LEAF_HASH);
  /** Checks waiting for a batch: each is its own VerifyRequest, with what a finding names. */
  let pending: PendingCheck[] = [];
  let signaturesChecked = 0;
  // Batches verify on the pool while this thread re-hashes and parses the next: the audit is
  // bounded by whichever of the two is slower, not by their sum.
  const verifying: Promise<void>[] = [];
  const verifyPending = async () => {
    const batch = pending;
    pending = [];
    if (verifying.length >= BATCHES_IN_FLIGHT) await verifying.shift();
    const done = options.verifyBatch(batch).then((results) => {
      signaturesChecked += batch.length;
      results.forEach((ok, i) => {
        if (!ok)
          report(
            batch[i]!.index,
            `statement signature does not verify under key ${batch[i]!.keyId}`,
          );
      });
    });
    // Awaited later; until then a failed verifier must not count as an unhandled rejection.
    done.catch(() => undefined);
    verifying.push(done);
  };

  // Each full hash tile of level 0 is fetched and compared as soon as its leaves are known
  // (C2SP tlog-tiles), while the pool verifies: at the end the verify threads would idle.
  const tileChecks: Promise<TileMismatch | undefined>[] = [];
  const startTileCheck = (tile: TileHashes) => {
    const check = checkTile(fetchPath, tile);
    // Judged in order at the end (or dropped when entries are missing).
    check.catch(() => undefined);
    tileChecks.push(check);
  };

  let position = 0;
  try {
    await readAll();
  } catch (error) {
    // A bundle the log served that is no bundle (truncated, or over 256 entries): a finding,
    // and the entries after it are not read (the count below says how many were).
    if (!(error instanceof MalformedTileError)) throw error;
    report(position, `entry bundle at ${position} cannot be read: ${error.message}`);
  }
  await verifyPending();
  // Revocations reaching back, judged once every one is known (the latest has the last word).
  for (const entry of keys.disowned()) report(entry.index, entry.message);

  /** Reads and checks every entry, bundle by bundle, handing signatures on in batches. */
  async function readAll() {
    for await (const { first, entries } of readEntries(fetchPath, size)) {
      const expected = Math.min(256, size - first);
      if (entries.length !== expected) {
        // At the first entry missing, or the first the checkpoint does not cover.
        const short = entries.length < expected;
        report(
          first + Math.min(entries.length, expected),
          `entry bundle at ${first} holds ${entries.length} entries where the checkpoint needs ${expected}: ${short ? `${expected - entries.length} missing` : `${entries.length - expected} extra`}`,
        );
      }
      // One buffer for the signed messages of the bundle's entries, each a view into it: a
      // typed array's own backing store costs more than hashing the message.
      let capacity = 0;
      for (const bytes of entries) capacity += CONTEXT.length + bytes.length;
      const messages = new Uint8Array(capacity);
      let used = 0;
      const state: EntryState = {
        keys,
        seenStatements,
        clock,
        report,
        message: (length) => messages.subarray(used, (used += length)),
      };
      for (const bytes of entries) {
        const index = position++;
        const leafHash = leafOf(bytes);
        // Entries past the checkpoint's size (a finding above) are in no tile of it.
        if (index < size) {
          const full = tree.push(leafHash);
          if (full) startTileCheck(full);
        }
        const checked = checkEntry(index, bytes, prev, state);
        prev = leafHash;
        if (!checked) continue;
        const { statement, request } = checked;
        if (!isKeyEvent(statement)) {
          pending.push(request);
          continue;
        }
        // A key event changes how every later entry is judged: verify its signature now (key
        // events are rare), and apply it only if it holds (verify first, then act on it).
        const [valid] = await options.verifyBatch([request]);
        signaturesChecked++;
        if (!valid)
          report(index, `statement signature does not verify under key ${statement.keyId}`);
        else {
          const outcome = keys.apply(statement, index);
          if (!outcome.applied) report(index, outcome.message);
        }
      }
      if (pending.length >= (options.batchSize ?? 4096)) await verifyPending();
      options.onProgress?.(position, size);
    }
  }

  if (position === size) {
    // The rest: the last, partial tile of level 0 and every tile above it.
    const { root, tiles } = tree.finish();
    for (const tile of tiles) startTileCheck(tile);
    await Promise.all(verifying);
    if (!bytesEqual(root, checkpoint.rootHash)) {
      report(
        -1,
        `the ${size} entries hash to root ${toBase64(root)}, the checkpoint says ${toBase64(checkpoint.rootHash)}`,
      );
    }
    const mismatch = await firstTileMismatch(tileChecks).catch((error: unknown) => {
      // As for entry bundles: a tile that is no tile is a finding; one the source could not
      // serve at all proves nothing either way, and goes to the caller (the CLI's exit 3).
      if (!(error instanceof MalformedTileError)) throw error;
      return { error };
    });
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
    await Promise.all(verifying);
    report(-1, `read ${position} entries, the checkpoint covers ${size}`);
  }
  // Tree-wide findings first, then by index: the earliest damage is what a reader needs first.
  findings.sort(byIndex).splice(maxFindings);
  return { size, ok: findingCount === 0, findings, findingCount, signaturesChecked };
}

/** One signature check, with the entry index and key id its finding would name. */
interface PendingCheck extends VerifyRequest {
  index: number;
  keyId: string;
}

/** What checking an entry reads and adds to, besides the entry itself. */
interface EntryState {
  keys: KeyTimeline;
  seenStatements: FirstIndexById;
  clock: LogClock;
  report: (index: number, problem: string) => void;
  /** Room for a signed message of `length` bytes. */
  message: (length: number) => Uint8Array;
}

/** Checks one entry's format, chain and key; returns what its signature check needs. */
function checkEntry(
  index: number,
  bytes: Uint8Array,
  prev: Uint8Array,
  { keys, seenStatements, clock, report, message: room }: EntryState,
): { statement: Entry['statement']; request: PendingCheck } | undefined {
  const read = readEntry(index, bytes, report, room);
  if (!read) return undefined;
  const { entry, message, signature } = read;
  if (entry.index !== index)
    report(index, `entry at position ${index} says it is entry ${entry.index}`);
  if (!isBase64Of(entry.prevLeafHash, prev))
    report(index, `entry does not chain to the one before it (prevLeafHash ${entry.prevLeafHash})`);
  // The time a revocation's reach back judges this entry by (KeyTimeline.disowned).
  const loggedBy = clock.step(entry.sequencedAt);
  const earlier = seenStatements.firstOrAdd(entry.statement.statementId, index);
  if (earlier !== undefined)
    report(index, `statement ${entry.statement.statementId} was already appended at ${earlier}`);
  const check = keys.validAt(
    entry.statement.keyId,
    entry.statement.agency,
    entry.statement.issuedAt,
    index,
    loggedBy,
  );
  if (!check.ok) {
    report(index, check.message);
    return undefined;
  }
  return {
    statement: entry.statement,
    // The key id as the key timeline holds it: the statement's own is a slice of the whole
    // entry's text, which a check kept waiting for its batch would keep alive.
    request: { index, keyId: check.key.keyId, publicKey: check.key.publicKey, message, signature },
  };
}

/**
 * Parses one entry and gives the bytes its statement's signature is over: STATEMENT_CONTEXT
 * then the statement's RFC 8785 JSON. For an entry as the sequencer writes it those are the
 * statement's own bytes in the entry (readCanonicalEntry); for any other, the general path
 * (parseEntryBytes) words what is wrong, and for an entry that is canonical all the same
 * re-serialises the statement exactly as it stands in the entry.
 */
function readEntry(
  index: number,
  bytes: Uint8Array,
  report: (index: number, problem: string) => void,
  room: (length: number) => Uint8Array,
): { entry: Entry; message: Uint8Array; signature: Uint8Array } | undefined {
  const canonical = readCanonicalEntry(bytes);
  if (canonical) {
    const { entry, statementStart, signature } = canonical;
    const message = room(CONTEXT.length + bytes.length - 1 - statementStart);
    message.set(CONTEXT);
    message.set(bytes.subarray(statementStart, bytes.length - 1), CONTEXT.length);
    return { entry, message, signature };
  }
  const parsed = parseEntryBytes(bytes);
  if ('problems' in parsed) {
    for (const problem of parsed.problems) report(index, problem);
    return undefined;
  }
  // Sign-over-received-bytes: the statement object exactly as it stands in the entry.
  return {
    entry: parsed.entry,
    message: statementMessage(parsed.raw.statement),
    signature: fromBase64(parsed.entry.signature),
  };
}
