// `onewindow dev` stopped while it starts, as a Ctrl-C or a service manager would: it goes no
// further, and what it had started (PostgreSQL, the Temporal dev server, its children) stops
// with it. Before, startup went on after the signal and left everything running.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/onewindow.mjs', import.meta.url));

/** A port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The pids of the processes whose command line names `text`. */
function processesNaming(text: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/** A data directory as dev makes itself: PostgreSQL's own user (as root) must reach it. */
function dataDirectory(): string {
  const dataDir = mkdtempSync(join(tmpdir(), 'onewindow-dev-stop-'));
  chmodSync(dataDir, 0o755);
  return dataDir;
}

/** `onewindow dev` on `dataDir` with its own embedded PostgreSQL (no DATABASE_URL of the suite's). */
async function startDev(dataDir: string, ...args: string[]) {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.ONEWINDOW_DATA_DIR;
  const dev = spawn(
    process.execPath,
    [
      BIN,
      'dev',
      '--data-dir',
      dataDir,
      '--port',
      String(await freePort()),
      '--ui-port',
      String(await freePort()),
      ...args,
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const run = { dev, output: '', exited: new Promise<number | null>((r) => dev.on('exit', r)) };
  dev.stdout.setEncoding('utf8').on('data', (chunk: string) => (run.output += chunk));
  dev.stderr.setEncoding('utf8').on('data', (chunk: string) => (run.output += chunk));
  return run;
}

/** Should a test fail, nothing it started outlives it. */
function killAll(dataDir: string, pid: number | undefined): void {
  for (const each of [pid, ...processesNaming(dataDir)]) {
    try {
      if (each) process.kill(each, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

describe('onewindow dev, stopped while it starts', () => {
  it('stops what it started and exits 130 when SIGTERM comes before it is up', async () => {
    const dataDir = dataDirectory();
    const run = await startDev(dataDir);
    const { dev, exited } = run;
    try {
      // The line it prints just before it starts PostgreSQL and the Temporal dev server.
      await vi.waitFor(() => expect(run.output).toMatch(/^temporal: /m), {
        timeout: 120_000,
        interval: 50,
      });
      dev.kill('SIGTERM');
      expect(await exited, run.output).toBe(130);
      expect(run.output).toMatch(/stopping…\nstopped\n?$/);
      expect(run.output).not.toContain('running; press Ctrl-C to stop');
      expect(processesNaming(dataDir)).toEqual([]);
      expect(existsSync(join(dataDir, 'dev.pid'))).toBe(false);
    } finally {
      killAll(dataDir, dev.pid);
    }
  }, 180_000);
});

describe('onewindow dev, killed outright (SIGKILL, the OOM killer)', () => {
  it('takes its children with it, and the next start on its data directory stops the PostgreSQL it left', async () => {
    const dataDir = dataDirectory();
    const first = await startDev(dataDir);
    let second: Awaited<ReturnType<typeof startDev>> | undefined;
    try {
      await vi.waitFor(() => expect(first.output).toContain('running; press Ctrl-C to stop'), {
        timeout: 150_000,
        interval: 200,
      });
      const postgres = Number(
        readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0],
      );
      first.dev.kill('SIGKILL');
      await first.exited;
      // Its workers and witnesses see it gone and stop; PostgreSQL, no child of ours to tell,
      // stays until the next start.
      await vi.waitFor(() => expect(processesNaming(dataDir)).toEqual([postgres]), {
        timeout: 30_000,
        interval: 250,
      });
      second = await startDev(dataDir, '--once');
      expect(await second.exited, second.output).toBe(0);
      expect(second.output).toContain(
        `stopping PostgreSQL (pid ${postgres}), left running in ${join(dataDir, 'pg')} by an earlier start`,
      );
      expect(processesNaming(dataDir)).toEqual([]);
    } finally {
      killAll(dataDir, second?.dev.pid ?? first.dev.pid);
    }
  }, 300_000);
});
