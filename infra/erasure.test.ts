import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { eraseCase } from './erasure.ts';

const caseId = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const erasedAt = new Date('2026-12-01T10:00:00Z');

/** What PostgreSQL and Temporal were asked, in order; `commit` is the erasure's commit. */
function fakes(
  row: { run_id: string | null; erased_at: Date | null },
  temporal: {
    status?: string;
    describe?: Error;
    delete?: Error;
    /** The unit's other runs, as visibility lists them: each with its chain's first run. */
    others?: {
      runId: string;
      status: string;
      firstRunId: string;
      indexed?: false;
      /** Deleted after the visibility store listed it (another case of the unit erased). */
      gone?: true;
    }[];
  } = {},
) {
  const calls: string[] = [];
  // The statement's verb, the table a DELETE names, a transaction's start whole.
  const said = (text: string) =>
    text.startsWith('BEGIN') ? text : (/^DELETE FROM \w+/.exec(text)?.[0] ?? text.split(' ')[0]!);
  const query = (text: string) => {
    calls.push(said(text));
    return Promise.resolve({ rows: [{ erased_at: erasedAt }] });
  };
  const pool = {
    query: (text: string) => {
      if (!text.startsWith('SELECT')) calls.push(said(text));
      return Promise.resolve({ rows: [{ workflow_id: 'case:U-1', ...row }] });
    },
    connect: () => Promise.resolve({ query, release: () => undefined }),
  } as unknown as pg.Pool;
  const client = {
    options: { namespace: 'default' },
    workflow: {
      // One desk request of the case (workflows/agencyDecision.ts), as visibility lists it.
      list: async function* ({ query }: { query: string }) {
        calls.push(`list ${query}`);
        if (query.startsWith('WorkflowId =')) {
          yield await Promise.resolve({ runId: 'run-1', status: { name: 'COMPLETED' } });
          for (const run of temporal.others ?? [])
            if (run.indexed !== false) yield { runId: run.runId, status: { name: run.status } };
          return;
        }
        yield await Promise.resolve({ workflowId: `desk:${caseId}:review:r-1`, runId: 'desk-1' });
      },
      getHandle: (workflowId: string, runId?: string) => ({
        describe: () => {
          // Without a run id, the id's newest run; another run's status is its own.
          const other = runId
            ? temporal.others?.find((r) => r.runId === runId)
            : temporal.others?.at(-1);
          if (other || !runId) {
            calls.push(`describe ${workflowId} ${runId ?? 'newest'}`);
            return Promise.resolve({
              runId: other?.runId ?? 'run-1',
              status: { name: other?.status ?? temporal.status ?? 'COMPLETED' },
            });
          }
          calls.push(`describe ${workflowId} ${runId}`);
          return temporal.describe
            ? Promise.reject(temporal.describe)
            : Promise.resolve({ runId, status: { name: temporal.status ?? 'COMPLETED' } });
        },
      }),
    },
    workflowService: {
      getWorkflowExecutionHistory: (request: { execution: { runId: string } }) => {
        const run = temporal.others?.find((r) => r.runId === request.execution.runId);
        if (run?.gone) return Promise.reject(grpcError(5, 'workflow execution not found'));
        return Promise.resolve({
          history: {
            events: [
              { workflowExecutionStartedEventAttributes: { firstExecutionRunId: run?.firstRunId } },
            ],
          },
        });
      },
      deleteWorkflowExecution: (request: { workflowExecution: { runId: string } }) => {
        calls.push(`delete ${request.workflowExecution.runId}`);
        return temporal.delete ? Promise.reject(temporal.delete) : Promise.resolve({});
      },
    },
  } as unknown as Client;
  return { deps: { pool, temporal: client }, calls };
}

/** A gRPC error as the Temporal service returns it (grpc-js ServiceError). */
const grpcError = (code: number, details: string) =>
  Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });

describe('erasing a case', () => {
  it("deletes the case's workflow run and its desk requests' runs before it commits the erasure", async () => {
    const { deps, calls } = fakes({ run_id: 'run-1', erased_at: null });
    expect((await eraseCase(deps, caseId)).erasedNow).toBe(true);
    expect(calls).toEqual([
      'describe case:U-1 run-1',
      `list WorkflowId = 'case:U-1'`,
      'describe case:U-1 newest',
      'delete run-1',
      `list WorkflowType IN ('agencyDecision', 'safetyInspection') AND WorkflowId STARTS_WITH 'desk:${caseId}:'`,
      'delete desk-1',
      // Whatever the database's default: the delete must see a read's record committed
      // while the erasure waited for the row.
      'BEGIN ISOLATION LEVEL READ COMMITTED',
      'SELECT',
      'DELETE FROM case_secrets',
      'DELETE FROM notifications',
      'DELETE FROM access_records',
      'UPDATE',
      'COMMIT',
    ]);
  });

  it('commits nothing when the delete fails, so a rerun still erases', async () => {
    const { deps, calls } = fakes(
      { run_id: 'run-1', erased_at: null },
      { delete: grpcError(14, 'unavailable') },
    );
    await expect(eraseCase(deps, caseId)).rejects.toThrow('unavailable');
    expect(calls.filter((call) => call.startsWith('BEGIN'))).toEqual([]);
  });

  it('commits on a rerun after the run was deleted but the commit was not made', async () => {
    const { deps, calls } = fakes(
      { run_id: 'run-1', erased_at: null },
      {
        describe: new WorkflowNotFoundError('not found', 'case:U-1', 'run-1'),
        delete: grpcError(5, 'workflow execution not found'),
      },
    );
    expect((await eraseCase(deps, caseId)).erasedNow).toBe(true);
    expect(calls).toContain('COMMIT');
  });

  it('deletes the runs again on a rerun of an erased case, an absent run counting as done', async () => {
    const { deps, calls } = fakes(
      { run_id: 'run-1', erased_at: erasedAt },
      { delete: grpcError(5, 'workflow execution not found') },
    );
    expect(await eraseCase(deps, caseId)).toEqual({
      caseId,
      erasedAt: erasedAt.toISOString(),
      erasedNow: false,
    });
    expect(calls).toEqual([
      `list WorkflowId = 'case:U-1'`,
      'describe case:U-1 newest',
      'delete run-1',
      `list WorkflowType IN ('agencyDecision', 'safetyInspection') AND WorkflowId STARTS_WITH 'desk:${caseId}:'`,
      'delete desk-1',
      // What an erasure before left, a record of a read that raced it say, goes again.
      'DELETE FROM case_secrets',
      'DELETE FROM notifications',
      'DELETE FROM access_records',
      // Who applied goes too, for a case erased before that was part of erasing.
      'UPDATE',
    ]);
  });

  it('deletes the runs a reset made of the case too, and no run of a later case of the unit', async () => {
    const { deps, calls } = fakes(
      { run_id: 'run-1', erased_at: null },
      {
        others: [
          { runId: 'reset-1', status: 'TERMINATED', firstRunId: 'run-1' },
          { runId: 'reset-2', status: 'COMPLETED', firstRunId: 'run-1' },
          { runId: 'later-case', status: 'RUNNING', firstRunId: 'later-case' },
        ],
      },
    );
    expect((await eraseCase(deps, caseId)).erasedNow).toBe(true);
    expect(calls.filter((call) => call.startsWith('delete'))).toEqual([
      'delete run-1',
      'delete reset-1',
      'delete reset-2',
      'delete desk-1',
    ]);
  });

  it('refuses a case going on in a run a reset made of it, and changes nothing', async () => {
    const { deps, calls } = fakes(
      { run_id: 'run-1', erased_at: null },
      {
        status: 'TERMINATED',
        others: [{ runId: 'reset-1', status: 'RUNNING', firstRunId: 'run-1' }],
      },
    );
    await expect(eraseCase(deps, caseId)).rejects.toMatchObject({
      name: 'CaseStillOpenError',
      message: expect.stringContaining('in a run a reset made of it') as unknown,
    });
    expect(calls.filter((call) => /^(delete|BEGIN|DELETE|UPDATE)/.test(call))).toEqual([]);
  });

  it('finds a run a reset made moments ago, which the visibility store does not list yet', async () => {
    const { deps, calls } = fakes(
      { run_id: 'run-1', erased_at: null },
      {
        status: 'TERMINATED',
        others: [{ runId: 'reset-1', status: 'RUNNING', firstRunId: 'run-1', indexed: false }],
      },
    );
    await expect(eraseCase(deps, caseId)).rejects.toMatchObject({ name: 'CaseStillOpenError' });
    expect(calls.filter((call) => /^(delete|BEGIN)/.test(call))).toEqual([]);
  });

  it('takes a run deleted since the visibility store listed it as gone', async () => {
    const { deps, calls } = fakes(
      { run_id: 'run-1', erased_at: null },
      {
        others: [
          { runId: 'later-case', status: 'COMPLETED', firstRunId: 'later-case', gone: true },
        ],
      },
    );
    expect((await eraseCase(deps, caseId)).erasedNow).toBe(true);
    expect(calls.filter((call) => call.startsWith('delete'))).toEqual([
      'delete run-1',
      'delete desk-1',
    ]);
  });

  it('refuses to delete anything on a rerun of an erased case whose reset run is still open', async () => {
    const { deps, calls } = fakes(
      { run_id: 'run-1', erased_at: erasedAt },
      { others: [{ runId: 'reset-1', status: 'RUNNING', firstRunId: 'run-1' }] },
    );
    await expect(eraseCase(deps, caseId)).rejects.toMatchObject({ name: 'CaseStillOpenError' });
    expect(calls.filter((call) => call.startsWith('delete'))).toEqual([]);
  });

  it("refuses a case with no recorded run rather than delete the unit's latest run", async () => {
    const { deps, calls } = fakes({ run_id: null, erased_at: null });
    await expect(eraseCase(deps, caseId)).rejects.toMatchObject({
      name: 'CaseRunUnknownError',
      message: expect.stringContaining('no recorded workflow run') as unknown,
    });
    expect(calls).toEqual([]);
  });

  // PAUSED is open too (an operator's pause), as is any status a newer server adds: a delete
  // would terminate the case with nothing undone.
  it.each(['RUNNING', 'PAUSED', 'UNSPECIFIED'])(
    'refuses a case whose run is %s (open) and changes nothing',
    async (status) => {
      const { deps, calls } = fakes({ run_id: 'run-1', erased_at: null }, { status });
      await expect(eraseCase(deps, caseId)).rejects.toMatchObject({ name: 'CaseStillOpenError' });
      expect(calls).toEqual(['describe case:U-1 run-1']);
    },
  );
});
