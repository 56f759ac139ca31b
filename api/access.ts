// The access audit (issue 5, item 6): every read of a case's personal data by an officer or a
// supervisor is itself a signed ledger entry (who, which case, which fields, when, why), signed
// with the operator's key before the data leaves the server. The citizen's "who accessed my
// data" is read back from the ledger, so nobody can drop a line of it unnoticed.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { Agency } from '../domain/agency.ts';
import { KEY_REFUSALS, LedgerError } from '../domain/errors.ts';
import { STATEMENT_TYPE, type Entry, type SignedStatement } from '../domain/statement.ts';
import { plainText } from '../domain/text.ts';
import type { SigningKey } from '../ledger/keys.ts';
import { commitTo, signStatement } from '../ledger/statement.ts';
import { SigningKeyRefusedError } from './errors.ts';

/** The step id of access entries: not a step of the process, a record beside it. */
export const ACCESS_STEP = 'access';

/** Why a person reads personal data: required, recorded on the ledger, so no personal data. */
export const Purpose = plainText(
  z
    .string({ error: 'must say why you read this case (it is recorded on the ledger)' })
    .trim()
    .min(3, 'must say why you read this case (it is recorded on the ledger)')
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

/** One line of a case's access log, as read back from its ledger entry. */
export const AccessLogLine = AccessRecord.omit({ caseId: true }).extend({
  at: z.string(),
  ledgerIndex: z.number().int(),
});
export type AccessLogLine = z.infer<typeof AccessLogLine>;

/** Records one access and resolves once its entry is in the log. */
export type RecordAccess = (record: AccessRecord) => Promise<{ ledgerIndex: number }>;

/** The signed statement of one access. The commitment is to the record under a fresh salt. */
export function accessStatement(
  record: AccessRecord,
  key: SigningKey,
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
      commitment: commitTo(randomBytes(32), record),
      facts: {
        actor: record.actor,
        role: record.role,
        agency: record.agency,
        fields: record.fields.join(','),
        purpose: record.purpose,
      },
      issuedAt: now.toISOString(),
      keyId: key.keyId,
    },
    key,
  );
}

/**
 * A RecordAccess that signs with `key` and waits for `append` (the sequencer) to log it. When
 * the ledger refuses the key itself (revoked before this process restarted with its successor,
 * say), no read can be logged until it does: a SigningKeyRefusedError (503) says so, rather
 * than an internal error.
 */
export function ledgerAccessRecorder(deps: {
  key: SigningKey;
  append: (signed: SignedStatement) => Promise<{ entry: Entry }>;
}): RecordAccess {
  return async (record) => {
    try {
      const { entry } = await deps.append(accessStatement(record, deps.key));
      return { ledgerIndex: entry.index };
    } catch (error) {
      if (error instanceof LedgerError && KEY_REFUSALS.includes(error.name))
        throw new SigningKeyRefusedError(
          `the ledger refuses this server's key for the access log (${error.message}); no read is served until the API signs with a key the ledger accepts`,
        );
      throw error;
    }
  };
}

/** The access log of a case, from its entries: each line is a signed, sequenced access. */
export function accessLogOf(entries: readonly Entry[]): AccessLogLine[] {
  return entries.flatMap((entry) => {
    const { statement } = entry;
    if (statement.stepId !== ACCESS_STEP || statement.agency !== 'orchestrator') return [];
    const facts = statement.facts;
    const line = AccessLogLine.safeParse({
      at: statement.issuedAt,
      ledgerIndex: entry.index,
      actor: facts.actor,
      role: facts.role,
      agency: facts.agency,
      fields: typeof facts.fields === 'string' && facts.fields ? facts.fields.split(',') : [],
      purpose: facts.purpose,
    });
    return line.success ? [line.data] : [];
  });
}
