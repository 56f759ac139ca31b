import { describe, expect, it } from 'vitest';
import { CaseListQuery } from './caseList.ts';

describe("the supervisors' step filter", () => {
  it.each(['review', 'precheck.gas', 'close', 'transferAccount.gas.resolved'])(
    'takes %s: a step, or a record a case holds for a supervisor',
    (step) => {
      expect(CaseListQuery.parse({ step }).step).toBe(step);
    },
  );

  it.each(['transferAccount.gas.resolved.again', 'Review', 'review.', "review' OR 1=1", ''])(
    'refuses %j naming the field, before it reaches the visibility query',
    (step) => {
      const parsed = CaseListQuery.safeParse({ step });
      expect(parsed.success).toBe(false);
      expect(parsed.error!.issues[0]!.path).toEqual(['step']);
    },
  );
});
