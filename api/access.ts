// The access audit (issue 5, item 6): every read of a case's personal data by an officer or a
// supervisor is itself a signed ledger entry (who, which case, which fields, when, why), signed
// with the operator's key before the data leaves the server. The citizen's "who accessed my
// data" is read back from the ledger, so nobody can drop a line of it unnoticed.
//
// Who read and why are personal data (a staff member's name, a purpose that may name
// people), and nothing personal goes on the ledger (ARCHITECTURE.md §1): the entry shows the
// reader's role, agency and the fields read, and commits to the whole record under a salt of
// its own; the record and the salt stay in PostgreSQL (access_records), where the log's
// readers with a right to them get them back, checked against the commitment, and where a
// case's erasure removes them (infra/erasure.ts).
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import { Agency } from '../domain/agency.ts';
import { KEY_REFUSALS, LedgerError } from '../domain/errors.ts';
import { STATEMENT_TYPE, type Entry, type SignedStatement } from '../domain/statement.ts';
import { plainText } from '../domain/text.ts';
import type { SigningKey } from '../ledger/keys.ts';
import { toBase64 } from '../ledger/bytes.ts';
import { commitTo, opensCommitment, signStatement } from '../ledger/statement.ts';
import { SigningKeyRefusedError } from './errors.ts';

/** The step id of access entries: not a step of the process, a record beside it. */
export const ACCESS_STEP = 'access';

/** Why a person reads personal data: required, and shown to the case's citizen and supervisors. */
export const Purpose = plainText(
  z
    .string({ error: 'must say why you read this case (the citizen sees it)' })
    .trim()
    .min(3, 'must say why you read this case (the citizen sees it)')
    .max(200, 'must be at most 200 characters'),
);

export const AccessRecord = z.object({
  caseId: z.string(),
  actor: z.string(),
  role: z.enum(['officer', 'supervisor']),
  agency: Agency.nullable(),
  fields: z.array(z.string()),
  purpose: z.string(),
});
export type AccessRecord = z.infer<typeof AccessRecord>;

/**
 * One line of a case's access log, as read back from its ledger entry. `actor` and `purpose`
 * are null when no record opens the entry's commitment: erased with the case, or not kept.
 */
export const AccessLogLine = AccessRecord.omit({ caseId: true }).extend({
  actor: z.string().nullable(),
  purpose: z.string().nullable(),
  at: z.string(),
  ledgerIndex: z.number().int(),
});
export type AccessLogLine = z.infer<typeof AccessLogLine>;

/**
 * Records one access and resolves once its entry is in the log. `keep: false` keeps no record
 * of who read and why (the entry's commitment then opens to nothing), for a read of an erased
 * case: it shows nothing personal, and a record kept now would outlive the erasure.
 */
export type RecordAccess = (
  record: AccessRecord,
  options?: { keep?: boolean },
) => Promise<{ ledgerIndex: number }>;

/** An access record and the salt its entry's commitment is under, as kept off the ledger. */
export interface AccessOpening {
  salt: Uint8Array;
  record: AccessRecord;
}

/**
 * The signed statement of one access: role, agency and fields in the clear, the whole record
 * (who and why too) only as a commitment under `salt`.
 */
export function accessStatement(
  record: AccessRecord,
  key: SigningKey,
  salt: Uint8Array = randomBytes(32),
  now: Date = new Date(),
): SignedStatement {
  return signStatement(
    {
      type: STATEMENT_TYPE,
      // A random 64-bit repeat number: each access is its own entry (ids must end in digits).
      statementId: `${record.caseId}/${ACCESS_STEP}/${randomBytes(8).readBigUInt64BE()}`,
      caseId: record.caseId,
      stepId: ACCESS_STEP,
      agency: 'orchestrator',
      outcome: 'read',
      commitment: commitTo(salt, record),
      facts: { role: record.role, agency: record.agency, fields: record.fields.join(',') },
      issuedAt: now.toISOString(),
      keyId: key.keyId,
    },
    key,
  );
}

/**
 * A RecordAccess that keeps the record in `pool` (access_records), then signs with `key` and
 * waits for `append` (the sequencer) to log the entry. Kept first: an entry whose record was
 * lost would tell the citizen of a read by no one. When
 * the ledger refuses the key itself (revoked before this process restarted with its successor,
 * say), no read can be logged until it does: a SigningKeyRefusedError (503) says so, rather
 * than an internal error.
 */
export function ledgerAccessRecorder(deps: {
  key: SigningKey;
  append: (signed: SignedStatement) => Promise<{ entry: Entry }>;
  pool: Pick<pg.Pool, 'query'>;
}): RecordAccess {
  return async (record, { keep = true } = {}) => {
    const salt = randomBytes(32);
    const signed = accessStatement(record, deps.key, salt);
    const { statementId } = signed.statement;
    // Only while the case is not erased, under a share lock on its row that the erasure's
    // update lock waits for (infra/erasure.ts): a read that took the row just before an
    // erasure committed (`keep` judged from it) would otherwise keep who read and why of an
    // erased case for good.
    if (keep)
      await deps.pool.query(
        `INSERT INTO access_records (statement_id, case_id, salt, record)
         SELECT $1, $2, $3, $4 FROM cases WHERE case_id = $2 AND erased_at IS NULL FOR SHARE`,
        [statementId, record.caseId, salt, record],
      );
    try {
      const { entry } = await deps.append(signed);
      return { ledgerIndex: entry.index };
    } catch (error) {
      // Refused, so never logged, and the read is not served: its record goes too. (After any
      // other failure the entry may have been logged all the same, so the record stays.)
      if (keep && error instanceof LedgerError)
        await deps.pool.query('DELETE FROM access_records WHERE statement_id = $1', [statementId]);
      if (error instanceof LedgerError && KEY_REFUSALS.includes(error.name))
        throw new SigningKeyRefusedError(
          `the ledger refuses this server's key for the access log (${error.message}); no read is served until the API signs with a key the ledger accepts`,
        );
      throw error;
    }
  };
}

/** The access records kept for `caseId`, by the statement id of their entries. */
export async function accessRecordsOf(
  pool: Pick<pg.Pool, 'query'>,
  caseId: string,
): Promise<Map<string, { salt: string; record: unknown }>> {
  const { rows } = await pool.query<{ statement_id: string; salt: Buffer; record: unknown }>(
    'SELECT statement_id, salt, record FROM access_records WHERE case_id = $1',
    [caseId],
  );
  return new Map(
    rows.map((row) => [
      row.statement_id,
      { salt: toBase64(new Uint8Array(row.salt)), record: row.record },
    ]),
  );
}

/**
 * The access log of a case, from its entries: each line is a signed, sequenced access. Who
 * read and why come from the record that opens the entry's commitment (`records`, from
 * accessRecordsOf), and from nothing else: a record that does not open it is not shown.
 * Entries from before the records were kept off the ledger carry both in their facts.
 */
export function accessLogOf(
  entries: readonly Entry[],
  records: ReadonlyMap<string, { salt: string; record: unknown }>,
): AccessLogLine[] {
  return entries.flatMap((entry) => {
    const { statement } = entry;
    if (statement.stepId !== ACCESS_STEP || statement.agency !== 'orchestrator') return [];
    const facts = statement.facts;
    const kept = records.get(statement.statementId);
    const opened = kept && openedRecord(kept, statement);
    const line = AccessLogLine.safeParse({
      at: statement.issuedAt,
      ledgerIndex: entry.index,
      actor: opened?.actor ?? facts.actor ?? null,
      role: facts.role,
      agency: facts.agency,
      fields: typeof facts.fields === 'string' && facts.fields ? facts.fields.split(',') : [],
      purpose: opened?.purpose ?? facts.purpose ?? null,
    });
    return line.success ? [line.data] : [];
  });
}

/**
 * The kept record if it opens the entry's commitment and agrees with what the entry shows
 * (its case, the reader's role and agency, the fields read); otherwise undefined.
 */
function openedRecord(
  kept: { salt: string; record: unknown },
  statement: Entry['statement'],
): AccessRecord | undefined {
  if (!opensCommitment(kept.salt, kept.record, statement.commitment)) return undefined;
  const record = AccessRecord.safeParse(kept.record).data;
  const { facts } = statement;
  const agrees =
    record?.caseId === statement.caseId &&
    record.role === facts.role &&
    record.agency === facts.agency &&
    record.fields.join(',') === facts.fields;
  return agrees ? record : undefined;
}
