// The orchestrator's notices: a local activity retried after its insert committed must not
// tell anyone twice.
import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrchestratorActivities, type NotifyInput } from '../../activities/orchestrator.ts';
import type { Sequencer } from '../../ledger/pg/sequencer.ts';
import { generateSigningKey } from '../../ledger/keys.ts';
import { freshDatabase } from './stack.ts';

let pool: pg.Pool;
beforeAll(async () => {
  pool = new pg.Pool({ connectionString: (await freshDatabase()).appUrl, max: 2 });
});
afterAll(async () => {
  await pool?.end();
});

describe('a notice', () => {
  const notice: NotifyInput = {
    caseId: '11111111-1111-4111-8111-111111111111',
    party: 'supervisor',
    kind: 'escalation',
    stepId: 'transferAccount.gas',
    message: 'transferAccount.gas failed after retries',
  };
  // notify reads only the pool.
  const activities = () =>
    createOrchestratorActivities({
      pool,
      sequencer: undefined as unknown as Sequencer,
      key: generateSigningKey('orchestrator.agency.onewindow'),
    });
  const run = (activityId: string, attempt: number) =>
    new MockActivityEnvironment({
      activityId,
      attempt,
      isLocal: true,
      workflowExecution: { workflowId: 'case:U-1', runId: 'run-1' },
    }).run((input: NotifyInput) => activities().notify(input), notice);
  const count = async () =>
    Number(
      (
        await pool.query<{ n: string }>(
          'SELECT count(*) AS n FROM notifications WHERE case_id = $1',
          [notice.caseId],
        )
      ).rows[0]!.n,
    );

  it('is written once however often its activity is retried, and again by another activity', async () => {
    await run('14', 1);
    await run('14', 2);
    expect(await count()).toBe(1);
    // The same words from another call (a second escalation of the step) are a notice of their own.
    await run('21', 1);
    expect(await count()).toBe(2);
  });
});
