// The orchestrator's own records (a supervisor's resolution, a case's close) are signed with
// the orchestrator's key. When the ledger refuses that key (here: `keys rotate` ran and the old
// key was revoked before the worker restarted with the new one), no retry of the same record
// can succeed and no agency can answer for it: the case waits for a supervisor instead of
// failing, and a retry once the worker signs with the new key records it and goes on.
import { writeFileSync } from 'node:fs';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agencyKeyName, generateSigningKey, type SigningKey } from '../../ledger/keys.ts';
import { addAgencyKey, revokeAgencyKey } from '../../ledger/pg/keyRegistry.ts';
import {
  approve,
  pay,
  submit,
  supervise,
  waitForClosed,
  waitForStep,
  waitUntil,
} from './caseDriver.ts';
import { sampleApplication, startStack, type Stack, type Timeline } from './stack.ts';

// One law-day is 5 s: the steps' deadlines stay far off while the keys change.
const TIME_SCALE = 5 / 86_400;

let stack: Stack;
/** The key the orchestrator's worker signs with now. */
let current: SigningKey;

beforeAll(async () => {
  stack = await startStack(['housing', 'tax', 'registry', 'electricity', 'water', 'gas'], {
    timeScale: TIME_SCALE,
  });
  current = stack.keys.orchestrator!;
});
afterAll(async () => {
  await stack?.stop();
});

/**
 * A rotation done in the wrong order: the new key is added (a key.add the current key signs)
 * and the current one revoked (a key.revoke the new key signs) while the worker still signs
 * with the current one. Returns the new key, which the worker does not hold yet.
 */
async function rotateAndRevokeTooEarly(): Promise<SigningKey> {
  const append = (signed: Parameters<Stack['sequencer']['append']>[0]) =>
    stack.sequencer.append(signed);
  const next = generateSigningKey(agencyKeyName('orchestrator'));
  await addAgencyKey(stack.pool, append, {
    newKey: { keyId: next.keyId, agency: 'orchestrator', publicKey: next.publicKey },
    signingKey: current,
    validFrom: new Date(Date.now() - 1000),
  });
  await revokeAgencyKey(stack.pool, append, {
    keyId: current.keyId,
    signingKey: next,
    revokedAt: new Date(),
  });
  return next;
}

async function payAndApprove(caseId: string): Promise<void> {
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

/** With ONEWINDOW_RECORD_HISTORIES=1, writes the case's history for the replay test. */
async function recordHistory(name: string, t: Timeline): Promise<void> {
  if (!process.env.ONEWINDOW_RECORD_HISTORIES) return;
  const history = await stack.client.workflow.getHandle(`case:${t.unitId}`).fetchHistory();
  writeFileSync(new URL(`../histories/${name}.json`, import.meta.url), historyToJSON(history));
}

describe("a record the ledger refuses under the orchestrator's key", () => {
  it('holds a closing case for a supervisor, refuses to have the close made by hand, and closes it under the new key on a retry', async () => {
    const caseId = await submit(stack, sampleApplication({ utilities: [] }));
    await payAndApprove(caseId);
    const revoked = current;
    current = await rotateAndRevokeTooEarly();
    expect((await approve(stack, caseId)).statusCode).toBe(200);

    const held = await waitUntil(
      stack,
      caseId,
      (t) => escalationsAt(t, 'close').open.length === 1,
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
    await recordHistory('close-record-refused-then-retried', t);
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

  it("holds a supervisor's resolution by hand the ledger refuses, and records it under the new key on a retry", async () => {
    const caseId = await submit(
      stack,
      sampleApplication({ unitId: 'U-GAS-INSPECTION-2', utilities: ['gas'] }),
    );
    await payAndApprove(caseId);
    expect((await approve(stack, caseId)).statusCode).toBe(200);
    await waitUntil(
      stack,
      caseId,
      (t) => escalationsAt(t, 'transferAccount.gas').open.length === 1,
      'the gas transfer escalated',
    );
    const revoked = current;
    current = await rotateAndRevokeTooEarly();
    const resolved = await supervise(
      stack,
      caseId,
      'transferAccount.gas',
      'resolve',
      'inspection done on site; holder changed by hand',
    );
    expect(resolved.statusCode).toBe(200);

    const record = 'transferAccount.gas.resolved';
    const held = await waitUntil(
      stack,
      caseId,
      (t) => escalationsAt(t, record).open.length === 1,
      'the resolution held for a supervisor',
    );
    expect(escalationsAt(held, record).open[0]!.reason).toContain(
      `the ledger refused the orchestrator's ${record} record: key ${revoked.keyId} was revoked`,
    );
    // The step stays escalated until its resolution is recorded; nothing else moved.
    expect(held.steps.find((s) => s.stepId === 'transferAccount.gas')?.status).toBe('escalated');
    expect(entriesAt(held, record)).toEqual([]);
    expect(entriesAt(held, 'close')).toEqual([]);
    expect((await supervise(stack, caseId, record, 'resolve', 'by hand')).statusCode).toBe(422);

    await stack.replaceOrchestrator(current);
    expect((await supervise(stack, caseId, record, 'retry', 'worker restarted')).statusCode).toBe(
      200,
    );
    const t = await waitForClosed(stack, caseId);
    await recordHistory('resolution-refused-then-retried', t);
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
  });
});
