import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SAMPLE_APPLICATION_INPUT } from '../test/support/applications.ts';
import { CaseApplication, CaseInput, caseWorkflowId } from './application.ts';

/** The unit tests' sample application as a citizen submits it (test/support/applications.ts). */
const application = SAMPLE_APPLICATION_INPUT;

const issues = (input: unknown) =>
  CaseApplication.safeParse(input).error?.issues.map((i) => [i.path.join('.'), i.message]);

describe('a case application', () => {
  it('is accepted as a citizen submits it', () => {
    expect(CaseApplication.parse(application)).toEqual(application);
  });

  it('is refused when the buyer and the seller have the same ID number, naming the buyer’s', () => {
    const seller = { name: 'Mina Park', idNumber: application.buyer.idNumber };
    expect(issues({ ...application, seller })).toEqual([
      ['buyer.idNumber', 'must not be the seller’s ID number: buyer and seller are two people'],
    ]);
  });

  it('refuses a unit id in lower case, which would open a second case for the unit', () => {
    // The workflow id is the unit id as given, and Temporal compares ids exactly.
    expect(caseWorkflowId('u-1')).not.toBe(caseWorkflowId('U-1'));
    for (const unitId of ['u-1', 'U-water-1', 'u'])
      expect(issues({ ...application, unitId }), unitId).toEqual([
        [
          'unitId',
          'must be 1-48 capital letters, digits or dashes, starting with a letter or digit',
        ],
      ]);
    for (const unitId of ['U-1', 'U-GAS-INSPECTION-3', '12-B'])
      expect(issues({ ...application, unitId }), unitId).toBeUndefined();
  });
});

describe('the input a case workflow starts with', () => {
  it('takes the case id the API gives (a UUID) and no other', () => {
    const input = (caseId: string) => CaseInput.safeParse({ caseId, application });
    expect(input(randomUUID()).success).toBe(true);
    for (const caseId of ['', 'Case 1', '/c1'])
      expect(input(caseId).error?.issues[0]?.path, JSON.stringify(caseId)).toEqual(['caseId']);
  });
});
