// Exports a case's evidence bundle (ledger/evidence.ts) from the log in PostgreSQL: the
// case's entries as stored, each with an RFC 9162 §2.1.3 inclusion proof, all bound to the
// latest published (cosigned) checkpoint. It verifies nothing: whoever receives the bundle
// checks it offline against their own trust file (`onewindow ledger verify-bundle`).
import type pg from 'pg';
import { AGENCIES, type Signer } from '../../domain/agencyIds.ts';
import { NotFoundError, NotYetPublishedError } from '../../domain/errors.ts';
import { fromUtf8 } from '../bytes.ts';
import { parseCheckpoint } from '../checkpoint.ts';
import { EVIDENCE_TYPE, type EvidenceBundle } from '../evidence.ts';
import { keyEventCaseId } from '../keyEvents.ts';
import { splitNote } from '../note.ts';
import type { TrustFile } from '../trust.ts';
import { LogReader } from './logReader.ts';
import { entriesOfCase, storedEntry, type StoredEntry } from './reader.ts';

/**
 * Builds the evidence bundle of `caseId`, with the keys of `trust` the entries need.
 * Requires a log whose latest published checkpoint covers every entry of the case.
 * @throws NotFoundError when the case has no entries or no published checkpoint covers
 *   them yet (the next one will: ask again once it is published).
 */
export async function buildEvidenceBundle(
  pool: pg.Pool,
  caseId: string,
  trust: TrustFile,
): Promise<EvidenceBundle> {
  // Entries before the checkpoint: a checkpoint read second covers at least as much.
  const stored = await entriesOfCase(pool, caseId);
  if (stored.length === 0)
    throw new NotFoundError(`case ${caseId} has no ledger entries`, 'caseId');
  const reader = new LogReader(pool);
  const checkpoint = await reader.latestPublished();
  const last = stored[stored.length - 1]!.entry.index;
  if (!checkpoint || checkpoint.size <= last) {
    throw new NotYetPublishedError(
      `no published checkpoint covers entry ${last} of case ${caseId} yet (latest published size ${checkpoint?.size ?? 'none'}); ask again in a few seconds`,
    );
  }
  // The key events logged before the checkpoint, of every signer: the verifier learns from
  // them the keys added since its trust file was written, and the revocations (keyEvents.ts).
  const keyEvents = await keyEventsBefore(pool, checkpoint.size);
  // Every proof against the same size, so all are bound to this one checkpoint.
  const proven = (entries: StoredEntry[]) =>
    Promise.all(entries.map((s) => reader.inclusion(s.entry.index, checkpoint.size)));
  const [proofs, keyEventProofs] = await Promise.all([proven(stored), proven(keyEvents)]);
  const keyIds = new Set(stored.map((s) => s.entry.statement.keyId));
  return {
    type: EVIDENCE_TYPE,
    // The log's own name for itself, from the checkpoint body (tlog-checkpoint §Note text).
    origin: parseCheckpoint(splitNote(checkpoint.note).text).origin,
    caseId,
    checkpoint: checkpoint.note,
    size: checkpoint.size,
    entries: stored.map((s, i) => ({
      index: s.entry.index,
      entry: exactText(s.bytes, s.entry.index),
      inclusionProof: proofs[i]!.inclusionProof,
    })),
    keyEvents: keyEvents.map((s, i) => ({
      index: s.entry.index,
      entry: exactText(s.bytes, s.entry.index),
      inclusionProof: keyEventProofs[i]!.inclusionProof,
    })),
    keys: {
      logKeys: trust.logKeys,
      witnesses: trust.witnesses,
      witnessThreshold: trust.witnessThreshold,
      agencyKeys: trust.agencyKeys.filter((k) => keyIds.has(k.keyId)),
    },
    exportedAt: new Date().toISOString(),
  };
}

/** The key events of every signer at indices below `size`, in log order. */
async function keyEventsBefore(pool: pg.Pool, size: number): Promise<StoredEntry[]> {
  const signers: Signer[] = [...AGENCIES, 'orchestrator'];
  const { rows } = await pool.query<{ entry: Buffer; leaf_hash: Buffer }>(
    'SELECT entry, leaf_hash FROM ledger_entries WHERE case_id = ANY($1) AND idx < $2 ORDER BY idx',
    [signers.map(keyEventCaseId), size],
  );
  return rows.map(storedEntry);
}

/** The entry bytes as text; refuses bytes a string could not carry exactly. */
function exactText(bytes: Uint8Array, index: number): string {
  try {
    return fromUtf8(bytes);
  } catch {
    throw new Error(
      `entry ${index} is not valid UTF-8, so no RFC 8785 entry: the stored log is damaged (run onewindow ledger audit)`,
    );
  }
}
