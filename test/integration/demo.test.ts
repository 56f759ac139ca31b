// The demo against a data directory an earlier, stopped demo left a case open in: each unit
// takes one open case, so the demo's application for it was refused at every later start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseWorkflowId } from '../../domain/application.ts';
import { DEMO_SCENARIOS, demoApplication, endLeftoverDemoCases } from '../../cli/demo.ts';
import { submit, waitForStep } from './caseDriver.ts';
import { startStack, type Stack } from './stack.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack([]);
});
afterAll(async () => {
  await stack?.stop();
});

describe('the demo after one stopped with its cases open', () => {
  it('ends the open case of a unit it applies for, so its application is taken again', async () => {
    // Demo case 2 is the seized unit; with no agency worker here it stays open at its checks.
    const { application } = demoApplication(2, 'EARLIER');
    const unitId = application.unitId;
    expect(unitId).toBe(DEMO_SCENARIOS[1].unitId);
    // Once its intake has run: before, the same citizen's other application is told to come
    // again shortly (it cannot yet be compared), not refused.
    await waitForStep(stack, await submit(stack, application), 'intake', 'done');
    const refused = await stack.app.inject({
      method: 'POST',
      url: '/cases',
      headers: stack.citizen,
      payload: demoApplication(2, 'LATER').application,
    });
    expect(refused.statusCode).toBe(409);

    const said: string[] = [];
    // A demo of one case applies for no fixture unit: it ends nothing.
    expect(await endLeftoverDemoCases(stack.client, 1, (line) => said.push(line))).toEqual([]);
    expect(await endLeftoverDemoCases(stack.client, 2, (line) => said.push(line))).toEqual([
      caseWorkflowId(unitId),
    ]);
    expect(said).toEqual([
      `ended the open case of ${unitId}, left by an earlier demo that was stopped`,
    ]);
    const ended = await stack.client.workflow.getHandle(caseWorkflowId(unitId)).describe();
    expect(ended.status.name).toBe('TERMINATED');
    const again = await submit(stack, demoApplication(2, 'LATER').application);
    expect(again).toMatch(/^[0-9a-f-]{36}$/);
    await stack.client.workflow.getHandle(caseWorkflowId(unitId)).terminate('test done');
  });
});
