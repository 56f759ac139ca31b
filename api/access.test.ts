import { describe, expect, it } from 'vitest';
import { KeyNotAuthorizedError, MalformedStatementError } from '../domain/errors.ts';
import type { Entry } from '../domain/statement.ts';
import { generateSigningKey } from '../ledger/keys.ts';
import { ledgerAccessRecorder, type AccessRecord } from './access.ts';
import { SigningKeyRefusedError } from './errors.ts';

const key = generateSigningKey('orchestrator.agency.onewindow');
const record: AccessRecord = {
  caseId: 'c-1',
  actor: 'supervisor:supervisor-1',
  role: 'supervisor',
  agency: null,
  fields: ['application'],
  purpose: 'checking the case',
};

describe('recording a read of personal data on the ledger', () => {
  it('answers with the index the sequencer gave the access entry', async () => {
    const recordAccess = ledgerAccessRecorder({
      key,
      // Only the index is read of the entry.
      append: () => Promise.resolve({ entry: { index: 41 } as Entry }),
    });
    await expect(recordAccess(record)).resolves.toEqual({ ledgerIndex: 41 });
  });

  it("refuses the read as unavailable (503) while the ledger refuses the server's key, naming why", async () => {
    const recordAccess = ledgerAccessRecorder({
      key,
      append: () => Promise.reject(new KeyNotAuthorizedError(`key ${key.keyId} was revoked at T`)),
    });
    const refused = recordAccess(record);
    await expect(refused).rejects.toBeInstanceOf(SigningKeyRefusedError);
    await expect(refused).rejects.toThrow(
      `the ledger refuses this server's key for the access log (key ${key.keyId} was revoked at T)`,
    );
  });

  it('passes any other refusal on as it is', async () => {
    const malformed = new MalformedStatementError('facts.purpose: too long');
    const recordAccess = ledgerAccessRecorder({ key, append: () => Promise.reject(malformed) });
    await expect(recordAccess(record)).rejects.toBe(malformed);
  });
});
