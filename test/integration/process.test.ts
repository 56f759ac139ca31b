// The citizen's whole case on the real stack: six agency workers with their own keys, the
// law's order, the point of no return, compensation before it, escalation after it.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { caseWorkflowId } from '../../domain/application.ts';
import { ORCHESTRATOR_TASK_QUEUE } from '../../domain/agencyIds.ts';
import type { Decision, EscalationAction } from '../../domain/decisions.ts';
import { signStatement, stepSalt, verifyStatementSignature } from '../../ledger/statement.ts';
import { toBase64 } from '../../ledger/bytes.ts';
import { signDecision, signStep } from '../../activities/sign.ts';
import { decideUpdate, resolveEscalationUpdate } from '../../workflows/messages.ts';
import type { jointTransferCase } from '../../workflows/jointTransferCase.ts';
import type { CaseView } from '../../api/schemas.ts';
import {
  decide,
  signedDecision,
  stepStatus,
  submit,
  timeline,
  waitForClosed,
  waitForStep,
  waitUntil,
} from './caseDriver.ts';
import * as driver from './caseDriver.ts';
import {
  freshDatabase,
  sampleApplication,
  startStack,
  TEST_PAYLOAD_KEY,
  type Stack,
  type Timeline,
} from './stack.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eraseCase } from '../../infra/erasure.ts';
import { ledgerAccessRecorder, type RecordAccess } from '../../api/access.ts';
import { MIGRATIONS } from '../../ledger/pg/migrations.ts';
import { onewindow, writeTrustFile } from './cli.ts';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { AesGcmPayloadCodec } from '../../infra/payloadCodec.ts';

// One law-day is 0.5 s here: "7 days" to pay is 3.5 s, "30 days" of final limit 15 s.
const TIME_SCALE = 0.5 / 86_400;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(['housing', 'tax', 'registry', 'electricity', 'water', 'gas'], {
    timeScale: TIME_SCALE,
  });
});
afterAll(async () => {
  await stack?.stop();
});

const pay = (caseId: string) => driver.pay(stack, caseId);
const recordHistory = (name: string, caseId: string) => driver.recordHistory(stack, name, caseId);

/**
 * The salt each agency call of the case's history was given (decrypted from the history), by
 * step id; expects each to be that step's own salt, derived from the case's salt, never the
 * case's salt itself, and no two alike.
 */
async function expectOwnStepSalts(caseId: string, unitId: string): Promise<Map<string, string>> {
  const handle = stack.client.workflow.getHandle(caseWorkflowId(unitId));
  const codec = new AesGcmPayloadCodec(stack.payloadKey);
  const given = new Map<string, string>();
  for (const event of (await handle.fetchHistory()).events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (!scheduled?.taskQueue?.name?.startsWith('agency.')) continue;
    const [payload] = await codec.decode(scheduled.input?.payloads ?? []);
    const call = defaultPayloadConverter.fromPayload<{ stepId: string; salt: string }>(payload!);
    given.set(call.stepId, call.salt);
  }
  const { rows } = await stack.pool.query<{ salt: Buffer }>(
    'SELECT salt FROM case_secrets WHERE case_id = $1',
    [caseId],
  );
  const caseSalt = new Uint8Array(rows[0]!.salt);
  for (const [stepId, salt] of given) {
    expect(salt, stepId).toBe(toBase64(stepSalt(caseSalt, stepId)));
    expect(salt, stepId).not.toBe(toBase64(caseSalt));
  }
  expect(new Set(given.values()).size).toBe(given.size);
  return given;
}

const approve = (caseId: string) => driver.approve(stack, caseId);

/**
 * The schedule-to-close timeout, in seconds, of each agency activity the case's history
 * scheduled, by activity type: how long one no worker takes waits before it fails to the case.
 */
async function scheduleToCloseOf(unitId: string): Promise<Record<string, number | undefined>> {
  const handle = stack.client.workflow.getHandle(caseWorkflowId(unitId));
  const timeouts: Record<string, number | undefined> = {};
  for (const event of (await handle.fetchHistory()).events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (!scheduled?.taskQueue?.name?.startsWith('agency.')) continue;
    const seconds = scheduled.scheduleToCloseTimeout?.seconds;
    timeouts[scheduled.activityType!.name!] = seconds == null ? undefined : Number(seconds);
  }
  return timeouts;
}

/** GET /cases/:caseId as a supervisor, which is not logged: the case's progress alone. */
async function supervisorsRead(caseId: string): Promise<{ progress: CaseView; body: string }> {
  const response = await stack.app.inject({
    method: 'GET',
    url: `/cases/${caseId}`,
    headers: stack.supervisor,
  });
  expect(response.statusCode).toBe(200);
  return { progress: response.json<CaseView>(), body: response.body };
}

/** The duty the open payment step asks for (from the case's status; not on the ledger). */
function dutyOf(t: Timeline): number | undefined {
  return t.steps.find((s) => s.stepId === 'confirmPayment')?.amountDueCents;
}

function entryOutcomes(t: Timeline): Record<string, string> {
  return Object.fromEntries(t.entries.map((e) => [e.statement.stepId, e.statement.outcome]));
}

/** The arguments of a supervisor's logged read of `caseId` racing its erasure. */
const readDuringErasure = (caseId: string): Parameters<RecordAccess> => [
  {
    caseId,
    actor: 'supervisor:s-9',
    role: 'supervisor',
    agency: null,
    fields: ['application'],
    purpose: 'read while it was being erased',
  },
  { keep: true },
];

/** The case's `OneWindowOverdue` publications in `events`, each with its event's index. */
function overdueFlags(events: temporal.api.history.v1.IHistoryEvent[]) {
  return events.flatMap((e, at) => {
    const value =
      e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.[
        'OneWindowOverdue'
      ];
    return value?.data
      ? [{ at, overdue: defaultPayloadConverter.fromPayload<boolean>(value) }]
      : [];
  });
}

/** Whether a timer of the case's workflow has fired (a deadline's, in these tests). */
async function timerFired(handle: { fetchHistory(): Promise<temporal.api.history.v1.IHistory> }) {
  const events = (await handle.fetchHistory()).events ?? [];
  return events.some((e) => e.timerFiredEventAttributes);
}

/** The steps whose agency has answered the case's workflow (completed activities), sorted. */
async function answeredSteps(handle: {
  fetchHistory(): Promise<temporal.api.history.v1.IHistory>;
}) {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map<string, string>();
  for (const e of events) {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) scheduled.set(String(e.eventId), name);
  }
  return events
    .flatMap((e) => {
      const done = e.activityTaskCompletedEventAttributes;
      return done ? [scheduled.get(String(done.scheduledEventId))!] : [];
    })
    .sort();
}

/** The unit's cases that supervisors' filter `clause` finds (Temporal visibility). */
async function listed(unitId: string, clause: string): Promise<string[]> {
  const found: string[] = [];
  const query = `WorkflowId = "case:${unitId}" AND ${clause}`;
  for await (const w of stack.client.workflow.list({ query })) found.push(w.workflowId);
  return found;
}

/**
 * Pays the assessed duty and approves the review, as the tax bureau and the registry would.
 * `applied`: false for a case started directly, which no citizen tracks: a supervisor's
 * read of it shows no amount.
 */
async function payAndApprove(caseId: string, applied = true): Promise<void> {
  const assessed = await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
  if (applied) expect(dutyOf(assessed)).toBeGreaterThan(0);
  expect((await pay(caseId)).statusCode).toBe(200);
  await waitForStep(stack, caseId, 'review', 'waiting');
  expect((await approve(caseId)).statusCode).toBe(200);
}

describe('the joint transfer, end to end', () => {
  it('transfers the title and all three utility accounts, with a signed entry for every step', async () => {
    const application = sampleApplication({ utilities: ['electricity', 'water', 'gas'] });
    const caseId = await submit(stack, application);
    // The case's workflows keep no stacks for their promises (workflows/stackTraceLimit.ts).
    const waiting = await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    const handle = stack.client.workflow.getHandle(caseWorkflowId(waiting.unitId));
    expect(await handle.query<string>('__stack_trace')).not.toMatch(/\bat /);
    await payAndApprove(caseId);
    const t = await waitForClosed(stack, caseId);
    await recordHistory('completed-all-utilities', caseId);
    expect(t.phase).toBe('completed');
    const outcomes = entryOutcomes(t);
    for (const step of [
      'verifyContract',
      'checkTitle',
      'precheck.electricity',
      'precheck.water',
      'precheck.gas',
      'assessTax',
      'registerTransfer',
    ]) {
      expect(outcomes[step], step).toBe('passed');
    }
    expect(outcomes).toMatchObject({
      confirmPayment: 'paid',
      review: 'approved',
      close: 'completed',
    });
    for (const u of ['electricity', 'water', 'gas'])
      expect(outcomes[`transferAccount.${u}`]).toBe('passed');
    expect(t.records.map((r) => r.stepId)).toEqual(['close']);
    for (const e of t.entries) {
      expect(verifyStatementSignature(e, stack.keys[e.statement.agency]!.publicKey)).toBe(true);
    }

    // Data minimisation, as delivered to each agency's worker (not just as the views say).
    const inputsOf = (agencies: string[]) =>
      JSON.stringify(
        stack.received.filter(
          (r) => agencies.includes(r.agency) && JSON.stringify(r.args).includes(caseId),
        ),
      );
    const utilities = inputsOf(['electricity', 'water', 'gas']);
    const tax = inputsOf(['tax']);
    expect(utilities.length).toBeGreaterThan(100);
    for (const secret of [
      String(application.priceCents),
      'priceCents',
      'idNumber',
      'IdNumber',
      'B1234567',
      'S7654321',
      'dutyCents',
      'amountCents',
    ]) {
      expect(utilities, `utilities received ${secret}`).not.toContain(secret);
    }
    expect(tax).toContain('priceCents');
    for (const secret of ['address', 'Harbour Lane', 'arrears', 'finalReading', 'newHolderName']) {
      expect(tax, `tax received ${secret}`).not.toContain(secret);
    }
  });

  it('rejects a unit under court seizure at the title check, releasing the lock and cancelling the filing as entries', async () => {
    const caseId = await submit(
      stack,
      sampleApplication({ unitId: 'U-SEIZED-1', utilities: ['water'] }),
    );
    const t = await waitForClosed(stack, caseId);
    await recordHistory('rejected-seizure-at-title-check', caseId);
    // The case is closed, so the unit may be applied for again (one open case per unit).
    const again = await stack.app.inject({
      method: 'POST',
      url: '/cases',
      headers: stack.citizen,
      payload: sampleApplication({ unitId: 'U-SEIZED-1', utilities: [] }),
    });
    expect(again.statusCode).toBe(201);
    await waitForClosed(stack, again.json<{ caseId: string }>().caseId);
    expect(t.phase).toBe('rejected');
    expect(stepStatus(t, 'checkTitle')).toBe('compensated');
    const outcomes = entryOutcomes(t);
    expect(outcomes.checkTitle).toBe('rejected');
    expect(outcomes).toMatchObject({ releaseTitleLock: 'compensated', close: 'rejected' });
    expect(t.records.map((r) => r.stepId)).toContain('releaseTitleLock');
    // verifyContract may or may not have finished before the refusal: if it did, its filing is
    // cancelled; if not, there is nothing to cancel.
    expect(outcomes.cancelFiling).toBe(
      outcomes.verifyContract === 'passed' ? 'compensated' : undefined,
    );
  });

  it('lets a unit whose application failed its contract check (a mistyped price) be applied for again: the filing stays active and the corrected case completes', async () => {
    // The filing on record for U-PRICE-MISMATCH-1 says 31,000,000 cents.
    const mistyped = sampleApplication({ unitId: 'U-PRICE-MISMATCH-1', utilities: [] });
    const rejected = await waitForClosed(stack, await submit(stack, mistyped));
    expect(rejected.phase).toBe('rejected');
    expect(entryOutcomes(rejected).verifyContract).toBe('rejected');
    const caseId = await submit(stack, { ...mistyped, priceCents: 31_000_000 });
    await payAndApprove(caseId);
    const t = await waitForClosed(stack, caseId);
    expect(t.phase).toBe('completed');
    expect(entryOutcomes(t).verifyContract).toBe('passed');
  });

  it('refuses the registration when a seizure appears after the title check, refunding the tax', async () => {
    const caseId = await submit(
      stack,
      sampleApplication({ unitId: 'U-SEIZED-LATER-1', utilities: [] }),
    );
    await payAndApprove(caseId);
    const t = await waitForClosed(stack, caseId);
    await recordHistory('rejected-seizure-at-registration', caseId);
    expect(t.phase).toBe('rejected');
    const outcomes = entryOutcomes(t);
    expect(outcomes.registerTransfer).toBe('rejected');
    expect(outcomes).toMatchObject({
      refundTax: 'compensated',
      releaseTitleLock: 'compensated',
      cancelFiling: 'compensated',
    });
    // Compensations run in reverse order of completion: the refund before the lock and the filing.
    const order = t.records.map((r) => r.stepId);
    expect(order).toEqual(
      expect.arrayContaining(['refundTax', 'releaseTitleLock', 'cancelFiling']),
    );
    expect(order.indexOf('refundTax')).toBeLessThan(order.indexOf('releaseTitleLock'));
    expect(order.indexOf('refundTax')).toBeLessThan(order.indexOf('cancelFiling'));
    // Each compensation commits under its own step's salt, as the steps it undoes did.
    const given = await expectOwnStepSalts(caseId, t.unitId);
    expect([...given.keys()]).toEqual(
      expect.arrayContaining(['refundTax', 'releaseTitleLock', 'cancelFiling', 'registerTransfer']),
    );
    // Every agency call, compensations and the registration included, fails to the case (and
    // so to a supervisor) once no worker has taken it for a quarter of an hour, instead of
    // waiting with nobody told for an agency whose workers are down.
    expect(await scheduleToCloseOf(t.unitId)).toEqual({
      verifyContract: 900,
      checkTitle: 900,
      assessTax: 900,
      registerTransfer: 900,
      refundTax: 900,
      releaseTitleLock: 900,
      cancelFiling: 900,
    });
  });

  it('flags an unpaid tax as overdue, reminds the citizen, then closes the case as expired with compensations', async () => {
    const caseId = await submit(stack, sampleApplication({ utilities: [] }));
    // The two notices are sent one after the other: a read between them must not fail the test.
    const remindedAndEscalated = (t: Timeline) =>
      t.notifications.some(
        (n) => n.party === 'citizen' && n.kind === 'reminder' && n.stepId === 'confirmPayment',
      ) &&
      t.notifications.some(
        (n) => n.party === 'supervisor' && n.kind === 'overdue' && n.stepId === 'confirmPayment',
      );
    const overdue = await waitUntil(
      stack,
      caseId,
      remindedAndEscalated,
      'a payment reminder to the citizen and an overdue notice to the supervisor',
      30_000,
    );
    expect(overdue.overdue).toBe(true);
    expect(overdue.steps.find((s) => s.stepId === 'confirmPayment')?.overdue).toBe(true);
    // Supervisors find overdue cases by search attribute (visibility lags a little behind).
    await expect
      .poll(() => listed(overdue.unitId, 'OneWindowOverdue = true'), {
        timeout: 10_000,
        interval: 250,
      })
      .toEqual([`case:${overdue.unitId}`]);
    const t = await waitForClosed(stack, caseId, 60_000);
    await recordHistory('expired-unpaid-tax', caseId);
    expect(t.phase).toBe('expired');
    expect(entryOutcomes(t)).toMatchObject({
      releaseTitleLock: 'compensated',
      cancelFiling: 'compensated',
      close: 'expired',
    });
  });

  it('escalates a gas transfer that keeps failing after registration, and a supervisor resolves it by hand', async () => {
    const caseId = await submit(
      stack,
      sampleApplication({ unitId: 'U-GAS-INSPECTION-1', utilities: ['gas'] }),
    );
    await payAndApprove(caseId);
    const escalated = await waitUntil(
      stack,
      caseId,
      (t) =>
        stepStatus(t, 'transferAccount.gas') === 'escalated' &&
        t.notifications.some((n) => n.kind === 'escalation'),
      'an escalation to the supervisor',
      60_000,
    );
    expect(escalated.escalations[0]).toMatchObject({
      stepId: 'transferAccount.gas',
      resolved: false,
    });
    expect(escalated.notifications).toContainEqual(
      expect.objectContaining({
        party: 'supervisor',
        kind: 'escalation',
        stepId: 'transferAccount.gas',
      }),
    );
    const refused = await stack.app.inject({
      method: 'POST',
      url: `/cases/${caseId}/escalations`,
      headers: stack.supervisor,
      payload: {
        stepId: 'transferAccount.gas',
        action: 'resolve',
        reason: '',
      },
    });
    expect(refused.statusCode).toBe(400);
    // Past the API, straight to Temporal: an action that names no supervisor is refused by the
    // case itself, which takes the supervisor's below as if it had never come.
    await expect(
      stack.client.workflow
        .getHandle(caseWorkflowId('U-GAS-INSPECTION-1'))
        .executeUpdate(resolveEscalationUpdate, {
          args: [
            {
              stepId: 'transferAccount.gas',
              action: 'resolve',
              reason: 'no one',
            } as EscalationAction,
          ],
        }),
    ).rejects.toHaveProperty(
      'cause.message',
      expect.stringContaining('a supervisor action names its supervisor'),
    );
    // Nor one carrying a field beside its own, which would be committed to with the record.
    await expect(
      stack.client.workflow
        .getHandle(caseWorkflowId('U-GAS-INSPECTION-1'))
        .executeUpdate(resolveEscalationUpdate, {
          args: [
            {
              stepId: 'transferAccount.gas',
              action: 'resolve',
              reason: 'done',
              supervisor: 'supervisor:s-1',
              note: 'a field no API sends',
            } as EscalationAction,
          ],
        }),
    ).rejects.toHaveProperty(
      'cause.message',
      'a supervisor action holds only stepId, action, reason, supervisor, not note',
    );
    const resolved = await stack.app.inject({
      method: 'POST',
      url: `/cases/${caseId}/escalations`,
      headers: stack.supervisor,
      payload: {
        stepId: 'transferAccount.gas',
        action: 'resolve',
        reason: 'inspection done on site; holder changed by hand',
      },
    });
    expect(resolved.statusCode).toBe(200);
    const t = await waitForClosed(stack, caseId);
    await recordHistory('escalated-gas-resolved-by-hand', caseId);
    expect(t.phase).toBe('completed');
    expect(stepStatus(t, 'transferAccount.gas')).toBe('done');
    expect(entryOutcomes(t)['transferAccount.gas.resolved']).toBe('resolvedByHand');
    expect(t.escalations[0]).toMatchObject({
      resolved: true,
      resolution: expect.stringContaining('inspection done on site') as string,
    });
    // Another supervisor's unlogged read: resolved, without who resolved it or their note.
    const { progress, body } = await supervisorsRead(caseId);
    expect(progress.escalations[0]).toMatchObject({ resolved: true });
    expect(progress.escalations[0]!.resolution).toBeUndefined();
    expect(body).not.toContain('inspection done on site');
  });

  it("completes a gas transfer held for its safety inspection once the gas company's officer records it and a supervisor retries", async () => {
    const caseId = await submit(
      stack,
      sampleApplication({ unitId: 'U-GAS-INSPECTION-4', utilities: ['gas'] }),
    );
    await payAndApprove(caseId);
    await waitUntil(
      stack,
      caseId,
      (t) => stepStatus(t, 'transferAccount.gas') === 'escalated',
      'the holder change held for its inspection',
      60_000,
    );
    const inspect = (headers: Record<string, string>) =>
      stack.app.inject({
        method: 'POST',
        url: `/cases/${caseId}/inspections`,
        headers,
        payload: { unitId, outcome: 'passed' },
      });
    let unitId = 'U-GAS-INSPECTION-3';
    // Only the gas company records one, and only for the case's own unit.
    expect((await inspect(stack.officer.water)).statusCode).toBe(403);
    const mistyped = await inspect(stack.officer.gas);
    expect(mistyped.statusCode, mistyped.body).toBe(422);
    expect(mistyped.json()).toMatchObject({ field: 'unitId' });
    unitId = 'U-GAS-INSPECTION-4';
    const recorded = await inspect(stack.officer.gas);
    expect(recorded.statusCode, recorded.body).toBe(200);
    expect(recorded.json()).toMatchObject({
      caseId,
      unitId: 'U-GAS-INSPECTION-4',
      heldStep: 'transferAccount.gas',
      inspectionId: expect.stringMatching(/^SI-\d{8}$/) as string,
    });
    const retried = await supervise(
      caseId,
      'transferAccount.gas',
      'retry',
      'the gas company recorded a passed inspection',
    );
    expect(retried.statusCode, retried.body).toBe(200);
    const t = await waitForClosed(stack, caseId, 60_000);
    expect(t.phase).toBe('completed');
    expect(stepStatus(t, 'transferAccount.gas')).toBe('done');
    // The holder change is the gas company's signed answer, not a resolution by hand.
    const gasAnswers = t.entries.filter((e) => e.statement.stepId === 'transferAccount.gas');
    expect(gasAnswers.map((e) => [e.statement.agency, e.statement.outcome])).toEqual([
      ['gas', 'passed'],
    ]);
    expect(Object.keys(entryOutcomes(t))).not.toContain('transferAccount.gas.resolved');
  });

  const supervise = (caseId: string, stepId: string, action: 'retry' | 'resolve', reason: string) =>
    driver.supervise(stack, caseId, stepId, action, reason);
  /** What an operator's Cancel in the Temporal UI sends. */
  const cancelCase = (unitId: string) =>
    stack.client.workflow.getHandle(caseWorkflowId(unitId)).cancel();

  it('withdraws a case cancelled before the registration: the tax refunded, the title lock released and the filing cancelled, each signed, and the unit can be applied for again', async () => {
    const application = sampleApplication({ utilities: [] });
    const caseId = await submit(stack, application);
    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    expect((await pay(caseId)).statusCode).toBe(200);
    await waitForStep(stack, caseId, 'review', 'waiting');
    await cancelCase(application.unitId);
    const t = await waitForClosed(stack, caseId);
    await recordHistory('withdrawn-by-a-cancellation-request', caseId);
    expect(t.workflowStatus).toBe('COMPLETED');
    expect(t.phase).toBe('failed');
    expect(t.reason).toBe('withdrawn: cancelled by an operator before the registration');
    expect(stepStatus(t, 'registerTransfer')).toBe('cancelled');
    expect(entryOutcomes(t)).toMatchObject({
      refundTax: 'compensated',
      releaseTitleLock: 'compensated',
      cancelFiling: 'compensated',
      close: 'failed',
    });
    // Undone in reverse order of what was done: the payment, done last, first.
    const undone = t.entries
      .filter((e) => e.statement.outcome === 'compensated')
      .map((e) => e.statement.stepId);
    expect(undone[0]).toBe('refundTax');
    expect([...undone].sort()).toEqual(['cancelFiling', 'refundTax', 'releaseTitleLock']);
    // Its contract filed anew (the withdrawal cancelled the first filing), the unit is free:
    // the title lock is gone.
    const again = await submit(stack, {
      ...application,
      contractFilingNumber: `${application.contractFilingNumber}-2`,
    });
    await payAndApprove(again);
    expect((await waitForClosed(stack, again)).phase).toBe('completed');
  });

  it('reminds nobody and flags nothing overdue when a cancellation request reaches the case with the payment deadline', async () => {
    // Started directly, on a slower clock than the other cases (one law-day is 1 s, the
    // payment's deadline 7 s), so the worker stops well before the deadline passes.
    const application = sampleApplication({ utilities: [] });
    const caseId = randomUUID();
    const workflowId = caseWorkflowId(application.unitId);
    await stack.client.workflow.start('jointTransferCase', {
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      workflowId,
      args: [{ caseId, application, timeScale: 1 / 86_400 }],
    });
    const waiting = await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    const deadlineAt = Date.parse(
      waiting.steps.find((s) => s.stepId === 'confirmPayment')!.deadlineAt!,
    );
    // No worker runs the case while its deadline passes and the request comes: a worker back
    // after an outage finds both in one workflow task.
    const resume = await stack.pauseOrchestrator();
    try {
      await new Promise((resolve) => setTimeout(resolve, deadlineAt - Date.now() + 500));
      await stack.client.workflow.getHandle(workflowId).cancel();
    } finally {
      await resume();
    }
    const t = await waitForClosed(stack, caseId);
    await recordHistory('withdrawn-beside-the-payment-deadline', caseId);
    // What the test is about: no workflow task began between the timer firing and the request.
    const types = ((await stack.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [])
      .map((e) => e.eventType)
      .filter((type) =>
        [
          temporal.api.enums.v1.EventType.EVENT_TYPE_TIMER_FIRED,
          temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
          temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        ].includes(type!),
      );
    const requested = types.indexOf(
      temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
    );
    expect(types.slice(requested - 1, requested + 2)).toEqual([
      temporal.api.enums.v1.EventType.EVENT_TYPE_TIMER_FIRED,
      temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
      temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    ]);
    expect(t.phase).toBe('failed');
    expect(t.steps.find((s) => s.stepId === 'confirmPayment')?.overdue).toBeFalsy();
    expect(t.notifications.filter((n) => n.stepId === 'confirmPayment')).toEqual([]);
    expect(stepStatus(t, 'confirmPayment')).toBe('cancelled');
  });

  it("takes the citizen's payment of arrears after a cancellation past the registration, and completes", async () => {
    const application = sampleApplication({ unitId: 'U-WATER-ARREARS-2', utilities: ['water'] });
    const caseId = await submit(stack, application);
    await payAndApprove(caseId);
    await waitUntil(
      stack,
      caseId,
      (t) =>
        stepStatus(t, 'registerTransfer') === 'done' &&
        stepStatus(t, 'settleArrears.water') === 'waiting',
      'the registration, with the arrears still due',
      60_000,
    );
    await cancelCase(application.unitId);
    const paid = await payArrearsLate(caseId);
    expect(paid.statusCode, paid.body).toBe(200);
    const t = await waitForClosed(stack, caseId);
    expect(t.phase).toBe('completed');
    expect(entryOutcomes(t)).toMatchObject({
      'settleArrears.water': 'settled',
      'transferAccount.water': 'passed',
      close: 'completed',
    });
  });

  it('goes on with a case cancelled past the registration, which nothing undoes, to its end', async () => {
    const application = sampleApplication({ unitId: 'U-GAS-INSPECTION-3', utilities: ['gas'] });
    const caseId = await submit(stack, application);
    await payAndApprove(caseId);
    await waitUntil(
      stack,
      caseId,
      escalatedAt('transferAccount.gas'),
      'the gas escalation',
      60_000,
    );
    await cancelCase(application.unitId);
    expect(
      (
        await supervise(
          caseId,
          'transferAccount.gas',
          'resolve',
          'inspected on site; holder changed',
        )
      ).statusCode,
    ).toBe(200);
    const t = await waitForClosed(stack, caseId);
    expect(t.phase).toBe('completed');
    expect(t.reason).toBeNull();
    expect(entryOutcomes(t)).toMatchObject({
      registerTransfer: 'passed',
      'transferAccount.gas.resolved': 'resolvedByHand',
      close: 'completed',
    });
    expect(Object.values(entryOutcomes(t))).not.toContain('compensated');
  });
  const escalatedAt =
    (stepId: string, times = 1) =>
    (t: Timeline) =>
      t.escalations.filter((e) => e.stepId === stepId).length >= times &&
      t.escalations.some((e) => e.stepId === stepId && !e.resolved) &&
      t.notifications.filter((n) => n.kind === 'escalation' && n.stepId === stepId).length >= times;
  const UNDOING = ['refundTax', 'releaseTitleLock', 'cancelFiling'];
  /** Resolves the escalation at `stepId` by hand and returns the closed case and its entries. */
  async function resolveAndClose(caseId: string, stepId: string, reason: string) {
    expect((await supervise(caseId, stepId, 'resolve', reason)).statusCode).toBe(200);
    const t = await waitForClosed(stack, caseId);
    return { t, outcomes: entryOutcomes(t) };
  }

  it('escalates an account transfer refused after the registration, and undoes nothing', async () => {
    const caseId = await submit(
      stack,
      sampleApplication({ unitId: 'U-GAS-CLOSED-LATER-1', utilities: ['gas'] }),
    );
    await payAndApprove(caseId);
    const escalated = await waitUntil(
      stack,
      caseId,
      escalatedAt('transferAccount.gas'),
      'the refused transfer escalated to the supervisor',
      30_000,
    );
    expect(escalated.phase).toBe('running');
    expect(escalated.escalations[0]!.reason).toMatch(/after the registration/);
    const { t, outcomes } = await resolveAndClose(
      caseId,
      'transferAccount.gas',
      'account reopened and moved to the buyer at the counter',
    );
    expect(t.phase).toBe('completed');
    expect(outcomes).toMatchObject({
      registerTransfer: 'passed',
      'transferAccount.gas': 'rejected',
      'transferAccount.gas.resolved': 'resolvedByHand',
      close: 'completed',
    });
    for (const undo of UNDOING) expect(outcomes[undo], undo).toBeUndefined();
  });

  it('escalates a registration the registry does not answer instead of undoing the case; a retry asks again, a resolution by hand goes on', async () => {
    const caseId = await submit(
      stack,
      sampleApplication({ unitId: 'U-REGISTRY-OUTAGE-1', utilities: [] }),
    );
    await payAndApprove(caseId);
    await waitUntil(stack, caseId, escalatedAt('registerTransfer'), 'an escalation', 30_000);
    expect(
      (await supervise(caseId, 'registerTransfer', 'retry', 'registry back up')).statusCode,
    ).toBe(200);
    const again = await waitUntil(
      stack,
      caseId,
      escalatedAt('registerTransfer', 2),
      'a second escalation after the retry',
      30_000,
    );
    expect(again.escalations[0]).toMatchObject({ resolved: true });
    expect(stepStatus(again, 'registerTransfer')).toBe('escalated');
    // The retry is watched afresh: it too misses its deadline (the registry still does not
    // answer), and the supervisor is told again.
    expect(
      again.notifications.filter(
        (n) => n.party === 'supervisor' && n.kind === 'overdue' && n.stepId === 'registerTransfer',
      ),
    ).toHaveLength(2);
    const { t, outcomes } = await resolveAndClose(
      caseId,
      'registerTransfer',
      'registered at the counter, certificate issued by hand',
    );
    await recordHistory('registration-retried-watched-afresh', caseId);
    expect(t.phase).toBe('completed');
    expect(outcomes['registerTransfer.resolved']).toBe('resolvedByHand');
    for (const undo of UNDOING) expect(outcomes[undo], undo).toBeUndefined();
  });

  it('waits for a registration in flight when a cancellation request comes, and goes on once it is resolved by hand', async () => {
    const application = sampleApplication({ unitId: 'U-REGISTRY-OUTAGE-3', utilities: [] });
    const caseId = await submit(stack, application);
    await payAndApprove(caseId);
    await waitUntil(stack, caseId, escalatedAt('registerTransfer'), 'an escalation', 30_000);
    await cancelCase(application.unitId);
    const { t, outcomes } = await resolveAndClose(
      caseId,
      'registerTransfer',
      'registered at the counter, certificate issued by hand',
    );
    await recordHistory('cancelled-while-the-registration-was-in-flight', caseId);
    expect(t.phase).toBe('completed');
    expect(t.reason).toBeNull();
    expect(outcomes['registerTransfer.resolved']).toBe('resolvedByHand');
    for (const undo of UNDOING) expect(outcomes[undo], undo).toBeUndefined();
  });

  /**
   * A case on `unitId` (a registry outage, water arrears not settled) whose arrears wait passed
   * its final limit while the registration was escalated, once the registration is resolved by
   * hand: past the point of no return the expired wait goes to a supervisor.
   */
  async function expiredWaitEscalated(unitId: string) {
    const caseId = await submit(stack, sampleApplication({ unitId, utilities: ['water'] }));
    await payAndApprove(caseId);
    await waitUntil(stack, caseId, escalatedAt('registerTransfer'), 'an escalation', 30_000);
    // The wait passes its final limit while the registration is escalated, and waits for it
    // to settle either way.
    await waitForStep(stack, caseId, 'settleArrears.water', 'cancelled');
    expect(
      (await supervise(caseId, 'registerTransfer', 'resolve', 'registered at the counter'))
        .statusCode,
    ).toBe(200);
    const escalated = await waitUntil(
      stack,
      caseId,
      escalatedAt('settleArrears.water'),
      'an escalation of the expired arrears wait',
      30_000,
    );
    return { caseId, escalated };
  }

  /** The citizen pays the water arrears the case asks for, through the API. */
  const payArrearsLate = (caseId: string) =>
    stack.app.inject({
      method: 'POST',
      url: `/cases/${caseId}/payments`,
      headers: stack.citizen,
      payload: { stepId: 'settleArrears.water' },
    });

  /**
   * Expects the late payment `paid` to have been taken and its case `caseId` to complete with
   * the arrears settled by it, not by hand, nothing undone; records its history as `history`.
   */
  async function settledByLatePayment(
    caseId: string,
    paid: { statusCode: number; body: string },
    history: string,
  ) {
    expect(paid.statusCode, paid.body).toBe(200);
    const t = await waitForClosed(stack, caseId);
    await recordHistory(history, caseId);
    expect(t.phase).toBe('completed');
    const outcomes = entryOutcomes(t);
    expect(outcomes['settleArrears.water']).toBe('settled');
    expect(outcomes['settleArrears.water.resolved']).toBeUndefined();
    for (const undo of UNDOING) expect(outcomes[undo], undo).toBeUndefined();
    return { t, outcomes };
  }

  it('keeps a registration resolved by hand in flight until its resolution is recorded: a wait that expired meanwhile escalates instead of undoing the transfer', async () => {
    // Nothing is undone past the point of no return.
    const { caseId } = await expiredWaitEscalated('U-REGISTRY-OUTAGE-ARREARS-1');
    const { t, outcomes } = await resolveAndClose(
      caseId,
      'settleArrears.water',
      'arrears taken over by the buyer in the contract',
    );
    expect(t.phase).toBe('completed');
    expect(outcomes['registerTransfer.resolved']).toBe('resolvedByHand');
    expect(outcomes['settleArrears.water.resolved']).toBe('resolvedByHand');
    expect(outcomes['transferAccount.water']).toBe('passed');
    for (const undo of UNDOING) expect(outcomes[undo], undo).toBeUndefined();
  });

  it('takes a late payment on an expired wait that waits for a supervisor: it settles the step as one in time would, and the escalation closes', async () => {
    const { caseId, escalated } = await expiredWaitEscalated('U-REGISTRY-OUTAGE-ARREARS-2');
    // The citizen's view still asks for the arrears.
    const view = await stack.app.inject({
      method: 'GET',
      url: `/cases/${caseId}`,
      headers: stack.citizen,
    });
    expect(view.json<CaseView>().due).toEqual([
      expect.objectContaining({
        stepId: 'settleArrears.water',
        agency: 'water',
        amountCents: 4_210,
      }),
    ]);
    // A supervisor's unlogged read says what is due, not how much.
    const { progress } = await supervisorsRead(caseId);
    expect(progress.due).toEqual([
      expect.objectContaining({ stepId: 'settleArrears.water', amountCents: null }),
    ]);
    expect(progress.steps.every((s) => s.amountDueCents === undefined)).toBe(true);
    expect(escalated.steps.find((s) => s.stepId === 'settleArrears.water')).toMatchObject({
      status: 'escalated',
      takesLateDecision: true,
    });
    expect(escalated.escalations.find((e) => e.stepId === 'settleArrears.water')!.reason).toBe(
      'settleArrears.water waited past its final limit; a late payment still settles it',
    );

    const paid = await payArrearsLate(caseId);
    const { t, outcomes } = await settledByLatePayment(caseId, paid, 'late-payment-after-expiry');
    expect(outcomes['transferAccount.water']).toBe('passed');
    expect(t.steps.find((s) => s.stepId === 'settleArrears.water')).toMatchObject({
      status: 'done',
      outcome: 'settled',
      ledgerIndex: paid.json<{ ledgerIndex: number }>().ledgerIndex,
    });
    expect(t.escalations.find((e) => e.stepId === 'settleArrears.water')).toMatchObject({
      resolved: true,
      resolution: 'settled by a decision that came before any action',
    });
    // It no longer takes a late decision.
    expect(t.steps.find((s) => s.stepId === 'settleArrears.water')).not.toHaveProperty(
      'takesLateDecision',
    );
  });

  it("opens an expired wait again at a supervisor's retry: the case is no longer overdue in the wait's fresh period, and a payment then settles it", async () => {
    const unitId = 'U-REGISTRY-OUTAGE-ARREARS-5';
    const { caseId, escalated } = await expiredWaitEscalated(unitId);
    expect(escalated.overdue).toBe(true);
    const handle = stack.client.workflow.getHandle(caseWorkflowId(unitId));
    expect(
      (await supervise(caseId, 'settleArrears.water', 'retry', 'the buyer asked for more time'))
        .statusCode,
    ).toBe(200);
    const reopened = await waitForStep(stack, caseId, 'settleArrears.water', 'waiting');
    // The step keeps its flag: it was late.
    expect(reopened.steps.find((s) => s.stepId === 'settleArrears.water')!.overdue).toBe(true);
    // The case published itself no longer overdue once the wait was open again (its fresh
    // period, 7 law-days, is 3.5 s here: the history shows it whatever came after), before
    // any payment.
    const flagsAroundTheRetry = async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      const retriedAt = events.findLastIndex(
        (e) =>
          e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name ===
          'resolveEscalation',
      );
      const flags = overdueFlags(events);
      return {
        before: flags.filter((flag) => flag.at < retriedAt).map((flag) => flag.overdue),
        after: flags.filter((flag) => flag.at > retriedAt).map((flag) => flag.overdue),
      };
    };
    await expect
      .poll(async () => (await flagsAroundTheRetry()).after, { timeout: 10_000, interval: 250 })
      .toContain(false);
    // Flagged when the wait first missed its deadline.
    expect((await flagsAroundTheRetry()).before.at(-1)).toBe(true);
    const paid = await payArrearsLate(caseId);
    const { t } = await settledByLatePayment(caseId, paid, 'reopened-wait-no-longer-overdue');
    expect(t.steps.find((s) => s.stepId === 'settleArrears.water')).toMatchObject({
      status: 'done',
      outcome: 'settled',
    });
  });

  it("refuses a supervisor's action while a late payment is being recorded, and the payment then settles the step", async () => {
    const unitId = 'U-REGISTRY-OUTAGE-ARREARS-3';
    const { caseId } = await expiredWaitEscalated(unitId);
    const handle = stack.client.workflow.getHandle(caseWorkflowId(unitId));
    // Decisions the case took (the duty's payment and the review came before this one).
    const decisionsAccepted = async () =>
      ((await handle.fetchHistory()).events ?? []).filter(
        (e) =>
          e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name ===
          'decide',
      ).length;
    expect(await decisionsAccepted()).toBe(2);
    // Every append waits behind this lock: the payment's entry is being recorded until it goes.
    const holder = await stack.adminPool.connect();
    let paying: Promise<{ statusCode: number; body: string }> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE ledger_entries IN SHARE MODE');
      paying = payArrearsLate(caseId);
      await expect.poll(decisionsAccepted, { timeout: 30_000, interval: 250 }).toBe(3);
      const refused = await supervise(
        caseId,
        'settleArrears.water',
        'resolve',
        'settled at the desk',
      );
      expect(refused.statusCode, refused.body).toBe(422);
      expect(refused.json<{ reason: string }>().reason).toContain(
        'a decision on step settleArrears.water is being recorded',
      );
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    await settledByLatePayment(caseId, await paying, 'late-payment-held-supervisor-refused');
  });

  it('changes nothing when the ledger refuses a late payment (a forged signature): the wait stays escalated, and the real payment then settles it', async () => {
    const unitId = 'U-REGISTRY-OUTAGE-ARREARS-4';
    const { caseId, escalated } = await expiredWaitEscalated(unitId);
    const handle = stack.client.workflow.getHandle(caseWorkflowId(unitId));
    // The payment decision the API would send (the citizen's, with its opening), its signature
    // broken, sent past the API as a caller holding Temporal access could: the workflow's
    // validator takes it (right case, step, agency, outcome and opening); only the ledger
    // checks the signature, after the key, and refuses it.
    const { signed, opening } = signDecision({
      key: stack.keys.water!,
      agency: 'water',
      caseId,
      stepId: 'settleArrears.water',
      outcome: 'settled',
      decidedBy: 'citizen',
    });
    expect(verifyStatementSignature(signed, stack.keys.water!.publicKey)).toBe(true);
    const signature = Buffer.from(signed.signature, 'base64');
    signature[0]! ^= 0xff;
    const forged = { ...signed, signature: signature.toString('base64') };
    await expect(
      handle.executeUpdate(decideUpdate, {
        args: [{ stepId: 'settleArrears.water', signed: forged, opening }],
      }),
    ).rejects.toMatchObject({ cause: { type: 'BadSignatureError' } });
    // Nothing changed: the same steps, escalations, records and entries as before it.
    const after = await waitForStep(stack, caseId, 'settleArrears.water', 'escalated');
    expect(after.steps).toEqual(escalated.steps);
    expect(after.escalations).toEqual(escalated.escalations);
    expect(after.records).toEqual(escalated.records);
    expect(after.entries).toEqual(escalated.entries);
    expect(after.steps.find((s) => s.stepId === 'settleArrears.water')).toMatchObject({
      takesLateDecision: true,
    });
    await settledByLatePayment(
      caseId,
      await payArrearsLate(caseId),
      'late-payment-refused-by-the-ledger-then-paid',
    );
  });

  it("does not act on an agency's answer that the ledger holds otherwise under its statement id: the attempt escalates, and the retry is recorded under the next number", async () => {
    const caseId = await submit(stack, sampleApplication({ utilities: [] }));
    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    expect((await pay(caseId)).statusCode).toBe(200);
    await waitForStep(stack, caseId, 'review', 'waiting');
    // What a case reset to an earlier point leaves behind: the registry's earlier answer to
    // the registration, under the id its answer now takes, saying something else.
    const earlier = signStep({
      key: stack.keys.registry!,
      agency: 'registry',
      caseId,
      stepId: 'registerTransfer',
      salt: toBase64(new Uint8Array(32).fill(7)),
      outcome: 'rejected',
      result: { registered: false },
      facts: {},
    });
    const logged = await stack.sequencer.append(earlier.signed);
    expect((await approve(caseId)).statusCode).toBe(200);

    const escalated = await waitUntil(
      stack,
      caseId,
      escalatedAt('registerTransfer'),
      'an escalation of the registration',
      30_000,
    );
    expect(escalated.escalations.find((e) => e.stepId === 'registerTransfer')!.reason).toContain(
      `the ledger already holds ${caseId}/registerTransfer (entry ${logged.entry.index}) saying otherwise (outcome rejected)`,
    );
    expect((await supervise(caseId, 'registerTransfer', 'retry', 'ask again')).statusCode).toBe(
      200,
    );
    const t = await waitForClosed(stack, caseId);
    expect(t.phase).toBe('completed');
    const step = t.steps.find((s) => s.stepId === 'registerTransfer')!;
    expect(step).toMatchObject({ status: 'done', statementId: `${caseId}/registerTransfer/1` });
    expect(step.ledgerIndex).not.toBe(logged.entry.index);
  });

  it('escalates an automatic step past its deadline: the agency that owes it is reminded and a supervisor told; once the step is done late the case is no longer overdue, the step still is', async () => {
    // The filing authority answers in 4 s; verifyContract's deadline (1 law-day) is 0.5 s here.
    const caseId = await submit(
      stack,
      sampleApplication({ unitId: 'U-SLOW-FILING-1', utilities: [] }),
    );
    const t = await waitUntil(
      stack,
      caseId,
      (t) =>
        t.notifications.some(
          (n) => n.party === 'supervisor' && n.kind === 'overdue' && n.stepId === 'verifyContract',
        ),
      'a supervisor told of the overdue verifyContract',
      30_000,
    );
    expect(
      t.notifications.filter((n) => n.stepId === 'verifyContract').map((n) => [n.party, n.kind]),
    ).toEqual(
      expect.arrayContaining([
        ['housing', 'reminder'],
        ['supervisor', 'overdue'],
      ]),
    );
    expect(t.overdue).toBe(true);
    // Late, not failed: the step passes when the authority answers, and the case goes on, no
    // longer overdue (nobody owes anything late), while the step keeps its flag.
    const later = await waitUntil(
      stack,
      caseId,
      (t) => stepStatus(t, 'confirmPayment') === 'waiting' && !t.overdue,
      'the payment waiting and the case no longer overdue',
    );
    expect(later.steps.find((s) => s.stepId === 'verifyContract')).toMatchObject({
      status: 'done',
      overdue: true,
    });
    // Supervisors find it waiting for the payment, and not overdue (visibility lags a little
    // behind; the payment's wait is published with the flag's clearing or after it).
    await expect
      .poll(
        () =>
          listed(
            later.unitId,
            "OneWindowCurrentSteps = 'confirmPayment' AND OneWindowOverdue = false",
          ),
        { timeout: 10_000, interval: 250 },
      )
      .toEqual([`case:${later.unitId}`]);
    expect(await listed(later.unitId, 'OneWindowOverdue = true')).toEqual([]);
    await payAndApprove(caseId);
    expect((await waitForClosed(stack, caseId)).phase).toBe('completed');
    await recordHistory('late-filing-no-longer-overdue', caseId);
  });

  it("does not flag an automatic step whose agency answered in time while the answer's append was held past the deadline", async () => {
    // Every append waits behind this lock; the housing authority and the registry answer at
    // once, and verifyContract's and checkTitle's deadlines (1 law-day) are 0.5 s here. The
    // workflow task running the held append stays open (the SDK heartbeats it, about 8 s), so
    // the deadline's timer reaches the case in the next task, while the append is still held:
    // the history shows the timer fired once that task can start.
    const application = sampleApplication({ utilities: [] });
    const handle = stack.client.workflow.getHandle(caseWorkflowId(application.unitId));
    const holder = await stack.adminPool.connect();
    let caseId: string;
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE ledger_entries IN SHARE MODE');
      caseId = await submit(stack, application);
      await expect
        .poll(async () => timerFired(handle), { timeout: 30_000, interval: 250 })
        .toBe(true);
      expect(await answeredSteps(handle)).toEqual(['checkTitle', 'verifyContract']);
      // The task that carries the timer runs while the appends wait.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    const t = await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    for (const stepId of ['verifyContract', 'checkTitle']) {
      const step = t.steps.find((s) => s.stepId === stepId)!;
      expect(step.status).toBe('done');
      expect(step.overdue ?? false, stepId).toBe(false);
    }
    expect(t.overdue).toBe(false);
    expect(t.notifications.filter((n) => ['reminder', 'overdue'].includes(n.kind))).toEqual([]);
    await payAndApprove(caseId);
    expect((await waitForClosed(stack, caseId)).phase).toBe('completed');
    await recordHistory('answered-in-time-append-held', caseId);
  });

  it('retries a step before the registration through an outage longer than four attempts, rather than undo the case', async () => {
    // The tax system does not answer its first four calls (at 0, 1, 3 and 7 s), where a step
    // from the registration on would have failed to a supervisor; the fifth, at 15 s, answers.
    const caseId = await submit(
      stack,
      sampleApplication({ unitId: 'U-TAX-OUTAGE-1', utilities: [] }),
    );
    const t = await waitForStep(stack, caseId, 'confirmPayment', 'waiting', 60_000);
    expect(t.phase).toBe('running');
    expect(stepStatus(t, 'assessTax')).toBe('done');
    // Late (its deadline is 0.5 s here), not failed: nothing was undone.
    expect(t.steps.filter((s) => s.status === 'compensated')).toEqual([]);
    await stack.client.workflow.getHandle(caseWorkflowId(t.unitId)).terminate('test done');
  });

  it('reminds the supervisor, not the agency, when a step waiting for the supervisor passes its deadline', async () => {
    // Started directly, on a slower clock than the other cases (one law-day is 12 s): the
    // registration's deadline (1 day) then falls after its retries (~7 s) have escalated it.
    // A unit of its own: a registration resolved by hand leaves the simulated registry's lock.
    const application = sampleApplication({ unitId: 'U-REGISTRY-OUTAGE-2', utilities: [] });
    const caseId = randomUUID();
    await stack.client.workflow.start('jointTransferCase', {
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      workflowId: caseWorkflowId(application.unitId),
      args: [{ caseId, application, timeScale: 12 / 86_400 }],
    });
    await payAndApprove(caseId, false);
    const reminded = await waitUntil(
      stack,
      caseId,
      (t) =>
        t.notifications.some(
          (n) =>
            n.kind === 'reminder' && n.stepId === 'registerTransfer' && n.party === 'supervisor',
        ),
      'a reminder to the supervisor',
      40_000,
    );
    expect(stepStatus(reminded, 'registerTransfer')).toBe('escalated');
    const reminders = reminded.notifications.filter((n) => n.kind === 'reminder');
    expect(reminders.map((n) => n.party)).not.toContain('registry');
    const { t } = await resolveAndClose(caseId, 'registerTransfer', 'registered by hand');
    expect(t.phase).toBe('completed');
  });

  /**
   * A case whose title check refuses (a seizure) and whose lock release then keeps failing,
   * once that compensation has gone to a supervisor. Nothing is registered, so the unit can
   * be applied for again once the case is closed.
   */
  async function lockReleaseEscalated() {
    const caseId = await submit(stack, sampleApplication({ unitId: LOCK_OUTAGE, utilities: [] }));
    const escalated = await waitUntil(
      stack,
      caseId,
      escalatedAt('releaseTitleLock'),
      'the failed lock release escalated to the supervisor',
      30_000,
    );
    return { caseId, escalated };
  }
  const LOCK_OUTAGE = 'U-SEIZED-LOCK-OUTAGE-1';

  it('escalates a compensation that keeps failing, and closes the case only once a supervisor resolves it', async () => {
    const { caseId, escalated } = await lockReleaseEscalated();
    expect(escalated.phase).toBe('running');
    // The registry's own words reach the supervisor, not the activity wrapper's.
    expect(escalated.escalations.find((e) => e.stepId === 'releaseTitleLock')!.reason).toBe(
      'compensation releaseTitleLock failed: the lock register is not answering',
    );
    // Supervisors find it by search attribute too, under the compensation's name.
    const listed = async () => {
      const found: string[] = [];
      const query = `WorkflowId = "case:${escalated.unitId}" AND OneWindowCurrentSteps = 'releaseTitleLock'`;
      for await (const w of stack.client.workflow.list({ query })) found.push(w.workflowId);
      return found;
    };
    await expect
      .poll(listed, { timeout: 10_000, interval: 250 })
      .toEqual([`case:${escalated.unitId}`]);
    const refused = await supervise(caseId, 'checkTitle', 'resolve', 'not escalated');
    expect(refused.statusCode).toBe(422);
    const { t, outcomes } = await resolveAndClose(
      caseId,
      'releaseTitleLock',
      'lock removed by hand in the register',
    );
    expect(t.phase).toBe('rejected');
    expect(stepStatus(t, 'checkTitle')).toBe('compensated');
    expect(outcomes).toMatchObject({
      checkTitle: 'rejected',
      'releaseTitleLock.resolved': 'resolvedByHand',
      close: 'rejected',
    });
  });

  /** Every escalation GET /escalations lists for `headers`, page by page (other tests' too). */
  async function escalationsListed(pageSize = 5) {
    const items: { caseId: string; stepId: string }[] = [];
    let pageToken: string | null = null;
    do {
      const url: string = `/escalations?pageSize=${pageSize}${pageToken ? `&pageToken=${pageToken}` : ''}`;
      const response = await stack.app.inject({ method: 'GET', url, headers: stack.supervisor });
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json<{ items: typeof items; nextPageToken: string | null }>();
      items.push(...page.items);
      pageToken = page.nextPageToken;
    } while (pageToken);
    return items;
  }

  it('lists a waiting escalation for supervisors at GET /escalations, and no more once it is resolved', async () => {
    try {
      const { caseId, escalated } = await lockReleaseEscalated();
      const open = escalated.escalations.find((e) => e.stepId === 'releaseTitleLock')!;
      const ours = async () => (await escalationsListed()).filter((i) => i.caseId === caseId);
      // Read through Temporal's visibility store, which may lag the case a little.
      await expect.poll(ours, { timeout: 10_000, interval: 250 }).toEqual([
        {
          caseId,
          unitId: LOCK_OUTAGE,
          stepId: 'releaseTitleLock',
          reason: open.reason,
          escalatedAt: open.at,
          overdue: expect.any(Boolean) as boolean,
          confirmed: true,
        },
      ]);
      expect(open.reason).toMatch(/compensation releaseTitleLock failed/);
      for (const headers of [stack.citizen, stack.officer.registry]) {
        const refused = await stack.app.inject({ method: 'GET', url: '/escalations', headers });
        expect(refused.statusCode).toBe(403);
        expect(refused.json()).toMatchObject({ error: 'forbidden', field: 'authorization' });
      }
      for (const [query, field] of [
        ['pageSize=0', 'pageSize'],
        ['pageToken=garbage', 'pageToken'],
      ]) {
        const refused = await stack.app.inject({
          method: 'GET',
          url: `/escalations?${query}`,
          headers: stack.supervisor,
        });
        expect(refused.statusCode, query).toBe(400);
        expect(refused.json(), query).toMatchObject({ error: 'invalid_request', field });
      }
      const { t } = await resolveAndClose(caseId, 'releaseTitleLock', 'lock removed by hand');
      expect(t.phase).toBe('rejected');
      expect(await ours()).toEqual([]);
    } finally {
      // Closed already unless the test failed: nothing of it may leak into later files.
      await stack.client.workflow
        .getHandle(caseWorkflowId(LOCK_OUTAGE))
        .terminate('test finished')
        .catch(() => undefined);
    }
  });

  it('accepts one of two decisions sent at once on the same step and refuses the other', async () => {
    const caseId = await submit(stack, sampleApplication({ utilities: [] }));
    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    expect((await pay(caseId)).statusCode).toBe(200);
    await waitForStep(stack, caseId, 'review', 'waiting');
    const sent = await Promise.all(
      (['approved', 'rejected'] as const).map((outcome) =>
        decide(
          stack,
          caseId,
          'review',
          signedDecision(stack.keys.registry!, 'registry', caseId, 'review', outcome),
        ),
      ),
    );
    expect(sent.map((r) => r.statusCode).sort()).toEqual([200, 422]);
    const accepted = sent[sent[0]!.statusCode === 200 ? 0 : 1]!;
    const t = await waitForClosed(stack, caseId);
    const reviews = t.entries.filter((e) => e.statement.stepId === 'review');
    expect(reviews).toHaveLength(1);
    expect(reviews[0]!.index).toBe(accepted.json<{ ledgerIndex: number }>().ledgerIndex);
    expect(t.phase).toBe(reviews[0]!.statement.outcome === 'approved' ? 'completed' : 'rejected');
  });

  /** A case paid and waiting for its review; and how many entries it has then. */
  async function caseAtReview(application = sampleApplication({ utilities: [] })) {
    const caseId = await submit(stack, application);
    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    expect((await pay(caseId)).statusCode).toBe(200);
    const at = await waitForStep(stack, caseId, 'review', 'waiting');
    return { caseId, entries: at.entries.length };
  }

  it('refuses a review decision signed by the wrong agency and changes nothing', async () => {
    const { caseId, entries: entriesBefore } = await caseAtReview();

    // The tax bureau's key signing a registry decision, and a tax key claiming to be the registry.
    const wrongAgency = await decide(
      stack,
      caseId,
      'review',
      signedDecision(stack.keys.tax!, 'tax', caseId, 'review', 'approved'),
    );
    expect(wrongAgency.statusCode).toBe(422);
    expect(wrongAgency.json()).toMatchObject({ error: 'refused', field: 'signed' });
    const forged = signedDecision(stack.keys.tax!, 'registry', caseId, 'review', 'approved');
    const claimed = await decide(stack, caseId, 'review', forged);
    expect(claimed.statusCode).toBe(422);

    const after = await waitForStep(stack, caseId, 'review', 'waiting');
    expect(after.entries.length).toBe(entriesBefore);
    expect((await approve(caseId)).statusCode).toBe(200);
    expect((await waitForClosed(stack, caseId)).phase).toBe('completed');
  });

  it("follows a decision the ledger already holds under the step's statement id and refuses the other one sent after it", async () => {
    const { caseId } = await caseAtReview();
    // Its Update's answer was lost: the decision is on the ledger, the case never heard of it.
    const lost = signedDecision(stack.keys.registry!, 'registry', caseId, 'review', 'approved');
    const logged = await stack.sequencer.append(lost);
    expect(logged.created).toBe(true);

    const again = signedDecision(stack.keys.registry!, 'registry', caseId, 'review', 'rejected');
    const refused = await decide(stack, caseId, 'review', again);
    expect(refused.statusCode).toBe(422);
    expect(refused.json()).toMatchObject({ error: 'refused', field: 'signed' });
    expect(refused.json<{ reason: string }>().reason).toBe(
      `StatementIdTaken: the ledger already holds a decision approved under ${caseId}/review (entry ${logged.entry.index}), and the case follows it; this decision was not recorded`,
    );

    const t = await waitForClosed(stack, caseId);
    expect(t.phase).toBe('completed');
    expect(t.steps.find((s) => s.stepId === 'review')).toMatchObject({
      status: 'done',
      outcome: 'approved',
      statementId: `${caseId}/review`,
      ledgerIndex: logged.entry.index,
    });
    const reviews = t.entries.filter((e) => e.statement.stepId === 'review');
    expect(reviews).toEqual([
      expect.objectContaining({ index: logged.entry.index, signature: lost.signature }),
    ]);
  });

  it('answers a decision signed again with the outcome the ledger already holds for the step as accepted, under the logged entry', async () => {
    const { caseId } = await caseAtReview();
    const lost = signedDecision(stack.keys.registry!, 'registry', caseId, 'review', 'approved');
    const logged = await stack.sequencer.append(lost);
    // Signed again a moment later: another issuedAt, so another signature under the same id.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const again = signedDecision(stack.keys.registry!, 'registry', caseId, 'review', 'approved');
    expect(again.signature).not.toBe(lost.signature);
    const answer = await decide(stack, caseId, 'review', again);
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toMatchObject({ ledgerIndex: logged.entry.index });
    const t = await waitForClosed(stack, caseId);
    expect(t.phase).toBe('completed');
    const reviews = t.entries.filter((e) => e.statement.stepId === 'review');
    expect(reviews.map((e) => e.index)).toEqual([logged.entry.index]);
  });

  it('refuses a decision under a repeat number, so a step never has two decisions on the ledger', async () => {
    const { caseId, entries: entriesBefore } = await caseAtReview();
    const { statement } = signedDecision(
      stack.keys.registry!,
      'registry',
      caseId,
      'review',
      'approved',
    );
    const repeat = signStatement(
      { ...statement, statementId: `${caseId}/review/1` },
      stack.keys.registry!,
    );
    const refused = await decide(stack, caseId, 'review', repeat);
    expect(refused.statusCode).toBe(422);
    expect(refused.json<{ reason: string }>().reason).toContain(
      `a decision's statement id is ${caseId}/review, not ${caseId}/review/1`,
    );
    const after = await waitForStep(stack, caseId, 'review', 'waiting');
    expect(after.entries.length).toBe(entriesBefore);
    expect((await approve(caseId)).statusCode).toBe(200);
    expect((await waitForClosed(stack, caseId)).phase).toBe('completed');
  });

  /** Waits for the case to close rejected at review, `reason` in its refusal and on the step. */
  async function closedRejectedWith(caseId: string, reason: string): Promise<Timeline> {
    const t = await waitForClosed(stack, caseId);
    expect(t.phase).toBe('rejected');
    expect(t.reason).toBe(`review: registry decided rejected: ${reason}`);
    expect(t.steps.find((s) => s.stepId === 'review')).toMatchObject({
      status: 'rejected',
      outcome: 'rejected',
      reason,
    });
    // A supervisor's unlogged read is the progress alone: the officer's reason is in the
    // timeline, whose read is logged.
    const { progress, body } = await supervisorsRead(caseId);
    expect(progress).toMatchObject({ phase: 'rejected', reason: null });
    expect(progress.steps.find((s) => s.stepId === 'review')).toEqual(
      expect.objectContaining({ status: 'rejected', outcome: 'rejected' }),
    );
    expect(body).not.toContain(reason);
    return t;
  }

  /** The review decided by the registry's own system, signed with its key, with its opening. */
  const registryDecides = (caseId: string, outcome: 'approved' | 'rejected', reason: string) =>
    signDecision({
      key: stack.keys.registry!,
      agency: 'registry',
      caseId,
      stepId: 'review',
      outcome,
      decidedBy: 'system',
      reason,
    });

  /** Entries on the whole ledger whose bytes hold `text`. */
  async function entriesHolding(text: string): Promise<number> {
    const { rows } = await stack.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM ledger_entries WHERE position($1::bytea IN entry) > 0',
      [Buffer.from(text)],
    );
    return rows[0]!.n;
  }

  it("refuses a decision whose opening does not open its commitment (400 naming opening), changing nothing; with its own opening the reason reaches the case's status, not the ledger", async () => {
    const { caseId, entries: entriesBefore } = await caseAtReview();
    const reason = 'the seller Petra Dvořák has not signed the contract';
    const { signed, opening } = registryDecides(caseId, 'rejected', reason);

    const tampered = { ...opening, record: { ...opening.record, reason: 'all in order' } };
    const refused = await decide(stack, caseId, 'review', signed, tampered);
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ error: 'invalid_request', field: 'opening' });
    const after = await waitForStep(stack, caseId, 'review', 'waiting');
    expect(after.entries.length).toBe(entriesBefore);
    expect(after.steps.find((s) => s.stepId === 'review')).not.toHaveProperty('outcome');

    expect((await decide(stack, caseId, 'review', signed, opening)).statusCode).toBe(200);
    await closedRejectedWith(caseId, reason);
    expect(await entriesHolding(reason)).toBe(0);
  });

  /**
   * Sends each of `refused` straight to Temporal, past the API's checks: the workflow's
   * validator refuses each with `message`, the review stays open, and `accepted` then
   * completes the case.
   */
  async function refusedByTheWorkflow(
    unitId: string,
    caseId: string,
    refused: Decision[],
    message: RegExp,
    accepted: Decision,
  ) {
    const handle = stack.client.workflow.getHandle(caseWorkflowId(unitId));
    for (const decision of refused)
      await expect(handle.executeUpdate(decideUpdate, { args: [decision] })).rejects.toMatchObject({
        cause: { message: expect.stringMatching(message) as string },
      });
    const still = await waitForStep(stack, caseId, 'review', 'waiting');
    expect(still.steps.find((s) => s.stepId === 'review')).not.toHaveProperty('outcome');
    await handle.executeUpdate(decideUpdate, { args: [accepted] });
    expect((await waitForClosed(stack, caseId)).phase).toBe('completed');
  }

  it('refuses, at the workflow itself, a decision whose opening records another outcome or no record, so no update can break the case', async () => {
    const application = sampleApplication({ utilities: [] });
    const { caseId } = await caseAtReview(application);
    const { signed, opening } = registryDecides(caseId, 'approved', 'in order');
    const badOpenings = [
      { ...opening, record: { ...opening.record, outcome: 'rejected' } },
      {},
      null,
    ];
    await refusedByTheWorkflow(
      application.unitId,
      caseId,
      badOpenings.map((bad) => ({ stepId: 'review', signed, opening: bad as typeof opening })),
      /opening must record outcome approved/,
      { stepId: 'review', signed, opening },
    );
  });

  it("refuses, at the workflow itself, a decision whose facts hold more than the deciding role, so an agency's system cannot put a reason on the ledger", async () => {
    const application = sampleApplication({ utilities: [] });
    const { caseId } = await caseAtReview(application);
    const reason = 'Jan Novák has not signed';
    const { signed, opening } = registryDecides(caseId, 'approved', 'in order');
    const talkative = signStatement(
      { ...signed.statement, facts: { decidedBy: 'system', reason } },
      stack.keys.registry!,
    );
    await refusedByTheWorkflow(
      application.unitId,
      caseId,
      [{ stepId: 'review', signed: talkative }],
      /facts must hold only decidedBy/,
      { stepId: 'review', signed, opening },
    );
    expect(await entriesHolding(reason)).toBe(0);
  });

  it('refuses, at the workflow itself, a decision whose statement carries a field beside its own, so a reason cannot ride along to the ledger', async () => {
    const application = sampleApplication({ utilities: [] });
    const { caseId } = await caseAtReview(application);
    const reason = 'Jan Novák owes the bank';
    const { signed, opening } = registryDecides(caseId, 'approved', 'in order');
    const extended = signStatement({ ...signed.statement, reason }, stack.keys.registry!);
    await refusedByTheWorkflow(
      application.unitId,
      caseId,
      [{ stepId: 'review', signed: extended }],
      /holds only its own fields, not reason/,
      { stepId: 'review', signed, opening },
    );
    expect(await entriesHolding(reason)).toBe(0);
  });

  it("sends a citizen's payment to the agency's desk as made by a citizen, without the citizen's sign-in identity", async () => {
    const caseId = await submit(stack, sampleApplication({ utilities: [] }));
    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    const paid = await stack.app.inject({
      method: 'POST',
      url: `/cases/${caseId}/payments`,
      headers: stack.citizen,
      payload: { stepId: 'confirmPayment' },
    });
    expect(paid.statusCode, paid.body).toBe(200);
    const query = `WorkflowType = 'agencyDecision' AND WorkflowId STARTS_WITH 'desk:${caseId}:'`;
    let workflowId: string | undefined;
    await expect
      .poll(
        async () => {
          for await (const run of stack.client.workflow.list({ query }))
            workflowId = run.workflowId;
          return workflowId;
        },
        { timeout: 10_000, interval: 250 },
      )
      .toBeDefined();
    const history = await stack.client.workflow.getHandle(workflowId!).fetchHistory();
    const [payload] = await new AesGcmPayloadCodec(stack.payloadKey).decode(
      history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads!,
    );
    const request = defaultPayloadConverter.fromPayload<{ stepId: string; actor: string }>(
      payload!,
    );
    expect(request).toMatchObject({ stepId: 'confirmPayment', actor: 'citizen' });
  });

  it("an officer's rejection with a reason: the review's entry holds no reason, the case's status shows it, the case's refusal ends with it, and erasing the case deletes the desk request's history too", async () => {
    const { caseId } = await caseAtReview();
    const reason = "buyer Jan Novák's ID card expired";
    const response = await stack.app.inject({
      method: 'POST',
      url: `/cases/${caseId}/decisions`,
      headers: stack.officer.registry,
      payload: { stepId: 'review', outcome: 'rejected', reason },
    });
    expect(response.statusCode, response.body).toBe(200);
    const t = await closedRejectedWith(caseId, reason);
    const review = t.entries.find((e) => e.statement.stepId === 'review');
    expect(review?.statement.facts).toEqual({ decidedBy: 'officer' });
    expect(await entriesHolding(reason)).toBe(0);
    expect(await entriesHolding('Novák')).toBe(0);

    // The desk request's own workflow took the reason to the registry's worker: its history
    // holds it apart from the case's, and goes with the case's erasure.
    const query = `WorkflowType = 'agencyDecision' AND WorkflowId STARTS_WITH 'desk:${caseId}:'`;
    const deskRuns = async () => (await stack.client.workflow.count(query)).count;
    await expect.poll(deskRuns, { timeout: 10_000, interval: 250 }).toBe(1);
    await eraseCase({ pool: stack.pool, temporal: stack.client }, caseId);
    await expect.poll(deskRuns, { timeout: 60_000, interval: 1000 }).toBe(0);
  });

  it('answers a malformed decision or supervisor action with 400 naming the field, changing nothing', async () => {
    const caseId = await submit(stack, sampleApplication({ utilities: [] }));
    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    const noSignature = await stack.app.inject({
      method: 'POST',
      url: `/cases/${caseId}/decisions`,
      headers: stack.officer.tax,
      payload: { stepId: 'confirmPayment' },
    });
    expect(noSignature.statusCode).toBe(400);
    expect(noSignature.json()).toMatchObject({ error: 'invalid_request', field: 'signed' });
    const badAction = await stack.app.inject({
      method: 'POST',
      url: `/cases/${caseId}/escalations`,
      headers: stack.supervisor,
      payload: { stepId: 'confirmPayment', action: 'delete', reason: 'x' },
    });
    expect(badAction.statusCode).toBe(400);
    expect(badAction.json()).toMatchObject({ error: 'invalid_request', field: 'action' });
    const unknownCase = await stack.app.inject({
      method: 'POST',
      url: `/cases/not-a-case/decisions`,
      headers: stack.officer.registry,
      payload: {},
    });
    expect(unknownCase.statusCode).toBe(400);
    expect(unknownCase.json()).toMatchObject({ error: 'invalid_request', field: 'caseId' });
    const after = await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    expect(stepStatus(after, 'confirmPayment')).toBe('waiting');
    // Not left to expire (and compensate) while the next test file's workers run.
    await stack.client.workflow.getHandle(`case:${after.unitId}`).terminate('test done');
  });

  it('refuses a decision for a step that is not open', async () => {
    const caseId = await submit(stack, sampleApplication({ utilities: [] }));
    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    const early = await approve(caseId);
    expect(early.statusCode).toBe(422);
    expect(early.json<{ reason: string }>().reason).toMatch(/review is not open/);
    await stack.client.workflow
      .getHandle(`case:${(await waitForStep(stack, caseId, 'confirmPayment', 'waiting')).unitId}`)
      .terminate('test done');
  });

  it("gives each agency, for each step up to the payment, only that step's salt, derived from the case's, never the case's salt itself", async () => {
    const application = sampleApplication({ utilities: ['electricity'] });
    const caseId = await submit(stack, application);
    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    const given = await expectOwnStepSalts(caseId, application.unitId);
    expect([...given.keys()].sort()).toEqual(
      ['assessTax', 'checkTitle', 'precheck.electricity', 'verifyContract'].sort(),
    );
    await stack.client.workflow
      .getHandle(caseWorkflowId(application.unitId))
      .terminate('test done');
  });

  it("keeps the citizen's personal data out of Temporal's history: every payload is encrypted", async () => {
    const application = sampleApplication({ utilities: ['electricity'] });
    const caseId = await submit(stack, application);
    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    const handle = stack.client.workflow.getHandle(`case:${application.unitId}`);
    const history = await handle.fetchHistory();
    // The history's payloads come as base64: decode every such string, so plaintext would show.
    const texts: string[] = [];
    const walk = (value: unknown): void => {
      if (typeof value === 'string')
        texts.push(value, Buffer.from(value, 'base64').toString('latin1'));
      else if (value && typeof value === 'object') Object.values(value).forEach(walk);
    };
    walk(JSON.parse(JSON.stringify(history)));
    const raw = texts.join('\n');
    for (const secret of [
      'Mina Park',
      'B1234567',
      'S7654321',
      '12 Harbour Lane',
      String(application.priceCents),
    ]) {
      expect(raw.includes(secret), `${secret} readable in the history`).toBe(false);
    }
    expect(raw.includes('binary/encrypted')).toBe(true);
    // Decoded with the key, the same history does hold them: the check above can fail.
    const started =
      history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    const [decoded] = await new AesGcmPayloadCodec(stack.payloadKey).decode(started);
    const input = defaultPayloadConverter.fromPayload<{ application: { buyer: { name: string } } }>(
      decoded!,
    );
    expect(input.application.buyer.name).toBe('Mina Park');
    await handle.terminate('test done');
  });

  it('keeps no record of who read a case and why when the read races the erasure of the case', async () => {
    const application = sampleApplication({ utilities: [] });
    const caseId = await submit(stack, application);
    await waitForStep(stack, caseId, 'intake', 'done');
    const records = async () =>
      (await stack.pool.query('SELECT 1 FROM access_records WHERE case_id = $1', [caseId]))
        .rowCount;
    // An erasure's transaction as eraseCase runs it, holding the case's row, not committed yet.
    const erasing = await stack.adminPool.connect();
    try {
      await erasing.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      await erasing.query('SELECT 1 FROM cases WHERE case_id = $1 FOR UPDATE', [caseId]);
      await erasing.query('DELETE FROM access_records WHERE case_id = $1', [caseId]);
      await erasing.query('UPDATE cases SET erased_at = now() WHERE case_id = $1', [caseId]);
      // A read that took the row before: it was told to keep its record.
      const read = ledgerAccessRecorder({
        key: stack.keys.orchestrator!,
        append: (signed) => stack.sequencer.append(signed),
        pool: stack.pool,
      })(...readDuringErasure(caseId));
      // Its record waits for the erasure's lock on the row...
      await expect
        .poll(
          async () =>
            (
              await stack.pool.query(
                `SELECT 1 FROM pg_stat_activity
                  WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO access_records%'`,
              )
            ).rowCount,
          { timeout: 10_000, interval: 100 },
        )
        .toBe(1);
      await erasing.query('COMMIT');
      await read;
      // ...and, the erasure committed, is not kept.
      expect(await records()).toBe(0);
    } finally {
      await erasing.query('ROLLBACK').catch(() => undefined);
      erasing.release();
      await stack.client.workflow
        .getHandle(caseWorkflowId(application.unitId))
        .terminate('test done')
        .catch(() => undefined);
    }
  });

  it("keeps no record of a read that held the case's row when its erasure began, on a database whose default isolation is repeatable read", async () => {
    const database = await freshDatabase();
    const admin = new pg.Pool({ connectionString: database.adminUrl, max: 1 });
    const name = new URL(database.adminUrl).pathname.slice(1);
    await admin.query(
      `ALTER DATABASE ${name} SET default_transaction_isolation = 'repeatable read'`,
    );
    const pool = new pg.Pool({ connectionString: database.appUrl, max: 4 });
    const caseId = randomUUID();
    const records = async () =>
      (await pool.query('SELECT 1 FROM access_records WHERE case_id = $1', [caseId])).rowCount;
    try {
      // A closed case whose run Temporal no longer holds: the erasure goes straight to its rows.
      await pool.query(
        `INSERT INTO cases (case_id, unit_id, workflow_id, run_id)
         VALUES ($1, 'U-RR-1', 'case:U-RR-1', $2)`,
        [caseId, randomUUID()],
      );
      // A read's record as ledgerAccessRecorder keeps it, its transaction not committed yet.
      const reader = await pool.connect();
      try {
        await reader.query('BEGIN');
        await reader.query(
          `INSERT INTO access_records (statement_id, case_id, salt, record)
           SELECT $1, $2, $3, $4 FROM cases WHERE case_id = $2 AND erased_at IS NULL FOR SHARE`,
          [`${caseId}/access`, caseId, randomBytes(32), { purpose: 'read as it was erased' }],
        );
        const erasure = eraseCase({ pool, temporal: stack.client }, caseId);
        // The erasure waits for the row...
        await expect
          .poll(
            async () =>
              (
                await admin.query(
                  `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'
                      AND query LIKE '%FROM cases WHERE case_id = $1 FOR UPDATE%'`,
                  [name],
                )
              ).rowCount,
            { timeout: 10_000, interval: 100 },
          )
          .toBe(1);
        await reader.query('COMMIT');
        expect((await erasure).erasedNow).toBe(true);
      } finally {
        await reader.query('ROLLBACK').catch(() => undefined);
        reader.release();
      }
      // ...and, the read committed first, deletes its record.
      expect(await records()).toBe(0);
    } finally {
      await pool.end();
      await admin.end();
    }
  });

  /**
   * A case waiting for its payment, then reset to its first workflow task, as an operator
   * repairs a case: the case goes on in a run the reset makes, which copies the application;
   * the first run is terminated, so closed.
   */
  async function caseResetWhileWaitingToPay() {
    const application = sampleApplication({ utilities: [] });
    const caseId = await submit(stack, application);
    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    const workflowId = caseWorkflowId(application.unitId);
    const first = await stack.client.workflow.getHandle(workflowId).describe();
    const { events } = await stack.client.workflow
      .getHandle(workflowId, first.runId)
      .fetchHistory();
    const firstTask = events!.find((event) => event.workflowTaskCompletedEventAttributes)!;
    const { runId: resetRunId } = await stack.client.workflowService.resetWorkflowExecution({
      namespace: stack.client.options.namespace,
      workflowExecution: { workflowId, runId: first.runId },
      workflowTaskFinishEventId: firstTask.eventId,
      requestId: randomUUID(),
      reason: 'test: an operator repairs the case',
    });
    return { application, caseId, workflowId, first, resetRunId };
  }

  it('shows and takes decisions in the run a reset made of a case, where the case goes on', async () => {
    const { application, caseId, workflowId, first, resetRunId } =
      await caseResetWhileWaitingToPay();
    expect(
      (await stack.client.workflow.getHandle(workflowId, first.runId).describe()).status.name,
    ).toBe('TERMINATED');
    // The citizen's view and the agencies' decisions follow the case into the new run.
    expect((await timeline(stack, caseId)).workflowStatus).toBe('RUNNING');
    await payAndApprove(caseId);
    // Awaited from Temporal: a read through the API now would keep the closed case's state.
    const result = await stack.client.workflow
      .getHandle<typeof jointTransferCase>(workflowId, resetRunId)
      .result();
    expect(result.phase).toBe('completed');
    // A later case of the unit (refused: the registry holds the unit as the buyer's now): the
    // first is still shown as its reset run ended (Temporal names that run in the one it
    // reset), not as the run the reset terminated.
    const later = await submit(stack, application);
    expect((await stack.client.workflow.getHandle(workflowId).describe()).runId).not.toBe(
      resetRunId,
    );
    const again = await timeline(stack, caseId);
    expect([again.workflowStatus, again.phase]).toEqual(['COMPLETED', 'completed']);
    await waitForClosed(stack, later);
  });

  it("lists a reset case as the run the reset made shows it: in the citizen's list, the supervisors' and the registry's inbox", async () => {
    const { caseId, workflowId, resetRunId } = await caseResetWhileWaitingToPay();
    try {
      await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
      expect((await pay(caseId)).statusCode).toBe(200);
      await waitForStep(stack, caseId, 'review', 'waiting');
      const get = async <T>(url: string, headers: { authorization: string }) => {
        const response = await stack.app.inject({ method: 'GET', url, headers });
        expect(response.statusCode, response.body).toBe(200);
        return response.json<T>();
      };
      type Listed = { caseId: string; currentSteps: string[]; closedAt: string | null };
      const listed = async (url: string, headers: { authorization: string }) =>
        (await get<{ cases: Listed[] }>(url, headers)).cases.filter((c) => c.caseId === caseId);
      // The first run, terminated, last showed the payment waiting: the lists show the review.
      const open = [{ caseId, currentSteps: ['review'], closedAt: null }];
      const poll = { timeout: 15_000, interval: 250 };
      await expect
        .poll(() => listed('/cases?pageSize=100', stack.citizen), poll)
        .toMatchObject(open);
      await expect
        .poll(() => listed('/cases?step=review&pageSize=100', stack.supervisor), poll)
        .toMatchObject(open);
      expect(await listed('/cases?pageSize=100', stack.supervisor)).toMatchObject(open);
      await expect
        .poll(
          async () =>
            (
              await get<{ items: { caseId: string }[] }>(
                '/inbox?pageSize=100',
                stack.officer.registry,
              )
            ).items.filter((item) => item.caseId === caseId),
          poll,
        )
        .toMatchObject([{ caseId, stepId: 'review', confirmed: true }]);
    } finally {
      await stack.client.workflow.getHandle(workflowId, resetRunId).terminate('test done');
    }
  });

  it('erases every run a reset made of a case, and refuses while the case goes on in one', async () => {
    const { caseId, workflowId, first, resetRunId } = await caseResetWhileWaitingToPay();
    await expect
      .poll(
        async () => {
          const runs: string[] = [];
          for await (const run of stack.client.workflow.list({
            query: `WorkflowId = '${workflowId}'`,
          }))
            runs.push(run.runId);
          return runs;
        },
        { timeout: 10_000, interval: 250 },
      )
      .toContain(resetRunId);
    const erase = () => eraseCase({ pool: stack.pool, temporal: stack.client }, caseId);
    await expect(erase()).rejects.toMatchObject({ name: 'CaseStillOpenError' });
    await stack.client.workflow.getHandle(workflowId, resetRunId).terminate('test done');
    expect((await erase()).erasedNow).toBe(true);
    for (const runId of [first.runId, resetRunId])
      await expect
        .poll(
          () =>
            stack.client.workflow
              .getHandle(workflowId, runId)
              .describe()
              .then(
                () => 'still there',
                (e: unknown) => (e as Error).name,
              ),
          { timeout: 60_000, interval: 1000 },
        )
        .toBe('WorkflowNotFoundError');
  });

  it("erases a closed case's personal data, and the ledger still verifies", async () => {
    const caseId = await submit(
      stack,
      sampleApplication({ unitId: 'U-OBJECTION-1', utilities: [] }),
    );
    const closed = await waitForClosed(stack, caseId);
    expect(closed.phase).toBe('rejected');
    const open = await submit(stack, sampleApplication({ utilities: [] }));
    const eraseOpen = () => eraseCase({ pool: stack.pool, temporal: stack.client }, open);
    await expect(eraseOpen()).rejects.toMatchObject({ name: 'CaseStillOpenError' });
    // Again once its intake has stored the application: refused, and the application stays
    // (checked at the end).
    const opened = await waitForStep(stack, open, 'intake', 'done');
    await expect(eraseOpen()).rejects.toMatchObject({ name: 'CaseStillOpenError' });
    // Not left to expire (and compensate) while the next test file's workers run.
    await stack.client.workflow.getHandle(`case:${opened.unitId}`).terminate('test done');

    const notices = async () =>
      Number(
        (
          await stack.pool.query<{ n: string }>(
            'SELECT count(*) AS n FROM notifications WHERE case_id = $1',
            [caseId],
          )
        ).rows[0]!.n,
      );
    expect(await notices()).toBeGreaterThan(0);
    // A supervisor's read: who read and why are kept off the ledger, and go with the case.
    const read = (
      await stack.app.inject({
        method: 'GET',
        url: `/cases/${caseId}/timeline?purpose=checking+the+rejection`,
        headers: stack.supervisor,
      })
    ).json<{ access: { ledgerIndex: number } }>().access;
    const accessRecords = async () =>
      (await stack.pool.query('SELECT 1 FROM access_records WHERE case_id = $1', [caseId]))
        .rowCount;
    expect(await accessRecords()).toBe(1);
    const applicantsRead = async () =>
      (await stack.app.inject({ method: 'GET', url: `/cases/${caseId}`, headers: stack.citizen }))
        .statusCode;
    expect(await applicantsRead()).toBe(200);
    // As an operator erases it: the command, with the deployment's environment.
    const operatorEnv = {
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      DATABASE_URL: inject('databaseUrl'),
      ONEWINDOW_PAYLOAD_KEY: TEST_PAYLOAD_KEY,
    };
    const erased = await onewindow(['case', 'erase', caseId], operatorEnv);
    expect(erased.stderr).toBe('');
    expect(erased.code).toBe(0);
    expect(erased.stdout).toMatch(new RegExp(`^erased case ${caseId} at `));
    expect(
      (await stack.pool.query('SELECT 1 FROM case_secrets WHERE case_id = $1', [caseId])).rowCount,
    ).toBe(0);
    expect(await notices()).toBe(0);
    expect(await accessRecords()).toBe(0);
    // Who applied goes too: the case no longer shows to its applicant, as any other's.
    expect(
      (await stack.pool.query('SELECT applicant FROM cases WHERE case_id = $1', [caseId])).rows,
    ).toEqual([{ applicant: null }]);
    expect(await applicantsRead()).toBe(404);
    // A read after the erasure is logged, and keeps no record of who read and why either.
    const later = await stack.app.inject({
      method: 'GET',
      url: `/cases/${caseId}/timeline?purpose=checking+the+erasure`,
      headers: stack.supervisor,
    });
    expect(later.statusCode).toBe(200);
    expect(await accessRecords()).toBe(0);
    const accesses = await stack.app.inject({
      method: 'GET',
      url: `/cases/${caseId}/access-log`,
      headers: stack.supervisor,
    });
    expect(accesses.json()).toEqual({
      accesses: [read, later.json<{ access: { ledgerIndex: number } }>().access].map((a): unknown =>
        expect.objectContaining({
          ledgerIndex: a.ledgerIndex,
          role: 'supervisor',
          actor: null,
          purpose: null,
        }),
      ),
    });
    // Nor one that read the case's row just before the erasure committed, so was told to keep
    // its record: the erasure went first, and the record is not kept.
    const raced = ledgerAccessRecorder({
      key: stack.keys.orchestrator!,
      append: (signed) => stack.sequencer.append(signed),
      pool: stack.pool,
    });
    await raced(...readDuringErasure(caseId));
    expect(await accessRecords()).toBe(0);
    await expect
      .poll(
        async () =>
          stack.client.workflow
            .getHandle(`case:${closed.unitId}`, closed.runId)
            .describe()
            .then(
              () => 'still there',
              (e: unknown) => (e as Error).name,
            ),
        { timeout: 60_000, interval: 1000 },
      )
      .toBe('WorkflowNotFoundError');
    const after = await stack.app.inject({
      method: 'GET',
      url: `/cases/${caseId}`,
      headers: stack.supervisor,
    });
    expect(after.json()).toMatchObject({ workflowStatus: 'ERASED', phase: 'rejected' });
    // Every entry stays, the supervisor's two reads and the raced one among them.
    expect(after.json<{ entries: unknown[] }>().entries).toHaveLength(closed.entries.length + 3);
    // A case erased before who applied went with it: erasing it again clears them, and so
    // does migration 11 for every such case.
    const applicantOnRow = async () =>
      (
        await stack.pool.query<{ applicant: string | null }>(
          'SELECT applicant FROM cases WHERE case_id = $1',
          [caseId],
        )
      ).rows[0]!.applicant;
    const erasedTheOldWay = () =>
      stack.adminPool.query("UPDATE cases SET applicant = 'citizen-1' WHERE case_id = $1", [
        caseId,
      ]);
    await erasedTheOldWay();
    const again = await onewindow(['case', 'erase', caseId], operatorEnv);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^case ${caseId} was already erased at `));
    expect(await applicantOnRow()).toBeNull();
    await erasedTheOldWay();
    await stack.adminPool.query(MIGRATIONS.find((m) => m.version === 11)!.sql);
    expect(await applicantOnRow()).toBeNull();

    const url = `${await stack.app.listen({ port: 0, host: '127.0.0.1' })}/ledger`;
    const trust = join(mkdtempSync(join(tmpdir(), 'onewindow-erase-')), 'trust.json');
    await writeTrustFile(stack, trust);
    await stack.publisher.request();
    const audit = await onewindow(['ledger', 'audit', '--url', url, '--trust', trust]);
    expect(audit.stderr).not.toContain('FAILED');
    expect(audit.code).toBe(0);
    expect((await onewindow(['case', 'erase', 'not-a-case-id'])).code).toBe(2);
    // The open case, whose erasure was refused above (and which was then terminated), kept
    // its personal data through all of this: only the erased case lost it.
    expect(
      (await stack.pool.query('SELECT 1 FROM case_secrets WHERE case_id = $1', [open])).rowCount,
    ).toBe(1);
    expect(
      (await stack.pool.query('SELECT erased_at FROM cases WHERE case_id = $1', [open])).rows,
    ).toEqual([{ erased_at: null }]);
    expect(await timeline(stack, open)).toMatchObject({
      caseId: open,
      workflowStatus: 'TERMINATED',
    });
  });
});
