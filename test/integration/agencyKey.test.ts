// An agency's answer before the registration that the ledger refuses for the agency's key (a
// worker started with a key never registered, or one revoked): the operator's fault, not the
// case's. Since the patch 'agency-key-refused-waits' the step waits for a supervisor's retry
// once the worker signs with a key the ledger accepts; before, the citizen's application was
// refused as failed and the case undone.
import { NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAgencyWorker } from '../../cli/workers.ts';
import type { Agency } from '../../domain/agency.ts';
import { caseWorkflowId } from '../../domain/application.ts';
import { agencyKeyName, generateSigningKey, type SigningKey } from '../../ledger/keys.ts';
import {
  approve,
  pay,
  recordHistory,
  stepStatus,
  submit,
  supervise,
  waitForClosed,
  waitForStep,
  waitUntil,
} from './caseDriver.ts';
import { sampleApplication, startStack, type Stack, type Timeline } from './stack.ts';

let stack: Stack;
let connection: NativeConnection;
/** The workers each test starts for the agencies the stack leaves out. */
const started = new Map<Agency, { worker: Worker; running: Promise<void> }>();

beforeAll(async () => {
  // Every agency but housing and water, whose workers each test starts with the key it needs.
  stack = await startStack(['tax', 'registry', 'electricity', 'gas'], {
    // One law-day is 5 s: the waits below are far inside every deadline.
    timeScale: 5 / 86_400,
  });
  connection = await NativeConnection.connect({ address: inject('temporalAddress') });
});
afterAll(async () => {
  for (const agency of [...started.keys()]) await stopAgency(agency);
  await connection?.close();
  await stack?.stop();
});

async function stopAgency(agency: Agency): Promise<void> {
  const running = started.get(agency);
  started.delete(agency);
  running?.worker.shutdown();
  await running?.running;
}

/** (Re)starts `agency`'s worker, signing with `key`. */
async function startAgency(agency: Agency, key: SigningKey): Promise<void> {
  await stopAgency(agency);
  const worker = await createAgencyWorker({
    connection,
    agency,
    key,
    payloadKey: stack.payloadKey,
  });
  started.set(agency, { worker, running: worker.run() });
}

const startHousing = (key: SigningKey) => startAgency('housing', key);

/** A key of the right name for `agency` that the ledger has never registered. */
const unregisteredKey = (agency: Agency = 'housing') => generateSigningKey(agencyKeyName(agency));

const escalationsAt = (t: Timeline, stepId: string) =>
  t.escalations.filter((e) => e.stepId === stepId);

const entryStepIds = (t: Timeline) => t.entries.map((e) => e.statement.stepId);

describe("an agency's answer the ledger refuses for its key, before the registration", () => {
  it('waits for a supervisor, refuses a resolution by hand, and goes on once a retry runs on a worker with a registered key', async () => {
    const unregistered = unregisteredKey();
    await startHousing(unregistered);
    const caseId = await submit(stack, sampleApplication({ utilities: [] }));

    const held = await waitForStep(stack, caseId, 'verifyContract', 'escalated');
    expect(held.workflowStatus).toBe('RUNNING');
    expect(held.phase).toBe('running');
    const [escalation, ...more] = escalationsAt(held, 'verifyContract');
    expect(more).toEqual([]);
    expect(escalation).toMatchObject({ resolved: false, retryOnly: true });
    expect(escalation!.reason).toContain("verifyContract: the ledger refused housing's answer");
    expect(escalation!.reason).toContain(unregistered.keyId);
    expect(held.notifications).toContainEqual(
      expect.objectContaining({
        party: 'supervisor',
        kind: 'escalation',
        stepId: 'verifyContract',
      }),
    );
    // Nothing was undone: the title check (run beside it) stands, its lock is not released.
    await waitForStep(stack, caseId, 'checkTitle', 'done');
    expect(entryStepIds(held)).not.toContain('verifyContract');
    expect(entryStepIds(held)).not.toContain('releaseTitleLock');

    // The case needs the agency's signed answer: it cannot be made by hand.
    const byHand = await supervise(stack, caseId, 'verifyContract', 'resolve', 'filed on paper');
    expect(byHand.statusCode, byHand.body).toBe(422);
    expect(byHand.json()).toMatchObject({ error: 'refused', field: 'stepId' });
    expect(byHand.json<{ reason: string }>().reason).toContain(
      "needs its agency's signed answer on the ledger",
    );

    // A retry on a worker that still signs with the unregistered key is recorded, refused
    // again, and held again.
    const early = await supervise(stack, caseId, 'verifyContract', 'retry', 'tried too early');
    expect(early.statusCode, early.body).toBe(200);
    const again = await waitUntil(
      stack,
      caseId,
      (t) =>
        escalationsAt(t, 'verifyContract').length === 2 &&
        stepStatus(t, 'verifyContract') === 'escalated',
      'the step held again',
    );
    expect(escalationsAt(again, 'verifyContract').map((e) => e.resolved)).toEqual([true, false]);
    expect(entryStepIds(again)).not.toContain('verifyContract');

    await startHousing(stack.keys.housing!);
    const retry = await supervise(stack, caseId, 'verifyContract', 'retry', 'key registered');
    expect(retry.statusCode, retry.body).toBe(200);
    const verified = await waitForStep(stack, caseId, 'verifyContract', 'done');
    // Each retry is on the ledger, numbered, then the answer signed under the registered key
    // (the third attempt: /2).
    const retries = verified.entries.filter((e) => e.statement.stepId === 'verifyContract.retried');
    expect(retries.map((e) => e.statement.statementId)).toEqual([
      `${caseId}/verifyContract.retried`,
      `${caseId}/verifyContract.retried/1`,
    ]);
    expect(retries.every((e) => e.statement.agency === 'orchestrator')).toBe(true);
    const answer = verified.entries.find((e) => e.statement.stepId === 'verifyContract');
    expect(answer?.statement).toMatchObject({
      statementId: `${caseId}/verifyContract/2`,
      agency: 'housing',
      keyId: stack.keys.housing!.keyId,
    });
    expect(answer!.index).toBeGreaterThan(retries[1]!.index);
    expect(escalationsAt(verified, 'verifyContract').map((e) => e.resolution)).toEqual([
      'retry by supervisor:supervisor-1: tried too early',
      'retry by supervisor:supervisor-1: key registered',
    ]);

    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    expect((await pay(stack, caseId)).statusCode).toBe(200);
    await waitForStep(stack, caseId, 'review', 'waiting');
    expect((await approve(stack, caseId)).statusCode).toBe(200);
    const closed = await waitForClosed(stack, caseId);
    await recordHistory(stack, 'agency-answer-refused-held-retried', caseId);
    expect(closed.phase).toBe('completed');
    expect(stepStatus(closed, 'registerTransfer')).toBe('done');
  });

  it('ends the wait when the case is withdrawn meanwhile, undoes the step, and takes no retry', async () => {
    await startHousing(unregisteredKey());
    const application = sampleApplication({ utilities: [] });
    const caseId = await submit(stack, application);
    await waitForStep(stack, caseId, 'verifyContract', 'escalated');
    await waitForStep(stack, caseId, 'checkTitle', 'done');

    // An operator's Cancel (the Temporal UI's, `temporal workflow cancel`) withdraws the case.
    await stack.client.workflow.getHandle(caseWorkflowId(application.unitId)).cancel();
    // The filing is cancelled as a compensation, which the same worker's key cannot sign
    // either: that waits for a supervisor as any failed compensation does.
    const undoing = await waitUntil(
      stack,
      caseId,
      (t) => escalationsAt(t, 'cancelFiling').some((e) => !e.resolved),
      'the filing cancellation escalated',
    );
    expect(stepStatus(undoing, 'verifyContract')).toBe('cancelled');
    expect(escalationsAt(undoing, 'verifyContract')).toEqual([
      expect.objectContaining({
        resolved: true,
        resolution: 'ended by the case being refused before any action',
      }),
    ]);
    // The held step is no longer open to a retry: nothing is run again on a case being undone.
    const late = await supervise(stack, caseId, 'verifyContract', 'retry', 'key registered');
    expect(late.statusCode, late.body).toBe(422);
    expect(late.json()).toMatchObject({ error: 'refused', field: 'stepId' });

    await startHousing(stack.keys.housing!);
    const retry = await supervise(stack, caseId, 'cancelFiling', 'retry', 'key registered');
    expect(retry.statusCode, retry.body).toBe(200);
    const closed = await waitForClosed(stack, caseId);
    expect(closed.phase).toBe('failed');
    expect(closed.reason).toBe('withdrawn: cancelled by an operator before the registration');
    // Undone in reverse order: the filing (the step last settled), then the title lock.
    const undone = entryStepIds(closed).filter((id) =>
      ['cancelFiling', 'releaseTitleLock', 'verifyContract'].includes(id),
    );
    expect(undone).toEqual(['cancelFiling', 'releaseTitleLock']);
  });

  it("lets a supervisor resolve by hand, once the title is registered, a utility's precheck held for its key", async () => {
    await startHousing(stack.keys.housing!);
    await startAgency('water', unregisteredKey('water'));
    const caseId = await submit(stack, sampleApplication({ utilities: ['water'] }));
    const held = await waitForStep(stack, caseId, 'precheck.water', 'escalated');
    expect(escalationsAt(held, 'precheck.water')).toEqual([
      expect.objectContaining({ resolved: false, retryOnly: true }),
    ]);
    // Before the registration the case needs the water company's answer.
    const early = await supervise(stack, caseId, 'precheck.water', 'resolve', 'checked by phone');
    expect(early.statusCode, early.body).toBe(422);

    // The registration does not wait for a utility's precheck.
    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    expect((await pay(stack, caseId)).statusCode).toBe(200);
    await waitForStep(stack, caseId, 'review', 'waiting');
    expect((await approve(stack, caseId)).statusCode).toBe(200);
    const registered = await waitForStep(stack, caseId, 'registerTransfer', 'done');
    // Past it, as any step failing there, the held precheck may be resolved by hand.
    expect(escalationsAt(registered, 'precheck.water')).toEqual([
      expect.objectContaining({ resolved: false }),
    ]);
    expect(escalationsAt(registered, 'precheck.water')[0]!.retryOnly).toBeUndefined();
    const byHand = await supervise(stack, caseId, 'precheck.water', 'resolve', 'checked by phone');
    expect(byHand.statusCode, byHand.body).toBe(200);
    const resolved = await waitForStep(stack, caseId, 'settleArrears.water', 'escalated');
    expect(resolved.steps.find((s) => s.stepId === 'precheck.water')).toMatchObject({
      status: 'done',
      outcome: 'resolvedByHand',
    });
    expect(entryStepIds(resolved)).toContain('precheck.water.resolved');

    // The rest as for a precheck resolved by hand, on a worker with a registered key.
    await startAgency('water', stack.keys.water!);
    const none = await supervise(stack, caseId, 'settleArrears.water', 'resolve', 'none owed');
    expect(none.statusCode, none.body).toBe(200);
    const closed = await waitForClosed(stack, caseId);
    await recordHistory(stack, 'agency-answer-refused-precheck-resolved', caseId);
    expect(closed.phase).toBe('completed');
    expect(stepStatus(closed, 'transferAccount.water')).toBe('done');
  });
});
