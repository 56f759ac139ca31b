// The embedded PostgreSQL of `onewindow dev` and the tests, stopped the way a terminal stops it.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../infra/postgres.ts';

describe('the embedded PostgreSQL', () => {
  it('stops at once when a Ctrl-C to the process group stopped PostgreSQL first', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'onewindow-pg-'));
    // PostgreSQL runs as its own user when we are root: it must be able to enter the folder.
    chmodSync(dataDir, 0o755);
    try {
      const server = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pg') });
      expect(server.pid).toBeGreaterThan(0);
      process.kill(server.pid!, 'SIGINT');
      await expect.poll(() => alive(server.pid!), { timeout: 20_000, interval: 100 }).toBe(false);
      // Before, stop() waited for an 'exit' event already emitted, and never returned.
      const stopped = await Promise.race([
        server.stop().then(() => 'stopped'),
        new Promise((resolve) => setTimeout(resolve, 10_000, 'still waiting')),
      ]);
      expect(stopped).toBe('stopped');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('creates its database at a later start when a start cut short left the server without it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'onewindow-pg-'));
    chmodSync(dataDir, 0o755);
    try {
      const first = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pg') });
      // As if the first start had stopped between initdb and creating the database.
      const server = new pg.Client({
        connectionString: first.adminUrl.replace(/\/onewindow$/, '/postgres'),
      });
      await server.connect();
      await server.query('DROP DATABASE onewindow');
      await server.end();
      await first.stop();
      const again = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pg') });
      try {
        const client = new pg.Client({ connectionString: again.adminUrl });
        await client.connect();
        expect((await client.query('SELECT current_database() AS name')).rows).toEqual([
          { name: 'onewindow' },
        ]);
        await client.end();
      } finally {
        await again.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
