import { describe, expect, it } from 'vitest';
import {
  allowedOutcomes,
  extraStatementFields,
  roleDecides,
  STATEMENT_FIELDS,
} from './outcomes.ts';
import { Statement } from './statement.ts';

describe('who decides an open step', () => {
  it('is an officer for a review, a citizen for a payment, and the agency’s own system for any', () => {
    expect(roleDecides('officer', 'review')).toBe(true);
    expect(roleDecides('citizen', 'review')).toBe(false);
    expect(roleDecides('citizen', 'confirmPayment')).toBe(true);
    expect(roleDecides('citizen', 'settleArrears.water')).toBe(true);
    expect(roleDecides('officer', 'settleArrears.water')).toBe(false);
    for (const step of ['review', 'confirmPayment', 'settleArrears.gas'])
      expect(roleDecides('system', step)).toBe(true);
  });
});

describe('the outcomes of a decision on an open step', () => {
  it('are its kind’s, by the step id’s prefix', () => {
    expect(allowedOutcomes('review')).toEqual(['approved', 'rejected']);
    expect(allowedOutcomes('settleArrears.gas')).toEqual(['settled']);
  });

  it('are none for a step id named after an Object.prototype member', () => {
    for (const stepId of ['constructor', 'toString', 'hasOwnProperty.x', '__proto__']) {
      expect(allowedOutcomes(stepId), stepId).toEqual([]);
      expect(roleDecides('officer', stepId), stepId).toBe(false);
    }
  });
});

describe("a decision's statement fields", () => {
  it('are the Statement schema’s own, which the workflow checks without zod', () => {
    expect([...STATEMENT_FIELDS].sort()).toEqual(Object.keys(Statement.shape).sort());
  });

  it('leave out nothing beside them', () => {
    const fields = Object.fromEntries(STATEMENT_FIELDS.map((f) => [f, 1]));
    expect(extraStatementFields(fields)).toEqual([]);
    expect(extraStatementFields({ ...fields, reason: 'x', name: 'y' })).toEqual(['reason', 'name']);
  });
});
