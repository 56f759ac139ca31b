import { describe, expect, it } from 'vitest';
import { KeyNotAuthorizedError, MalformedStatementError } from '../domain/errors.ts';
import type { Entry, SignedStatement } from '../domain/statement.ts';
import { toBase64 } from '../ledger/bytes.ts';
import { generateSigningKey } from '../ledger/keys.ts';
import { signStatement } from '../ledger/statement.ts';
import { accessLogOf, accessStatement, ledgerAccessRecorder, type AccessRecord } from './access.ts';
import { SigningKeyRefusedError } from './errors.ts';

const key = generateSigningKey('orchestrator.agency.onewindow');
const record: AccessRecord = {
  caseId: 'c-1',
  actor: 'supervisor:jane.doe@registry.example',
  role: 'supervisor',
  agency: null,
  fields: ['application'],
  purpose: 'call from the buyer, Li Wei',
};
const salt = new Uint8Array(32).fill(7);

/** A pool that keeps every insert's parameters, as access_records would. */
function keepingPool() {
  const inserted: unknown[][] = [];
  return {
    inserted,
    query: (_text: string, values: unknown[]) => {
      inserted.push(values);
      return Promise.resolve({ rows: [] });
    },
  } as unknown as { inserted: unknown[][]; query: never };
}

/** The entry the sequencer would make of `signed`, at `index`. */
const entryOf = (signed: SignedStatement, index = 5): Entry =>
  ({ index, statement: signed.statement, signature: signed.signature }) as Entry;

describe('recording a read of personal data on the ledger', () => {
  it('answers with the index the sequencer gave the access entry', async () => {
    const recordAccess = ledgerAccessRecorder({
      key,
      // Only the index is read of the entry.
      append: () => Promise.resolve({ entry: { index: 41 } as Entry }),
      pool: keepingPool(),
    });
    await expect(recordAccess(record)).resolves.toEqual({ ledgerIndex: 41 });
  });

  it('keeps the record and its salt off the ledger before the entry is appended, under its statement id', async () => {
    const pool = keepingPool();
    let appended: SignedStatement | undefined;
    const recordAccess = ledgerAccessRecorder({
      key,
      append: (signed) => {
        expect(pool.inserted).toHaveLength(1);
        appended = signed;
        return Promise.resolve({ entry: entryOf(signed) });
      },
      pool,
    });
    await recordAccess(record);
    const [statementId, caseId, keptSalt, kept] = pool.inserted[0]!;
    expect([statementId, caseId, kept]).toEqual([appended!.statement.statementId, 'c-1', record]);
    expect(keptSalt).toHaveLength(32);
  });

  it('keeps no record of who read and why when told not to (a read of an erased case)', async () => {
    const pool = keepingPool();
    const recordAccess = ledgerAccessRecorder({
      key,
      append: (signed) => Promise.resolve({ entry: entryOf(signed) }),
      pool,
    });
    await recordAccess(record, { keep: false });
    expect(pool.inserted).toEqual([]);
  });

  it('takes back the record of a read whose entry the ledger refused', async () => {
    const pool = keepingPool();
    const recordAccess = ledgerAccessRecorder({
      key,
      append: () => Promise.reject(new MalformedStatementError('facts.fields: too long')),
      pool,
    });
    await expect(recordAccess(record)).rejects.toThrow('facts.fields: too long');
    const [kept, takenBack] = pool.inserted;
    // The INSERT's statement id, then the DELETE's: the same one.
    expect(takenBack).toEqual([kept![0]]);
  });

  it("refuses the read as unavailable (503) while the ledger refuses the server's key, naming why", async () => {
    const recordAccess = ledgerAccessRecorder({
      key,
      append: () => Promise.reject(new KeyNotAuthorizedError(`key ${key.keyId} was revoked at T`)),
      pool: keepingPool(),
    });
    const refused = recordAccess(record);
    await expect(refused).rejects.toBeInstanceOf(SigningKeyRefusedError);
    await expect(refused).rejects.toThrow(
      `the ledger refuses this server's key for the access log (key ${key.keyId} was revoked at T)`,
    );
  });

  it('passes any other refusal on as it is', async () => {
    const malformed = new MalformedStatementError('facts.fields: too long');
    const recordAccess = ledgerAccessRecorder({
      key,
      append: () => Promise.reject(malformed),
      pool: keepingPool(),
    });
    await expect(recordAccess(record)).rejects.toBe(malformed);
  });
});

describe('an access entry', () => {
  const signed = accessStatement(record, key, salt);

  it("shows the reader's role, agency and the fields read, and neither who read nor why", () => {
    expect(signed.statement.facts).toEqual({
      role: 'supervisor',
      agency: null,
      fields: 'application',
    });
    const text = JSON.stringify(signed);
    expect(text).not.toContain('jane.doe');
    expect(text).not.toContain('Li Wei');
  });

  it('is read back with who and why from the record that opens its commitment', () => {
    const kept = new Map([[signed.statement.statementId, { salt: toBase64(salt), record }]]);
    expect(accessLogOf([entryOf(signed)], kept)).toEqual([
      {
        at: signed.statement.issuedAt,
        ledgerIndex: 5,
        actor: record.actor,
        role: 'supervisor',
        agency: null,
        fields: ['application'],
        purpose: record.purpose,
      },
    ]);
  });

  it('is read back without who and why when no record is kept (erased) or the kept one does not open it', () => {
    const other = { ...record, purpose: 'another purpose' };
    for (const kept of [
      new Map(),
      new Map([[signed.statement.statementId, { salt: toBase64(salt), record: other }]]),
      new Map([[signed.statement.statementId, { salt: toBase64(new Uint8Array(32)), record }]]),
    ]) {
      expect(accessLogOf([entryOf(signed)], kept)).toMatchObject([
        { actor: null, purpose: null, role: 'supervisor', fields: ['application'] },
      ]);
    }
  });

  it('does not take who and why from a record that opens the commitment but disagrees with the entry', () => {
    // Signed by the operator with facts other than the record it commits to.
    const mismatched = accessStatement({ ...record, fields: ['application', 'steps'] }, key, salt);
    const facts = { ...mismatched.statement.facts, fields: 'application' };
    const entry = entryOf(signStatement({ ...mismatched.statement, facts }, key));
    const kept = new Map([
      [
        mismatched.statement.statementId,
        { salt: toBase64(salt), record: { ...record, fields: ['application', 'steps'] } },
      ],
    ]);
    expect(accessLogOf([entry], kept)).toMatchObject([{ actor: null, purpose: null }]);
  });

  it('from before the records were kept off the ledger is read back from its facts', () => {
    const old = {
      ...signed,
      statement: {
        ...signed.statement,
        facts: { ...signed.statement.facts, actor: 'officer:registry:o-1', purpose: 'review' },
      },
    };
    expect(accessLogOf([entryOf(old)], new Map())).toMatchObject([
      { actor: 'officer:registry:o-1', purpose: 'review' },
    ]);
  });
});
