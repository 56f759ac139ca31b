import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDevServer } from './temporalDevServer.ts';

const dir = mkdtempSync(join(tmpdir(), 'onewindow-dev-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in for the Temporal CLI: a shell script with `mode`. */
function cli(name: string, script: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${script}\n`);
  chmodSync(path, mode);
  return path;
}

// Port 1 (nothing listens there) and no UI: no free port is looked for.
const quiet = { port: 1, uiPort: false } as const;

describe('starting the Temporal dev server', () => {
  // Before, the spawn's 'error' event had no listener and ended the whole process (or, through
  // setpriv, came out as exit code 126).
  it('refuses a CLI that is not executable, naming it, and starts nothing', async () => {
    const path = cli('not-executable', 'exit 0', 0o644);
    await expect(startDevServer({ cliPath: path, ...quiet })).rejects.toThrow(
      `the Temporal CLI ${path} is not executable`,
    );
  });

  it('refuses a CLI path that names a folder or nothing, saying which', async () => {
    await expect(startDevServer({ cliPath: dir, ...quiet })).rejects.toThrow(
      `the Temporal CLI ${dir} is not a file`,
    );
    const missing = join(dir, 'missing');
    await expect(startDevServer({ cliPath: missing, ...quiet })).rejects.toThrow(
      `the Temporal CLI ${missing} does not exist`,
    );
  });

  // Before, only an exit code counted: a killed server has none, and start-up waited 60 s.
  it('reports a server killed by a signal during start-up at once, naming the signal', async () => {
    const path = cli('killed', 'echo "about to be killed" >&2; kill -KILL $$', 0o755);
    await expect(startDevServer({ cliPath: path, ...quiet })).rejects.toThrow(
      'temporal dev server was killed by SIGKILL: about to be killed',
    );
  }, 10_000);
});
