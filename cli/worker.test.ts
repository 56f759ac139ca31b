import { describe, expect, it } from 'vitest';
import { UsageError } from './args.ts';
import { runThenClose, runWorker } from './worker.ts';

describe('a worker command', () => {
  it('closes everything it used, in order, once its worker stops', async () => {
    const closed: string[] = [];
    await runThenClose({ run: () => Promise.resolve() }, [
      () => closed.push('ops server'),
      () => closed.push('connection'),
    ]);
    expect(closed).toEqual(['ops server', 'connection']);
  });

  it("closes everything and fails with the worker's own error when its run fails, so the process exits", async () => {
    const closed: string[] = [];
    const fatal = new Error('namespace not found');
    await expect(
      runThenClose({ run: () => Promise.reject(fatal) }, [
        () => closed.push('ops server'),
        () => closed.push('connection'),
      ]),
    ).rejects.toBe(fatal);
    expect(closed).toEqual(['ops server', 'connection']);
  });

  it('reports a close that fails and still runs the ones after it', async () => {
    const closed: string[] = [];
    const reported: string[] = [];
    await runThenClose(
      { run: () => Promise.resolve() },
      [() => Promise.reject(new Error('server not running')), () => closed.push('connection')],
      (line) => reported.push(line),
    );
    expect(closed).toEqual(['connection']);
    expect(reported).toEqual(['onewindow: closing after the worker stopped: server not running']);
  });

  it.each([
    [
      ['--orchestrator', '--agency', 'tax'],
      '--agency is for an agency worker; the orchestrator takes none',
    ],
    [
      ['--agency', 'tax', '--log-key', 'log.key'],
      '--log-key is for the orchestrator (--orchestrator) only',
    ],
  ])(
    'refuses a flag of the other kind of worker, %j, rather than ignoring it',
    async (argv, message) => {
      await expect(runWorker(argv, {})).rejects.toThrow(new UsageError(message));
    },
  );
});
