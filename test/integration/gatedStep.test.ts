// A step gated on another's facts (a utility's arrears, on its precheck's `hasArrears`) when
// that step was resolved by hand: the facts are not known, so a supervisor decides whether the
// gated step runs (since jointTransferCase-v9; before, the gate read them as false and skipped
// the arrears). The supervisor's retry is a signed entry, as a resolution is.
import { ApplicationFailure } from '@temporalio/activity';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { agencyActivities, createAgencyWorker } from '../../cli/workers.ts';
import type { UtilityPrecheckInput } from '../../domain/views.ts';
import {
  approve,
  decide,
  pay,
  recordHistory,
  signedDecision,
  stepStatus,
  submit,
  supervise,
  waitForClosed,
  waitForStep,
} from './caseDriver.ts';
import { sampleApplication, startStack, type Stack } from './stack.ts';

let stack: Stack;
let connection: NativeConnection | undefined;
let water: { worker: Worker; running: Promise<void> } | undefined;

beforeAll(async () => {
  // Every agency but water, whose worker starts once the title is registered.
  stack = await startStack(['housing', 'tax', 'registry', 'electricity', 'gas'], {
    // One law-day is 5 s: the waits below are far inside every deadline.
    timeScale: 5 / 86_400,
  });
});
afterAll(async () => {
  water?.worker.shutdown();
  await water?.running;
  await connection?.close();
  await stack?.stop();
});

/**
 * The water company's worker, whose system has lost the records of `unitId`'s account: its
 * precheck fails for good. Every other step and unit goes to the real simulated system.
 */
async function startWater(unitId: string): Promise<void> {
  connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const real = agencyActivities('water', stack.keys.water!) as Record<
    string,
    (input: unknown) => Promise<unknown>
  >;
  const worker = await createAgencyWorker({
    connection,
    agency: 'water',
    key: stack.keys.water!,
    payloadKey: stack.payloadKey,
    activities: {
      ...real,
      precheck: (input: UtilityPrecheckInput) =>
        input.view.unitId === unitId
          ? Promise.reject(
              ApplicationFailure.nonRetryable(
                "the water company's records of this account were lost",
                'RecordsLost',
              ),
            )
          : real.precheck!(input),
    },
  });
  water = { worker, running: worker.run() };
}

describe('a step gated on the facts of a step resolved by hand', () => {
  it('goes to a supervisor, whose retry is a signed entry and opens the step: the citizen settles the arrears, and the account is transferred', async () => {
    const application = sampleApplication({ utilities: ['water'] });
    const caseId = await submit(stack, application);
    await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    expect((await pay(stack, caseId)).statusCode).toBe(200);
    await waitForStep(stack, caseId, 'review', 'waiting');
    expect((await approve(stack, caseId)).statusCode).toBe(200);
    // The title changed hands while the water company did not answer its precheck.
    const registered = await waitForStep(stack, caseId, 'registerTransfer', 'done');
    expect(stepStatus(registered, 'precheck.water')).toBe('running');

    await startWater(application.unitId);
    await waitForStep(stack, caseId, 'precheck.water', 'escalated');
    expect(
      (await supervise(stack, caseId, 'precheck.water', 'resolve', 'account confirmed by phone'))
        .statusCode,
    ).toBe(200);
    // Whether the account has arrears is not known: not skipped, but the supervisor's to judge.
    const gated = await waitForStep(stack, caseId, 'settleArrears.water', 'escalated');
    expect(gated.escalations.find((e) => e.stepId === 'settleArrears.water')).toMatchObject({
      resolved: false,
      reason:
        'settleArrears.water: precheck.water was resolved by hand, so whether hasArrears holds is not known; retry to run settleArrears.water, or resolve it by hand',
    });
    expect(stepStatus(gated, 'transferAccount.water')).toBe('pending');
    expect(
      (
        await supervise(
          stack,
          caseId,
          'settleArrears.water',
          'retry',
          'the company says some is owed',
        )
      ).statusCode,
    ).toBe(200);
    const waiting = await waitForStep(stack, caseId, 'settleArrears.water', 'waiting');
    // The retry is on the ledger, signed by the orchestrator, before the step opened.
    const retried = waiting.entries.find(
      (e) => e.statement.stepId === 'settleArrears.water.retried',
    );
    expect(retried?.statement).toMatchObject({
      statementId: `${caseId}/settleArrears.water.retried`,
      agency: 'orchestrator',
      outcome: 'retried',
      facts: { step: 'settleArrears.water' },
    });
    // Who retried and why are committed to, off the ledger.
    expect(JSON.stringify(retried)).not.toContain('the company says');
    expect(waiting.records).toContainEqual(
      expect.objectContaining({
        stepId: 'settleArrears.water.retried',
        outcome: 'retried',
        ledgerIndex: retried!.index,
      }),
    );

    const settled = signedDecision(
      stack.keys.water!,
      'water',
      caseId,
      'settleArrears.water',
      'settled',
    );
    expect((await decide(stack, caseId, 'settleArrears.water', settled)).statusCode).toBe(200);
    const t = await waitForClosed(stack, caseId);
    await recordHistory(stack, 'precheck-resolved-by-hand-arrears-retried', caseId);
    expect(t.phase).toBe('completed');
    expect(
      Object.fromEntries(
        t.steps
          .filter((s) => s.stepId.endsWith('.water'))
          .map((s) => [s.stepId, [s.status, s.outcome]]),
      ),
    ).toEqual({
      'precheck.water': ['done', 'resolvedByHand'],
      'settleArrears.water': ['done', 'settled'],
      'transferAccount.water': ['done', 'passed'],
    });
    expect(t.entries.map((e) => e.statement.stepId).filter((id) => id.includes('.water'))).toEqual([
      'precheck.water.resolved',
      'settleArrears.water.retried',
      'settleArrears.water',
      'transferAccount.water',
    ]);
  });
});
