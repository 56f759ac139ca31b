import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  BadSignatureError,
  LedgerError,
  MalformedStatementError,
  NON_RETRYABLE_LEDGER_ERRORS,
} from '../domain/errors.ts';
import { generateSigningKey } from '../ledger/keys.ts';
import type { Sequencer } from '../ledger/pg/sequencer.ts';
import { INVALID_ACTIVITY_INPUT } from './agencies.ts';
import { sampleApplication } from '../test/support/applications.ts';
import { createOrchestratorActivities } from './orchestrator.ts';

const CASE = '3f6c1b7e-1d2a-4c5b-9e8f-0a1b2c3d4e5f';

/** A ledger error no name on NON_RETRYABLE_LEDGER_ERRORS covers: a retry may well cure it. */
class LedgerBusyError extends LedgerError {
  override name = 'LedgerBusyError';
}

/**
 * The orchestrator's activities on a sequencer that refuses with `error`, and a pool that
 * fails the test if touched: the failures tested come before any database work.
 */
function orchestrator(error: Error = new Error('unused')) {
  const pool = {
    query: () => Promise.reject(new Error('the database was reached')),
  } as unknown as pg.Pool;
  const sequencer = { append: () => Promise.reject(error) } as unknown as Sequencer;
  return createOrchestratorActivities({
    pool,
    sequencer,
    key: generateSigningKey('orchestrator.agency.onewindow'),
  });
}

describe('intake', () => {
  it('fails an application that does not parse at once, naming the field, not retried for ever', async () => {
    const input = {
      caseId: CASE,
      application: { unitId: 'U-CLEAN-1' },
      workflowId: 'case:U-CLEAN-1',
    };
    const failure: unknown = await orchestrator()
      .intake(input as never)
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: INVALID_ACTIVITY_INPUT, nonRetryable: true });
    expect((failure as Error).message).toMatch(/^intake: invalid input: application\.address: /);
  });
});

describe("intake's case row", () => {
  /** The run id intake writes into the case row, run as an activity of run `runId`. */
  async function runIdWritten(input: Record<string, unknown>, runId: string) {
    const params: unknown[][] = [];
    const pool = {
      query: (_text: string, values: unknown[]) => {
        params.push(values);
        return Promise.resolve({ rows: [{ salt: Buffer.alloc(32, 1) }] });
      },
    } as unknown as pg.Pool;
    const activities = createOrchestratorActivities({
      pool,
      sequencer: {} as Sequencer,
      key: generateSigningKey('orchestrator.agency.onewindow'),
    });
    const env = new MockActivityEnvironment({
      workflowExecution: { workflowId: 'case:U-CLEAN-1', runId },
    });
    await env.run((call) => activities.intake(call), {
      caseId: CASE,
      application: sampleApplication('U-CLEAN-1'),
      workflowId: 'case:U-CLEAN-1',
      ...input,
    } as never);
    return params[0]![5];
  }

  it("names the first run of the case's chain, in a run an operator's reset made", async () => {
    expect(await runIdWritten({ firstRunId: 'run-1' }, 'run-2')).toBe('run-1');
  });

  it('names the run itself for a workflow that gives no first run (started before it did), or an empty one', async () => {
    expect(await runIdWritten({}, 'run-2')).toBe('run-2');
    expect(await runIdWritten({ firstRunId: '' }, 'run-2')).toBe('run-2');
  });
});

describe('appendToLedger', () => {
  it.each([new MalformedStatementError('no statement'), new BadSignatureError('not its key')])(
    'fails at once on a refusal no retry cures (%s)',
    async (refusal) => {
      expect(NON_RETRYABLE_LEDGER_ERRORS).toContain(refusal.name);
      await expect(orchestrator(refusal).appendToLedger({})).rejects.toMatchObject({
        type: refusal.name,
        nonRetryable: true,
      });
    },
  );

  it('leaves any other ledger error to be retried', async () => {
    await expect(
      orchestrator(new LedgerBusyError('try again')).appendToLedger({}),
    ).rejects.toMatchObject({ type: 'LedgerBusyError', nonRetryable: false });
  });
});
