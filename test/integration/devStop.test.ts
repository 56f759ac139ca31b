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

describe('onewindow dev, stopped while it starts', () => {
  it('stops what it started and exits 130 when SIGTERM comes before it is up', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'onewindow-dev-stop-'));
    // As a data directory dev makes itself: PostgreSQL's own user (as root) must reach it.
    chmodSync(dataDir, 0o755);
    // Its own embedded PostgreSQL: no DATABASE_URL of the suite's.
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
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    dev.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    dev.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => dev.on('exit', resolve));
    try {
      // The line it prints just before it starts PostgreSQL and the Temporal dev server.
      await vi.waitFor(() => expect(output).toMatch(/^temporal: /m), {
        timeout: 120_000,
        interval: 50,
      });
      dev.kill('SIGTERM');
      expect(await exited, output).toBe(130);
      expect(output).toMatch(/stopping…\nstopped\n?$/);
      expect(output).not.toContain('running; press Ctrl-C to stop');
      expect(processesNaming(dataDir)).toEqual([]);
      expect(existsSync(join(dataDir, 'dev.pid'))).toBe(false);
    } finally {
      // Should it fail, nothing it started outlives the test.
      for (const pid of [dev.pid, ...processesNaming(dataDir)]) {
        try {
          if (pid) process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
  }, 180_000);
});
