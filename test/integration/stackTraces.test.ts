// Workflow stack traces are off in the sandbox unless asked for (workflows/stackTraceLimit.ts):
// the SDK's `__stack_trace` query then answers with empty stacks. (process.test.ts checks the
// case's own bundle.)
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installRuntime, sandboxOptions } from '../../cli/workers.ts';
import { goOn } from './waitingWorkflow.ts';

const workflowsPath = fileURLToPath(new URL('./waitingWorkflow.ts', import.meta.url));
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

let connection: Connection;
let nativeConnection: NativeConnection;
beforeAll(async () => {
  installRuntime('WARN');
  connection = await Connection.connect({ address: inject('temporalAddress') });
  nativeConnection = await NativeConnection.connect({ address: inject('temporalAddress') });
});
afterAll(async () => {
  await connection?.close();
  await nativeConnection?.close();
});

/** What the `__stack_trace` query answers for a workflow waiting in a bundle built `stackTraces`. */
async function stackTraceOfAWaitingWorkflow(stackTraces: boolean): Promise<string> {
  const taskQueue = `test.stack-traces.${randomUUID()}`;
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowBundle: await bundleWorkflowCode({
      workflowsPath,
      logger: quiet,
      ...sandboxOptions(stackTraces),
    }),
  });
  const client = new Client({ connection });
  return worker.runUntil(async () => {
    const handle = await client.workflow.start('waitsForASignal', {
      taskQueue,
      workflowId: taskQueue,
    });
    const trace = await handle.query<string>('__stack_trace');
    await handle.signal(goOn);
    await handle.result();
    return trace;
  });
}

describe('workflow stack traces', () => {
  it('are off by default: a waiting workflow shows no frames', async () => {
    expect(await stackTraceOfAWaitingWorkflow(false)).not.toMatch(/\bat /);
  }, 60_000);

  it('name where a workflow waits when asked for', async () => {
    const trace = await stackTraceOfAWaitingWorkflow(true);
    expect(trace).toMatch(/at waitsForASignal \(.*waitingWorkflow\.ts:\d+:\d+\)/);
  }, 60_000);
});
