// An agency worker that answers a step with a statement that is not that step's (another
// case's, say, from a faulty cache), signed with the agency's own valid key. The ledger would
// take it (the signature holds), and an id already in the log would even come back as if
// appended: the case must refuse it as the step's result, append nothing of it, and fail
// before the point of no return (or go to a supervisor, for a compensation).
import { randomUUID } from 'node:crypto';
import type { ActivityInboundCallsInterceptor } from '@temporalio/worker';
import { activityInfo } from '@temporalio/activity';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { StepResult } from '../../activities/sign.ts';
import { createAgencyWorker } from '../../cli/workers.ts';
import { signStatement } from '../../ledger/statement.ts';
import { submit, waitForClosed, waitUntil } from './caseDriver.ts';
import { sampleApplication, startStack, type Stack } from './stack.ts';

let stack: Stack;
let connection: NativeConnection;
let housing: Worker;
let running: Promise<void>;
/** The housing activities that answer with another case's statement; the rest answer true. */
const misdirect = new Set<string>();
/** The statement ids of every misdirected answer given. */
const answered: string[] = [];
/** The housing activities that hand over another result than the one their statement commits to. */
const swapResult = new Set<string>();

/** The same statement, re-signed by housing as if it were another case's. */
function asAnotherCase(out: StepResult<unknown>): StepResult<unknown> {
  const other = randomUUID();
  const { statement } = out.signed;
  const statementId = `${other}${statement.statementId.slice(statement.caseId.length)}`;
  answered.push(statementId);
  return {
    ...out,
    signed: signStatement({ ...statement, caseId: other, statementId }, stack.keys.housing!),
  };
}

const misdirecting: ActivityInboundCallsInterceptor = {
  async execute(input, next) {
    const out = (await next(input)) as StepResult<unknown>;
    const activity = activityInfo().activityType;
    if (swapResult.has(activity))
      return { ...out, result: { ...(out.result as object), filingNumberMatches: true } };
    return misdirect.has(activity) ? asAnotherCase(out) : out;
  },
};

/** Entries the ledger holds of case `caseId`, by statement id. */
async function entriesOf(caseId: string): Promise<string[]> {
  const { rows } = await stack.pool.query<{ statement_id: string }>(
    'SELECT statement_id FROM ledger_entries WHERE case_id = $1 ORDER BY idx',
    [caseId],
  );
  return rows.map((r) => r.statement_id);
}

/** How many of the misdirected answers the ledger holds. */
async function misdirectedLogged(): Promise<number> {
  const { rows } = await stack.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM ledger_entries WHERE statement_id = ANY($1::text[])',
    [answered],
  );
  return rows[0]!.n;
}

beforeAll(async () => {
  // Every agency but housing as usual; housing's worker misdirects what `misdirect` names.
  stack = await startStack(['tax', 'registry', 'electricity', 'water', 'gas']);
  connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  housing = await createAgencyWorker({
    connection,
    agency: 'housing',
    key: stack.keys.housing!,
    payloadKey: stack.payloadKey,
    interceptors: { activity: [() => ({ inbound: misdirecting })] },
  });
  running = housing.run();
});
afterAll(async () => {
  housing?.shutdown();
  await running;
  await connection?.close();
  await stack?.stop();
});

describe("an agency answering with a statement that is not the step's", () => {
  it('fails the step before the point of no return and appends nothing of the answer', async () => {
    misdirect.clear();
    misdirect.add('verifyContract');
    const caseId = await submit(stack, sampleApplication({ utilities: [] }));
    const t = await waitForClosed(stack, caseId, 60_000);
    expect(t.phase).toBe('failed');
    expect(t.reason).toMatch(
      new RegExp(
        `^verifyContract failed: housing answered verifyContract with statement [0-9a-f-]{36}/verifyContract of housing, not ${caseId}/verifyContract of housing$`,
      ),
    );
    // Failed, then undone like any failed step (its filing cancelled), with no entry of its own.
    const step = t.steps.find((s) => s.stepId === 'verifyContract')!;
    expect(step.status).toBe('compensated');
    expect(step.ledgerIndex).toBeUndefined();
    expect(await entriesOf(caseId)).not.toContain(`${caseId}/verifyContract`);
    expect(answered.length).toBeGreaterThan(0);
    expect(await misdirectedLogged()).toBe(0);
  });

  it('fails the step when the result handed over is not the one the statement commits to, appending nothing', async () => {
    misdirect.clear();
    swapResult.add('verifyContract');
    // The filing's number does not match: the signed statement says rejected, the result
    // handed over beside it says the number matches.
    const caseId = await submit(
      stack,
      sampleApplication({ unitId: 'U-FILING-MISMATCH-1', utilities: [] }),
    );
    const t = await waitForClosed(stack, caseId, 60_000);
    swapResult.clear();
    expect(t.phase).toBe('failed');
    expect(t.reason).toBe(
      `verifyContract failed: the result handed over with ${caseId}/verifyContract does not open its commitment`,
    );
    expect(await entriesOf(caseId)).not.toContain(`${caseId}/verifyContract`);
  });

  it('sends a compensation answered with another case statement to a supervisor, who resolves it', async () => {
    misdirect.clear();
    misdirect.add('cancelFiling');
    // The title check finds a court seizure: the filing is cancelled and the lock released.
    const caseId = await submit(stack, sampleApplication({ unitId: 'U-SEIZED-1', utilities: [] }));
    const escalated = await waitUntil(
      stack,
      caseId,
      (t) => t.escalations.some((e) => e.stepId === 'cancelFiling' && !e.resolved),
      'the compensation cancelFiling waiting for a supervisor',
      60_000,
    );
    expect(escalated.escalations.find((e) => e.stepId === 'cancelFiling')!.reason).toMatch(
      new RegExp(`^compensation cancelFiling failed: .*not ${caseId}/cancelFiling of housing`),
    );
    const resolved = await stack.app.inject({
      method: 'POST',
      url: `/cases/${caseId}/escalations`,
      headers: stack.supervisor,
      payload: { stepId: 'cancelFiling', action: 'resolve', reason: 'filing cancelled by phone' },
    });
    expect(resolved.statusCode, resolved.body).toBe(200);
    const t = await waitForClosed(stack, caseId, 60_000);
    expect(t.phase).toBe('rejected');
    const logged = await entriesOf(caseId);
    expect(logged).not.toContain(`${caseId}/cancelFiling`);
    expect(logged).toContain(`${caseId}/cancelFiling.resolved`);
    expect(await misdirectedLogged()).toBe(0);
  });
});
