import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { LruMap } from '../ledger/lruMap.ts';
import { buildApp } from './app.ts';
import { CaseListQuery, listCases, pageTokens, RUN_FACTS_KEPT, type ListDeps } from './caseList.ts';

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

describe('a case list', () => {
  it('lists a closed run it cannot describe as visibility shows it, and tells the log why', async () => {
    const warnings: unknown[] = [];
    const deps: ListDeps = {
      temporal: {
        workflowService: {
          listWorkflowExecutions: () =>
            Promise.resolve({
              executions: [{ execution: { workflowId: 'case:U-1', runId: 'run-1' }, status: 2 }],
            }),
          describeWorkflowExecution: () =>
            Promise.reject(
              Object.assign(new Error('14 UNAVAILABLE: no connection'), {
                code: 14,
                details: 'no connection',
                metadata: new Metadata(),
              }),
            ),
        },
      } as never,
      pool: {
        query: () =>
          Promise.resolve({ rows: [{ case_id: 'c-1', unit_id: 'U-1', run_id: 'run-1' }] }),
      } as never,
      namespace: 'default',
      pageTokens: pageTokens(new Uint8Array(32)),
      runFacts: new LruMap(RUN_FACTS_KEPT),
      warn: (fields, message) => warnings.push({ fields, message }),
    };
    const page = await listCases(deps, "WorkflowType = 'jointTransferCase'", 20);
    expect(page.cases).toMatchObject([{ caseId: 'c-1', unitId: 'U-1' }]);
    expect(warnings).toEqual([
      {
        fields: { runId: 'run-1', error: '14 UNAVAILABLE: no connection' },
        message:
          'a run a case list holds could not be described: listed as visibility shows it, if a case row names it',
      },
    ]);
  });
});
