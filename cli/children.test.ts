import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ChildExitedError, supervisedChildren } from './children.ts';

const node = process.execPath;
const exitWith = (code: number) => ['-e', `process.exit(${code})`];
const runLong = ['-e', 'setInterval(() => {}, 1000)'];

describe("onewindow dev's children", () => {
  it('report a child that exits while they run, naming it and its exit code', async () => {
    const children = supervisedChildren();
    children.spawn(node, exitWith(3), {}, 'housing worker');
    await expect(children.failed).rejects.toThrow(
      new ChildExitedError('the housing worker exited unexpectedly with code 3'),
    );
    expect(() => children.check()).toThrow(ChildExitedError);
  });

  it('stop every child spawned so far, and a stopped child is no failure', async () => {
    const children = supervisedChildren();
    const long = children.spawn(node, runLong, {}, 'tax witness');
    const other = children.spawn(node, runLong, {}, 'tax worker');
    await children.stopAll();
    expect(long.signalCode ?? long.exitCode).not.toBeNull();
    expect(other.signalCode ?? other.exitCode).not.toBeNull();
    await sleep(700);
    expect(() => children.check()).not.toThrow();
  });

  it('start nothing once the stop has begun', async () => {
    const children = supervisedChildren();
    await children.stopAll();
    expect(() => children.spawn(node, runLong, {}, 'gas worker')).toThrow(
      'not starting the gas worker: stopping',
    );
  });
});
