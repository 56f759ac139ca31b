// An agency worker killed with SIGKILL in the middle of a step, then restarted as its own
// process: the case still completes, and every statement is in the ledger exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { formatSignerKey } from '../../ledger/keys.ts';
import {
  decide,
  signedDecision,
  stepStatus,
  submit,
  timeline,
  waitForClosed,
  waitForStep,
} from './caseDriver.ts';
import { sampleApplication, startStack, TEST_PAYLOAD_KEY, type Stack } from './stack.ts';

const BIN = fileURLToPath(new URL('../../bin/onewindow.mjs', import.meta.url));
let stack: Stack;
let keyFile: string;
const children: ChildProcess[] = [];

/** The housing agency's worker as a separate process, the way it is deployed. */
function startHousingWorker(): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'worker', '--agency', 'housing', '--key', keyFile], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      ONEWINDOW_PAYLOAD_KEY: TEST_PAYLOAD_KEY,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  return child;
}

async function started(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('housing worker polling')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`housing worker exited with ${code}: ${seen}`)));
  });
}

beforeAll(async () => {
  // Every agency but housing runs in this process; housing runs as a child we can kill.
  stack = await startStack(['tax', 'registry', 'electricity', 'water', 'gas'], {
    timeScale: 5 / 86_400,
  });
  keyFile = join(mkdtempSync(join(tmpdir(), 'onewindow-crash-')), 'housing.key');
  writeFileSync(keyFile, formatSignerKey(stack.keys.housing!), { mode: 0o600 });
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await stack?.stop();
});

describe('an agency worker that dies mid-step', () => {
  it('is killed during verifyContract, restarted, and the case completes with each statement once', async () => {
    const first = startHousingWorker();
    await started(first);
    const caseId = await submit(
      stack,
      sampleApplication({ unitId: 'U-SLOW-FILING-1', utilities: ['water'] }),
    );
    await waitForStep(stack, caseId, 'verifyContract', 'running');
    await new Promise((r) => setTimeout(r, 1500)); // inside the 4 s lookup
    // Not finished yet: the kill lands mid-step (the history below shows the retry it needs).
    expect(stepStatus(await timeline(stack, caseId), 'verifyContract')).toBe('running');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    await started(startHousingWorker());

    const assessed = await waitForStep(stack, caseId, 'confirmPayment', 'waiting', 60_000);
    expect(
      assessed.steps.find((s) => s.stepId === 'confirmPayment')!.amountDueCents,
    ).toBeGreaterThan(0);
    expect(
      (
        await decide(
          stack,
          caseId,
          'confirmPayment',
          signedDecision(stack.keys.tax!, 'tax', caseId, 'confirmPayment', 'paid'),
        )
      ).statusCode,
    ).toBe(200);
    await waitForStep(stack, caseId, 'review', 'waiting');
    expect(
      (
        await decide(
          stack,
          caseId,
          'review',
          signedDecision(stack.keys.registry!, 'registry', caseId, 'review', 'approved'),
        )
      ).statusCode,
    ).toBe(200);
    const t = await waitForClosed(stack, caseId, 60_000);

    expect(t.phase).toBe('completed');
    expect(t.steps.find((s) => s.stepId === 'verifyContract')).toMatchObject({
      status: 'done',
      outcome: 'passed',
    });
    const ids = t.entries.map((e) => e.statement.statementId);
    expect(new Set(ids).size).toBe(ids.length);
    const rows = await stack.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM ledger_entries WHERE statement_id = $1',
      [`${caseId}/verifyContract`],
    );
    expect(rows.rows[0]!.n).toBe(1);
    // The step the killed worker had begun completed on a later attempt, on the new worker.
    const { events } = await stack.client.workflow
      .getHandle(`case:${t.unitId}`, t.runId)
      .fetchHistory();
    const scheduled = events!.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'verifyContract',
    )!;
    const startedAttempt = events!.find(
      (e) =>
        Number(e.activityTaskStartedEventAttributes?.scheduledEventId) ===
        Number(scheduled.eventId),
    )?.activityTaskStartedEventAttributes?.attempt;
    expect(startedAttempt).toBeGreaterThanOrEqual(2);
  });
});
