import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseWorkflowId } from '../../domain/application.ts';
import { ORCHESTRATOR_TASK_QUEUE } from '../../domain/agencyIds.ts';
import { STATEMENT_TYPE } from '../../domain/statement.ts';
import { bytesEqual, fromBase64, toBase64 } from '../../ledger/bytes.ts';
import { GENESIS_PREV_LEAF_HASH } from '../../ledger/entry.ts';
import { hashLeaf } from '../../ledger/rfc9162.ts';
import { verifyStatementSignature } from '../../ledger/statement.ts';
import { entryRange, ledgerSize } from '../../ledger/pg/reader.ts';
import { sampleApplication, startStack, type Stack } from './stack.ts';
import { decide, signedDecision, waitForClosed, waitForStep } from './caseDriver.ts';

// A case waits for the citizen's payment, so a submitted case stays open: that is how the
// 409 test holds a case open without timing tricks.
let stack: Stack;
beforeAll(async () => {
  stack = await startStack(['housing', 'tax', 'registry', 'electricity']);
});
afterAll(async () => {
  await stack?.stop();
});

/** POST /cases: a citizen applies (citizen-1 unless other headers are given). */
const apply = async (payload: object, headers?: Record<string, string>) =>
  stack.app.inject({ method: 'POST', url: '/cases', headers: headers ?? stack.citizen, payload });

describe('the walking skeleton, on a real Temporal server and a real PostgreSQL', () => {
  it('completes a submitted case with a statement signed by each agency under its own key', async () => {
    const application = sampleApplication({ utilities: ['electricity'] });
    const submitted = await apply(application);
    expect(submitted.statusCode).toBe(201);
    const { caseId, workflowId } = submitted.json<{ caseId: string; workflowId: string }>();
    expect(workflowId).toBe(`case:${application.unitId}`);

    const assessed = await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
    expect(
      assessed.steps.find((s) => s.stepId === 'confirmPayment')?.amountDueCents,
    ).toBeGreaterThan(0);
    const paid = signedDecision(stack.keys.tax!, 'tax', caseId, 'confirmPayment', 'paid');
    expect((await decide(stack, caseId, 'confirmPayment', paid)).statusCode).toBe(200);
    await waitForStep(stack, caseId, 'review', 'waiting');
    const approved = signedDecision(stack.keys.registry!, 'registry', caseId, 'review', 'approved');
    expect((await decide(stack, caseId, 'review', approved)).statusCode).toBe(200);

    const timeline = await waitForClosed(stack, caseId);
    expect(timeline.workflowStatus).toBe('COMPLETED');
    expect(timeline.phase).toBe('completed');
    expect(new Set(timeline.entries.map((e) => e.statement.agency))).toEqual(
      new Set(['housing', 'registry', 'electricity', 'tax', 'orchestrator']),
    );
    for (const entry of timeline.entries) {
      const key = stack.keys[entry.statement.agency]!;
      expect(entry.statement.keyId).toBe(key.keyId);
      expect(entry.statement.caseId).toBe(caseId);
      expect(verifyStatementSignature(entry, key.publicKey)).toBe(true);
    }
  });

  it('keeps the whole log contiguous from index 0, each entry chained to the one before', async () => {
    const size = await ledgerSize(stack.pool);
    expect(size).toBeGreaterThanOrEqual(2);
    const stored = await entryRange(stack.pool, 0, size);
    expect(stored.map((s) => s.entry.index)).toEqual([...Array(size).keys()]);
    let prev = fromBase64(GENESIS_PREV_LEAF_HASH);
    for (const { entry, bytes, leafHash } of stored) {
      expect(entry.prevLeafHash).toBe(toBase64(prev));
      // Never trust the stored hash: recompute it from the entry bytes.
      expect(bytesEqual(hashLeaf(bytes), leafHash)).toBe(true);
      expect(entry.statement.type).toBe(STATEMENT_TYPE);
      prev = leafHash;
    }
  });

  it('refuses a second application for a unit whose case is still open with HTTP 409', async () => {
    const application = sampleApplication({ utilities: ['gas'] });
    const first = await apply(application);
    expect(first.statusCode).toBe(201);
    // Once its intake has run: before, the same citizen's other application cannot yet be
    // compared with it, and is told to come again shortly (503).
    await waitForStep(stack, first.json<{ caseId: string }>().caseId, 'intake', 'done');

    const second = await apply({ ...application, address: 'elsewhere' });
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({ error: 'conflict', field: 'unitId' });
    const rows = await stack.pool.query('SELECT case_id FROM cases WHERE unit_id = $1', [
      application.unitId,
    ]);
    expect(rows.rows.map((r: { case_id: string }) => r.case_id)).toEqual([
      first.json<{ caseId: string }>().caseId,
    ]);

    await stack.client.workflow
      .getHandle(caseWorkflowId(application.unitId))
      .terminate('test finished');
  });

  it('gives a case whose answer was lost to its own citizen on a retry, and to no other citizen', async () => {
    const application = sampleApplication({ utilities: ['water'] });
    const first = await apply(application);
    expect(first.statusCode).toBe(201);
    const { caseId } = first.json<{ caseId: string }>();
    // As if the API died before its row committed: the row the intake wrote has no applicant.
    await waitForStep(stack, caseId, 'intake', 'done');
    await stack.adminPool.query('UPDATE cases SET applicant = NULL WHERE case_id = $1', [caseId]);

    const other = await apply(application, await stack.as({ role: 'citizen', sub: 'citizen-2' }));
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({ error: 'conflict', field: 'unitId' });
    const unclaimed = await stack.pool.query('SELECT applicant FROM cases WHERE case_id = $1', [
      caseId,
    ]);
    expect(unclaimed.rows).toEqual([{ applicant: null }]);

    const retry = await apply(application);
    expect(retry.statusCode).toBe(201);
    expect(retry.json()).toMatchObject({ caseId });
    const claimed = await stack.pool.query('SELECT applicant FROM cases WHERE case_id = $1', [
      caseId,
    ]);
    expect(claimed.rows).toEqual([{ applicant: 'citizen-1' }]);

    await stack.client.workflow
      .getHandle(caseWorkflowId(application.unitId))
      .terminate('test finished');
  });

  it('gives a citizen retrying a submission whose answer was lost their own case back, not a conflict', async () => {
    const application = sampleApplication({ utilities: [] });
    const first = await apply(application);
    expect(first.statusCode).toBe(201);
    // The row committed, the answer was lost (a timeout, a dropped connection): sent again,
    // once the intake has stored the application the retry is compared with.
    await waitForStep(stack, first.json<{ caseId: string }>().caseId, 'intake', 'done');
    const retry = await apply(application);
    expect(retry.statusCode, retry.body).toBe(201);
    expect(retry.json()).toEqual(first.json());
    // Another citizen, or another application, still meets the open case.
    const other = await apply(application, await stack.as({ role: 'citizen', sub: 'citizen-2' }));
    expect(other.statusCode).toBe(409);
    const rows = await stack.pool.query('SELECT case_id, applicant FROM cases WHERE unit_id = $1', [
      application.unitId,
    ]);
    expect(rows.rows).toEqual([
      { case_id: first.json<{ caseId: string }>().caseId, applicant: 'citizen-1' },
    ]);
    await stack.client.workflow
      .getHandle(caseWorkflowId(application.unitId))
      .terminate('test finished');
  });

  it("records the case's own run even when the API's row never committed", async () => {
    // As if the API died between starting the case and committing its row: the intake's row
    // is the only one, and it must name this run (the unit's later cases run under the same
    // workflow id).
    const application = sampleApplication({ utilities: [] });
    const caseId = randomUUID();
    const handle = await stack.client.workflow.start('jointTransferCase', {
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      workflowId: caseWorkflowId(application.unitId),
      args: [{ caseId, application }],
    });
    await waitForStep(stack, caseId, 'intake', 'done');
    const { rows } = await stack.pool.query(
      'SELECT run_id, applicant FROM cases WHERE case_id = $1',
      [caseId],
    );
    expect(rows).toEqual([{ run_id: handle.firstExecutionRunId, applicant: null }]);
    await handle.terminate('test finished');
  });

  it.each([
    ['a missing field', (a: Record<string, unknown>) => ({ ...a, address: undefined }), 'address'],
    [
      'a malformed unit id',
      (a: Record<string, unknown>) => ({ ...a, unitId: 'no spaces allowed' }),
      'unitId',
    ],
    [
      'a price that is not a whole number',
      (a: Record<string, unknown>) => ({ ...a, priceCents: 10.5 }),
      'priceCents',
    ],
    [
      'an unknown utility',
      (a: Record<string, unknown>) => ({ ...a, utilities: ['telephone'] }),
      'utilities.0',
    ],
    [
      'a nested bad field',
      (a: Record<string, unknown>) => ({ ...a, buyer: { name: 'A', idNumber: 'lower' } }),
      'buyer.idNumber',
    ],
    ['consent not given', (a: Record<string, unknown>) => ({ ...a, consent: false }), 'consent'],
    // PostgreSQL refuses U+0000 in text and jsonb: accepted, the case stuck at intake for good.
    [
      'a NUL character in a name',
      (a: Record<string, unknown>) => ({
        ...a,
        buyer: { name: 'Bob\u0000', idNumber: 'B1234567' },
      }),
      'buyer.name',
    ],
    [
      'an unpaired surrogate in the address',
      (a: Record<string, unknown>) => ({ ...a, address: 'Main Street \ud800 1' }),
      'address',
    ],
  ])(
    'answers %s with HTTP 400 naming the field, and starts no workflow',
    async (_, mutate, field) => {
      const application: Record<string, unknown> = mutate(sampleApplication());
      const response = await apply(application);
      expect(response.statusCode).toBe(400);
      const body = response.json<{ error: string; field: string; reason: string }>();
      expect(body).toMatchObject({ error: 'invalid_request', field });
      expect(body.reason.length).toBeGreaterThan(0);
      const unitId = typeof application.unitId === 'string' ? application.unitId : '';
      await expect(
        stack.client.workflow.getHandle(caseWorkflowId(unitId)).describe(),
      ).rejects.toBeInstanceOf(WorkflowNotFoundError);
      const rows = await stack.pool.query('SELECT 1 FROM cases WHERE unit_id = $1', [unitId]);
      expect(rows.rowCount).toBe(0);
    },
  );

  it('answers a body that is not JSON with HTTP 400', async () => {
    const response = await stack.app.inject({
      method: 'POST',
      url: '/cases',
      headers: { ...stack.citizen, 'content-type': 'application/json' },
      payload: '{"unitId": ',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ field: 'body' });
  });
});
