import { describe, expect, it } from 'vitest';
import { buildApp } from './app.ts';
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

describe("the supervisors' status filter", () => {
  it('refuses a status it does not know with a 400 naming status and the statuses it takes', async () => {
    const app = await buildApp({
      temporal: {} as never,
      pool: {} as never,
      verifyToken: () => Promise.resolve({ role: 'supervisor', sub: 's1' }),
      recordAccess: () => Promise.reject(new Error('no access records in this test')),
      webAssets: { pages: new Map(), assets: new Map(), inputs: [] },
    });
    const response = await app.inject({
      method: 'GET',
      url: '/cases?status=foo',
      headers: { authorization: 'Bearer supervisor.x.y' },
    });
    await app.close();
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      error: 'invalid_request',
      field: 'status',
      reason: 'must be one of submitted, running, completed, rejected, expired, failed',
    });
  });
});
