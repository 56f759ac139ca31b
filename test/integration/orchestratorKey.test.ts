// The orchestrator's own records (a supervisor's resolution, a case's close) are signed with
// the orchestrator's key. When the ledger refuses that key (here: `keys rotate` ran and the old
// key was revoked before the worker restarted with the new one), no retry of the same record
// can succeed and no agency can answer for it: the case waits for a supervisor instead of
// failing, and a retry once the worker signs with the new key records it and goes on.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateRegisteredKeys } from '../../cli/keys.ts';
import type { SigningKey } from '../../ledger/keys.ts';
import {
  approve,
  pay,
  recordHistory,
  submit,
  supervise,
  waitForClosed,
  waitForStep,
  waitUntil,
} from './caseDriver.ts';
import {
  rotateOrchestratorKeyTooEarly,
  sampleApplication,
  startStack,
  type Stack,
  type Timeline,
} from './stack.ts';

// One law-day is 5 s: the steps' deadlines stay far off while the keys change.
const TIME_SCALE = 5 / 86_400;

let stack: Stack;
/** The key the orchestrator's worker signs with now. */
let current: SigningKey;

beforeAll(async () => {
  stack = await startStack(['housing', 'tax', 'registry', 'electricity', 'water', 'gas'], {
    timeScale: TIME_SCALE,
  });
});
// Each test starts with a worker whose key the ledger accepts, whatever the one before left.
beforeEach(async () => {
  current = (await generateRegisteredKeys(stack.adminPool, ['orchestrator'])).orchestrator;
  await stack.replaceOrchestrator(current);
});
afterAll(async () => {
  await stack?.stop();
});

async function payAndWaitForReview(caseId: string): Promise<void> {
  await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
  expect((await pay(stack, caseId)).statusCode).toBe(200);
  await waitForStep(stack, caseId, 'review', 'waiting');
}

/** Open escalations at `stepId`, and how many there were in all. */
const escalationsAt = (t: Timeline, stepId: string) => ({
  open: t.escalations.filter((e) => e.stepId === stepId && !e.resolved),
  all: t.escalations.filter((e) => e.stepId === stepId),
});

/** The entries of the case under `stepId`, with the key that signed each. */
const entriesAt = (t: Timeline, stepId: string) =>
  t.entries.filter((e) => e.statement.stepId === stepId).map((e) => e.statement);

/** The case once one escalation at `stepId` is open; `what` names it if it never comes. */
const waitForOpenEscalation = (caseId: string, stepId: string, what: string) =>
  waitUntil(stack, caseId, (t) => escalationsAt(t, stepId).open.length === 1, what);

describe("a record the ledger refuses under the orchestrator's key", () => {
  it('holds a closing case for a supervisor, refuses to have the close made by hand, and closes it under the new key on a retry', async () => {
    const caseId = await submit(stack, sampleApplication({ utilities: [] }));
    await payAndWaitForReview(caseId);
    const revoked = current;
    current = await rotateOrchestratorKeyTooEarly(stack, current);
    expect((await approve(stack, caseId)).statusCode).toBe(200);

    const held = await waitForOpenEscalation(
      caseId,
      'close',
      'the close record held for a supervisor',
    );
    expect(held.workflowStatus).toBe('RUNNING');
    expect(escalationsAt(held, 'close').open[0]!.reason).toContain(
      `the ledger refused the orchestrator's close record: key ${revoked.keyId} was revoked`,
    );
    expect(held.notifications).toContainEqual(
      expect.objectContaining({ party: 'supervisor', kind: 'escalation', stepId: 'close' }),
    );
    expect(entriesAt(held, 'close')).toEqual([]);
    // Running till its close is recorded, and listed so: in the supervisors' queue (for a
    // retry only) and by the search attributes.
    expect(held.phase).toBe('running');
    expect(escalationsAt(held, 'close').open[0]!.retryOnly).toBe(true);
    const queue = await stack.app.inject({
      method: 'GET',
      url: '/escalations',
      headers: stack.supervisor,
    });
    expect(queue.json<{ items: unknown[] }>().items).toContainEqual(
      expect.objectContaining({ caseId, stepId: 'close', confirmed: true }),
    );
    await expect
      .poll(
        async () => {
          const listed = await stack.app.inject({
            method: 'GET',
            url: '/cases?status=running&step=close',
            headers: stack.supervisor,
          });
          return listed.json<{ cases: { caseId: string }[] }>().cases.map((c) => c.caseId);
        },
        { timeout: 20_000, interval: 250 },
      )
      .toContain(caseId);

    // The ledger must hold the close: it cannot be made by hand, and asking changes nothing.
    const byHand = await supervise(stack, caseId, 'close', 'resolve', 'closed on paper');
    expect(byHand.statusCode, byHand.body).toBe(422);
    expect(byHand.json()).toMatchObject({ error: 'refused', field: 'stepId' });
    expect(byHand.json<{ reason: string }>().reason).toContain('a record the ledger must hold');

    // A retry while the worker still holds the revoked key is refused again, and held again.
    expect((await supervise(stack, caseId, 'close', 'retry', 'tried again')).statusCode).toBe(200);
    const again = await waitUntil(
      stack,
      caseId,
      (t) =>
        escalationsAt(t, 'close').all.length === 2 && escalationsAt(t, 'close').open.length === 1,
      'the retried close held again',
    );
    expect(escalationsAt(again, 'close').all[0]).toMatchObject({
      resolved: true,
      resolution: 'retry by supervisor:supervisor-1: tried again',
    });
    expect(entriesAt(again, 'close')).toEqual([]);

    // The worker restarts with the new key; the next retry closes the case.
    await stack.replaceOrchestrator(current);
    expect((await supervise(stack, caseId, 'close', 'retry', 'worker restarted')).statusCode).toBe(
      200,
    );
    const t = await waitForClosed(stack, caseId);
    await recordHistory(stack, 'close-record-refused-then-retried', caseId);
    expect(t.workflowStatus).toBe('COMPLETED');
    expect(t.phase).toBe('completed');
    expect(escalationsAt(t, 'close').open).toEqual([]);
    const [close, ...more] = entriesAt(t, 'close');
    expect(more).toEqual([]);
    expect(close).toMatchObject({ agency: 'orchestrator', keyId: current.keyId });
    expect(t.records.find((r) => r.stepId === 'close')).toMatchObject({
      statementId: close!.statementId,
      outcome: 'completed',
    });
  });

  /**
   * A gas transfer escalated after the registration (`unitId`'s fixture says why), resolved by
   * hand after the key was revoked: the resolution is held, the step stays escalated, and a
   * retry once the worker holds the new key records it and the case completes.
   */
  async function resolutionHeldThenRetried(unitId: string, history: string): Promise<void> {
    const caseId = await submit(stack, sampleApplication({ unitId, utilities: ['gas'] }));
    await payAndWaitForReview(caseId);
    expect((await approve(stack, caseId)).statusCode).toBe(200);
    await waitForOpenEscalation(caseId, 'transferAccount.gas', 'the gas transfer escalated');
    const revoked = current;
    current = await rotateOrchestratorKeyTooEarly(stack, current);
    const resolved = await supervise(
      stack,
      caseId,
      'transferAccount.gas',
      'resolve',
      'holder changed by hand at the counter',
    );
    expect(resolved.statusCode).toBe(200);

    const record = 'transferAccount.gas.resolved';
    const held = await waitForOpenEscalation(
      caseId,
      record,
      'the resolution held for a supervisor',
    );
    expect(escalationsAt(held, record).open[0]).toMatchObject({ retryOnly: true });
    expect(escalationsAt(held, record).open[0]!.reason).toContain(
      `the ledger refused the orchestrator's ${record} record: key ${revoked.keyId} was revoked`,
    );
    // The step stays escalated until its resolution is recorded, and is not escalated again
    // as a failed step; nothing else moved.
    expect(held.steps.find((s) => s.stepId === 'transferAccount.gas')?.status).toBe('escalated');
    expect(escalationsAt(held, 'transferAccount.gas').all).toHaveLength(1);
    expect(entriesAt(held, record)).toEqual([]);
    expect(entriesAt(held, 'close')).toEqual([]);
    expect((await supervise(stack, caseId, record, 'resolve', 'by hand')).statusCode).toBe(422);

    await stack.replaceOrchestrator(current);
    expect((await supervise(stack, caseId, record, 'retry', 'worker restarted')).statusCode).toBe(
      200,
    );
    const t = await waitForClosed(stack, caseId);
    await recordHistory(stack, history, caseId);
    expect(t.phase).toBe('completed');
    expect(t.steps.find((s) => s.stepId === 'transferAccount.gas')).toMatchObject({
      status: 'done',
      outcome: 'resolvedByHand',
    });
    const [resolution, ...more] = entriesAt(t, record);
    expect(more).toEqual([]);
    expect(resolution).toMatchObject({ keyId: current.keyId, outcome: 'resolvedByHand' });
    expect(entriesAt(t, 'close')).toEqual([
      expect.objectContaining({ keyId: current.keyId, outcome: 'completed' }),
    ]);
  }

  it("holds a supervisor's retry of a refused transfer whose record the ledger refuses, reminds the supervisor when the retry's fresh deadline passes during the hold, and once the retry is recorded under the new key runs the step again, watched afresh from that retry", async () => {
    const unitId = 'U-GAS-CLOSED-LATER-3';
    const caseId = await submit(stack, sampleApplication({ unitId, utilities: ['gas'] }));
    await payAndWaitForReview(caseId);
    expect((await approve(stack, caseId)).statusCode).toBe(200);
    const step = 'transferAccount.gas';
    await waitForOpenEscalation(caseId, step, 'the gas transfer escalated');
    current = await rotateOrchestratorKeyTooEarly(stack, current);
    expect((await supervise(stack, caseId, step, 'retry', 'account reopened')).statusCode).toBe(
      200,
    );
    const record = 'transferAccount.gas.retried';
    const held = await waitForOpenEscalation(
      caseId,
      record,
      "the retry's record held for a supervisor",
    );
    expect(escalationsAt(held, record).open[0]).toMatchObject({ retryOnly: true });
    expect(entriesAt(held, record)).toEqual([]);
    const heldDeadline = held.steps.find((s) => s.stepId === step)!.deadlineAt!;
    // The retry's fresh deadline (2 law-days, 10 s here) passes while its record is held: the
    // step waits for a supervisor, not for the gas company, so the supervisor is reminded.
    const late = await waitUntil(
      stack,
      caseId,
      (t) => t.notifications.some((n) => n.kind === 'reminder' && n.stepId === step),
      "a reminder at the retry's deadline",
      30_000,
    );
    expect(
      late.notifications
        .filter((n) => n.stepId === step && ['reminder', 'overdue'].includes(n.kind))
        .map((n) => [n.party, n.kind, n.message]),
    ).toEqual([
      ['supervisor', 'reminder', `${step} is overdue and waits for a supervisor`],
      [
        'supervisor',
        'overdue',
        `${step} missed its deadline: its retry's record waits for a supervisor`,
      ],
    ]);
    expect(late.overdue).toBe(true);

    await stack.replaceOrchestrator(current);
    expect((await supervise(stack, caseId, record, 'retry', 'worker restarted')).statusCode).toBe(
      200,
    );
    // The step runs again (the account is still closed: refused, escalated again), its watch
    // armed when the held record's retry was taken, not left at the first retry's.
    const again = await waitUntil(
      stack,
      caseId,
      (t) => escalationsAt(t, step).all.length === 2 && escalationsAt(t, step).open.length === 1,
      'the gas transfer run again and escalated again',
    );
    expect(entriesAt(again, record)).toEqual([
      expect.objectContaining({ keyId: current.keyId, outcome: 'retried' }),
    ]);
    expect(Date.parse(again.steps.find((s) => s.stepId === step)!.deadlineAt!)).toBeGreaterThan(
      Date.parse(heldDeadline),
    );
    // Asked again, with a fresh deadline: no longer overdue while it runs, though still flagged.
    await waitUntil(stack, caseId, (t) => !t.overdue, 'the case no longer overdue');
    expect(
      (await supervise(stack, caseId, step, 'resolve', 'holder changed at the counter')).statusCode,
    ).toBe(200);
    const t = await waitForClosed(stack, caseId);
    await recordHistory(stack, 'retry-record-refused-then-retried', caseId);
    expect(t.phase).toBe('completed');
  });

  it("holds a supervisor's resolution of a transfer that failed after the registration, and records it under the new key on a retry", () =>
    resolutionHeldThenRetried('U-GAS-INSPECTION-2', 'resolution-refused-then-retried'));

  it("holds a supervisor's resolution of a transfer refused after the registration, and records it under the new key on a retry", () =>
    resolutionHeldThenRetried(
      'U-GAS-CLOSED-LATER-2',
      'resolution-of-a-refusal-refused-then-retried',
    ));
});
