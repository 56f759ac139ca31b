// The supervisor's evidence bundle: every ledger entry of one case, each with its RFC 9162
// §2.1.3 inclusion proof, all bound to ONE cosigned checkpoint (C2SP tlog-checkpoint as a
// signed note, with tlog-cosignature lines), the key events logged before it (proven the same
// way), plus the keys the exporter used. It is checked fully offline against the verifier's
// own trust file: the keys inside the bundle are the exporter's claim, shown for reference and
// compared with the trust file, never used; the key events are applied to the trust file's
// anchors in log order, as the audit applies them (ledger/keyEvents.ts).
import { z } from 'zod';
import { CaseId, type Entry, type Statement } from '../domain/statement.ts';
import { fromBase64, toBase64, toHex, utf8 } from './bytes.ts';
import { openCheckpoint, type Checkpoint } from './checkpoint.ts';
import {
  openWitnessedCheckpoint,
  parseCosignerVerifierKey,
  type Cosignature,
} from './cosignature.ts';
import { GENESIS_PREV_LEAF_HASH, LogClock, parseEntryBytes } from './entry.ts';
import { isKeyEvent, KeyTimeline } from './keyEvents.ts';
import { parseVerifierKey } from './keys.ts';
import { UnverifiedNoteError } from './note.ts';
import { ProofError, verifyInclusion } from './proof.ts';
import { hashLeaf } from './rfc9162.ts';
import { verifyStatementSignature } from './statement.ts';
import { TrustFile, type Trust } from './trust.ts';

export const EVIDENCE_TYPE = 'onewindow.evidence/v1';

/** One entry of the case: its log index, its exact bytes and its inclusion proof. */
export const EvidenceEntry = z.object({
  /** The RFC 9162 leaf index. */
  index: z.number().int().nonnegative(),
  /**
   * The entry bytes (RFC 8785 JSON, hence valid UTF-8) as a string, so a person can read
   * them; the verifier hashes `utf8(entry)`, which is exactly the stored leaf.
   */
  entry: z.string(),
  /** RFC 9162 §2.1.3.1 inclusion proof for `index` in the tree of the bundle's `size`, base64. */
  inclusionProof: z.array(z.string()),
});
export type EvidenceEntry = z.infer<typeof EvidenceEntry>;

/** An offline evidence bundle for one case (`onewindow ledger verify-bundle`). */
export const EvidenceBundle = z.object({
  type: z.literal(EVIDENCE_TYPE),
  origin: z.string().min(1),
  caseId: CaseId,
  /** The signed checkpoint note, log signature and witness cosignatures included. */
  checkpoint: z.string(),
  /** The checkpoint's tree size, which every inclusion proof is for. */
  size: z.number().int().positive(),
  /** In increasing log order. */
  entries: z.array(EvidenceEntry).min(1, 'must hold at least one entry'),
  /**
   * The key events (key.add, key.revoke of every signer) logged before `size`, in increasing
   * log order: a key added since the verifier's trust file was written is learnt from them,
   * and a revocation among them is applied. The exporter could leave one out, which only an
   * audit of the whole log shows. Absent from bundles exported before they were carried.
   */
  keyEvents: z.array(EvidenceEntry).optional(),
  /** Informational: what the exporter trusted (a trust file's shape, less the origin). */
  keys: z.object({
    logKeys: TrustFile.shape.logKeys,
    witnesses: TrustFile.shape.witnesses,
    witnessThreshold: TrustFile.shape.witnessThreshold,
    agencyKeys: TrustFile.shape.agencyKeys,
  }),
  exportedAt: z.iso.datetime({ offset: true }),
});
export type EvidenceBundle = z.infer<typeof EvidenceBundle>;

/** Which check a problem comes from: stable names a caller may branch on. */
export type EvidenceCheck =
  | 'bundle' // the bundle's own fields disagree with its checkpoint or the trust file
  | 'checkpoint' // no trusted log signature, wrong origin, malformed note
  | 'witnesses' // the k-of-n witness policy is not met
  | 'keys' // a key in the bundle differs from the trust file's
  | 'order' // entries not in increasing log order
  | 'entry' // entry bytes not of the fixed format, or not the entry the bundle says
  | 'inclusion' // the entry bytes are not proven in the checkpoint's tree
  | 'chain' // prevLeafHash does not link to the entry before it
  | 'case' // the entry belongs to another case
  | 'key' // no trusted agency key valid at its issuedAt, or a later revocation disowns it
  | 'signature' // the statement signature does not verify
  | 'keyEvent'; // a key event the bundle carries is not proven, not one, or not applied

export interface EvidenceProblem {
  /** Position in `bundle.entries`, or -1 for the bundle as a whole. */
  position: number;
  /** The entry's log index as the bundle gives it (when position >= 0). */
  index?: number;
  check: EvidenceCheck;
  /** What is wrong: what was expected and what was found. */
  problem: string;
}

export interface EvidenceResult {
  ok: boolean;
  caseId: string;
  /** The checkpoint, when a trusted log key signed it (even if the witness policy failed). */
  checkpoint?: Checkpoint;
  /** Cosignatures by trusted witnesses that verified and count. */
  cosignatures: Cosignature[];
  /** Cosignatures by trusted witnesses that verified, not counted: timestamped past `now`. */
  aheadOfClock: Cosignature[];
  entries: number;
  inclusionProofsChecked: number;
  signaturesChecked: number;
  /** Key events proven in the checkpoint, signed under a valid key, and applied. */
  keyEventsApplied: number;
  /** Pairs of bundle entries adjacent in the log whose hash chain link was checked. */
  chainLinksChecked: number;
  problems: EvidenceProblem[];
}

/**
 * One line for a problem, naming the entry by log index and bundle position.
 * Requires a problem from verifyEvidenceBundle.
 */
export function formatEvidenceProblem(p: EvidenceProblem): string {
  const where = p.position < 0 ? 'bundle' : `entry ${p.index ?? '?'} (entries[${p.position}])`;
  return `${where}: ${p.check}: ${p.problem}`;
}

/**
 * Verifies an evidence bundle offline against `trust` alone: checkpoint, witness policy,
 * every entry's leaf hash (recomputed from its bytes), inclusion proof, case, agency key
 * and statement signature, and the hash chain between entries adjacent in the log.
 * Given `now` (POSIX seconds), a cosignature timestamped past it is not counted, as
 * `openWitnessedCheckpoint` says. Requires a bundle parsed by `EvidenceBundle` and a trust
 * file loaded by `loadTrust`. Never throws for a bad bundle: every problem is listed in the result.
 */
export function verifyEvidenceBundle(
  bundle: EvidenceBundle,
  trust: Trust,
  now?: number,
): EvidenceResult {
  const problems: EvidenceProblem[] = [];
  const bundleProblem = (check: EvidenceCheck, problem: string) =>
    problems.push({ position: -1, check, problem });

  if (bundle.origin !== trust.origin)
    bundleProblem(
      'bundle',
      `bundle is for log ${JSON.stringify(bundle.origin)}, the trust file for ${JSON.stringify(trust.origin)}`,
    );
  compareKeys(bundle.keys, trust, (problem) => bundleProblem('keys', problem));

  // The checkpoint first (verify, then parse): without a trusted log signature its root
  // proves nothing. A failed witness policy still leaves the log-signed root to check
  // proofs against, so the reader learns everything that is wrong at once.
  let checkpoint: Checkpoint | undefined;
  let cosignatures: Cosignature[] = [];
  let aheadOfClock: Cosignature[] = [];
  try {
    const opened = openWitnessedCheckpoint(
      bundle.checkpoint,
      trust.origin,
      trust.logKeys,
      trust.policy,
      now,
    );
    checkpoint = opened.checkpoint;
    cosignatures = opened.cosignatures;
    aheadOfClock = opened.aheadOfClock;
  } catch (witnessed) {
    try {
      checkpoint = openCheckpoint(bundle.checkpoint, trust.origin, trust.logKeys).checkpoint;
      bundleProblem('witnesses', `checkpoint witness policy not met: ${message(witnessed)}`);
    } catch (logSigned) {
      bundleProblem('checkpoint', `checkpoint rejected: ${logSignatureProblem(logSigned, trust)}`);
    }
  }
  if (checkpoint && checkpoint.size !== bundle.size)
    bundleProblem(
      'bundle',
      `bundle says size ${bundle.size}, its checkpoint is of size ${checkpoint.size}`,
    );

  const keys = new KeyTimeline(trust.agencyKeys);
  const seenStatements = new Map<string, number>();
  let inclusionProofsChecked = 0;
  let signaturesChecked = 0;
  let keyEventsApplied = 0;
  let chainLinksChecked = 0;
  // Key events and case entries alike, in log order: the clock a revocation's reach back
  // judges an entry by (LogClock), the latest sequencedAt of the bundle's entries so far.
  const clock = new LogClock();

  /**
   * Why a statement's signature does not stand, under the key the timeline holds valid for its
   * agency at its issuedAt, or undefined when it does. Over the statement exactly as it stands
   * in the entry (sign-over-received-bytes), not as the schema parsed it.
   */
  const signatureProblem = (
    parsed: { raw: { statement: unknown; signature: unknown }; entry: Entry },
    statement: Statement,
  ): ['key' | 'signature', string] | undefined => {
    const { index, sequencedAt } = parsed.entry;
    const key = keys.validAt(
      statement.keyId,
      statement.agency,
      statement.issuedAt,
      index,
      clock.step(sequencedAt),
    );
    if (!key.ok) return ['key', key.message];
    signaturesChecked++;
    return verifyStatementSignature(parsed.raw, key.key.publicKey)
      ? undefined
      : ['signature', `statement signature does not verify under key ${key.key.keyId}`];
  };

  /** Reports an entry of the bundle, case entry or key event, that a revocation disowned. */
  const disownedEntry = (index: number, problem: string) => {
    const position = bundle.entries.findIndex((item) => item.index === index);
    if (position >= 0) problems.push({ position, index, check: 'key', problem });
    else {
      const event = keyEvents.findIndex((item) => item.index === index);
      if (event >= 0)
        problems.push({
          position: -1,
          index,
          check: 'keyEvent',
          problem: `keyEvents[${event}] (log index ${index}): ${problem}`,
        });
    }
  };

  // Key events change how every later entry is judged: each is applied just before the first
  // case entry after it (as the audit does), once proven, parsed and its signature verified.
  const keyEvents = bundle.keyEvents ?? [];
  let nextKeyEvent = 0;
  const applyKeyEventsBefore = (index: number) => {
    for (; nextKeyEvent < keyEvents.length; nextKeyEvent++) {
      const event = keyEvents[nextKeyEvent]!;
      if (event.index >= index) return;
      const report = (problem: string) =>
        problems.push({
          position: -1,
          index: event.index,
          check: 'keyEvent',
          problem: `keyEvents[${nextKeyEvent}] (log index ${event.index}): ${problem}`,
        });
      const before = keyEvents[nextKeyEvent - 1];
      if (before && event.index <= before.index) {
        report(`key events must be in increasing log order: it follows log index ${before.index}`);
        continue;
      }
      // Without a checkpoint nothing is proven (reported above), and no event applied.
      if (!checkpoint) continue;
      const bytes = utf8(event.entry);
      const unproven = checkInclusion(event, hashLeaf(bytes), checkpoint);
      inclusionProofsChecked++;
      if (unproven) {
        report(unproven);
        continue;
      }
      const parsed = parseEntryBytes(bytes);
      if ('problems' in parsed) {
        report(parsed.problems.join('; '));
        continue;
      }
      const { statement } = parsed.entry;
      if (parsed.entry.index !== event.index || !isKeyEvent(statement)) {
        report(
          `entry ${parsed.entry.index} of case ${statement.caseId} is no key event at this index`,
        );
        continue;
      }
      const unsigned = signatureProblem(parsed, statement);
      if (unsigned) {
        report(unsigned[1]);
        continue;
      }
      const outcome = keys.apply(statement, event.index);
      if (outcome.applied) keyEventsApplied++;
      else report(outcome.message);
    }
  };
  // The previous bundle entry: its log index and the leaf hash recomputed from its bytes.
  let previous: { index: number; leafHash: Uint8Array } | undefined;

  bundle.entries.forEach((item, position) => {
    const report = (check: EvidenceCheck, problem: string) =>
      problems.push({ position, index: item.index, check, problem });
    applyKeyEventsBefore(item.index);
    if (previous && item.index <= previous.index)
      report(
        'order',
        `entries must be in increasing log order: log index ${item.index} follows ${previous.index}`,
      );

    // Never trust a stored hash: the leaf hash comes from the bytes (RFC 9162 §2.1.1).
    const bytes = utf8(item.entry);
    const leafHash = hashLeaf(bytes);
    if (checkpoint) {
      const proven = checkInclusion(item, leafHash, checkpoint);
      inclusionProofsChecked++;
      if (proven) report('inclusion', proven);
    }

    const parsed = parseEntryBytes(bytes);
    if ('problems' in parsed) for (const problem of parsed.problems) report('entry', problem);
    else {
      const { entry } = parsed;
      const { statement } = entry;
      if (entry.index !== item.index)
        report('entry', `bundle says log index ${item.index}, the entry bytes say ${entry.index}`);
      if (statement.caseId !== bundle.caseId)
        report(
          'case',
          `entry names case ${statement.caseId}, the bundle is for case ${bundle.caseId}`,
        );
      const earlier = seenStatements.get(statement.statementId);
      if (earlier !== undefined)
        report(
          'entry',
          `statement ${statement.statementId} already appears at entries[${earlier}]`,
        );
      else seenStatements.set(statement.statementId, position);
      // Entry 0 chains to 32 zero bytes; any other to the entry before it, when the
      // bundle holds that one too (ARCHITECTURE.md §3, Entry).
      const before =
        item.index === 0
          ? GENESIS_PREV_LEAF_HASH
          : previous && previous.index + 1 === item.index
            ? toBase64(previous.leafHash)
            : undefined;
      if (before !== undefined) {
        chainLinksChecked++;
        if (entry.prevLeafHash !== before)
          report(
            'chain',
            `prevLeafHash is ${entry.prevLeafHash}, the ${item.index === 0 ? 'genesis value' : `leaf hash of entry ${item.index - 1}`} is ${before}`,
          );
      }
      const unsigned = signatureProblem(parsed, statement);
      if (unsigned) report(...unsigned);
    }
    previous = { index: item.index, leafHash };
  });
  // Key events after the case's last entry judge nothing here, but what the bundle carries is
  // checked all the same: a bundle verifies only if all of it does.
  applyKeyEventsBefore(Number.POSITIVE_INFINITY);
  // Revocations reaching back, judged once every one is known: the bundle's entries they disown.
  for (const { index, message } of keys.disowned()) disownedEntry(index, message);

  return {
    ok: problems.length === 0,
    caseId: bundle.caseId,
    ...(checkpoint ? { checkpoint } : {}),
    cosignatures,
    aheadOfClock,
    entries: bundle.entries.length,
    inclusionProofsChecked,
    signaturesChecked,
    keyEventsApplied,
    chainLinksChecked,
    problems,
  };
}

/** Why `item` is not proven in `checkpoint` (RFC 9162 §2.1.3.2), or undefined when it is. */
function checkInclusion(
  item: EvidenceEntry,
  leafHash: Uint8Array,
  checkpoint: Checkpoint,
): string | undefined {
  let proof: Uint8Array[];
  try {
    proof = item.inclusionProof.map(fromBase64);
  } catch (error) {
    return `inclusionProof is not standard base64: ${message(error)}`;
  }
  try {
    verifyInclusion(leafHash, item.index, checkpoint.size, proof, checkpoint.rootHash);
    return undefined;
  } catch (error) {
    if (!(error instanceof ProofError)) throw error;
    return `entry bytes (leaf hash ${toBase64(leafHash)}) are not proven in the checkpoint of size ${checkpoint.size}: ${error.message}`;
  }
}

/**
 * Reports each key the bundle names that differs from the trust file's key of the same id
 * (for log and witness keys, of the same name; their ids are hashes of name and key).
 * Keys the trust file lacks are not reported: nothing uses them.
 */
function compareKeys(
  keys: EvidenceBundle['keys'],
  trust: Trust,
  report: (problem: string) => void,
): void {
  keys.logKeys.forEach((text, i) => {
    try {
      const key = parseVerifierKey(text);
      const trusted = trust.logKeys.filter((k) => k.name === key.name);
      if (
        trusted.length > 0 &&
        !trusted.some((k) => toBase64(k.publicKey) === toBase64(key.publicKey))
      )
        report(
          `bundle log key ${text} differs from the trust file's key for ${key.name} (public key ${trusted.map((k) => toBase64(k.publicKey)).join(' or ')})`,
        );
    } catch (error) {
      report(`bundle logKeys[${i}] is malformed: ${message(error)}`);
    }
  });
  keys.witnesses.forEach((text, i) => {
    try {
      const key = parseCosignerVerifierKey(text);
      const trusted = trust.policy.witnesses.filter((w) => w.name === key.name);
      if (
        trusted.length > 0 &&
        !trusted.some((w) => toBase64(w.publicKey) === toBase64(key.publicKey))
      )
        report(
          `bundle witness key ${text} differs from the trust file's key for ${key.name} (public key ${trusted.map((w) => toBase64(w.publicKey)).join(' or ')})`,
        );
    } catch (error) {
      report(`bundle witnesses[${i}] is malformed: ${message(error)}`);
    }
  });
  if (keys.witnessThreshold !== trust.policy.threshold)
    report(
      `bundle says witness threshold ${keys.witnessThreshold}, the trust file ${trust.policy.threshold}`,
    );
  for (const key of keys.agencyKeys) {
    const trusted = trust.agencyKeys.filter((k) => k.keyId === key.keyId);
    if (trusted.length === 0) continue;
    // Times compare as instants: "…00Z" and "…00.000Z" are the same validity bound.
    const instant = (t: string | null | undefined) => (t == null ? null : Date.parse(t));
    const differences = trusted.map((k) =>
      [
        k.agency !== key.agency && `agency ${key.agency} vs ${k.agency}`,
        toBase64(k.publicKey) !== key.publicKey &&
          `public key ${key.publicKey} vs ${toBase64(k.publicKey)}`,
        instant(k.validFrom) !== instant(key.validFrom) &&
          `validFrom ${key.validFrom} vs ${k.validFrom}`,
        instant(k.validUntil) !== instant(key.validUntil) &&
          `validUntil ${key.validUntil ?? 'none'} vs ${k.validUntil ?? 'none'}`,
      ].filter((d): d is string => typeof d === 'string'),
    );
    if (differences.every((d) => d.length > 0))
      report(
        `bundle key ${key.keyId} differs from the trust file's (bundle vs trust file): ${differences[0]!.join(', ')}`,
      );
  }
}

/** Says which log keys were expected when none of them signed (signed-note §Signatures). */
function logSignatureProblem(error: unknown, trust: Trust): string {
  if (!(error instanceof UnverifiedNoteError)) return message(error);
  const expected = trust.logKeys.map((k) => `${k.name}+${toHex(k.keyHash)}`).join(', ');
  const found = error.unverified.map((s) => `${s.name}+${toHex(s.keyHash)}`).join(', ');
  return `checkpoint is not signed by the log (expected one of ${expected}; found only ${found || 'none'})`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
