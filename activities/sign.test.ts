import { describe, expect, it } from 'vitest';
import { toBase64 } from '../ledger/bytes.ts';
import { agencyKeyName, generateSigningKey } from '../ledger/keys.ts';
import { signStep, statementIdOf } from './sign.ts';

const CASE = '3f6c1b7e-1d2a-4c5b-9e8f-0a1b2c3d4e5f';

describe('statementIdOf', () => {
  it('is <caseId>/<stepId> without a repeat number', () => {
    expect(statementIdOf(CASE, 'precheck.gas')).toBe(`${CASE}/precheck.gas`);
  });

  it('is <caseId>/<stepId>/<n> with one', () => {
    expect(statementIdOf(CASE, 'checkTitle', 1)).toBe(`${CASE}/checkTitle/1`);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses the repeat number %s', (n) => {
    expect(() => statementIdOf(CASE, 'checkTitle', n)).toThrow(RangeError);
  });
});

describe('signStep', () => {
  it('signs the repeat number into the statement id', () => {
    const step = signStep({
      key: generateSigningKey(agencyKeyName('tax')),
      agency: 'tax',
      caseId: CASE,
      stepId: 'assessTax',
      n: 2,
      salt: toBase64(new Uint8Array(16)),
      outcome: 'passed',
      result: {},
      facts: {},
    });
    expect(step.signed.statement.statementId).toBe(`${CASE}/assessTax/2`);
  });
});
