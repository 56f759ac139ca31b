// One real Temporal dev server and one real PostgreSQL for the whole integration run.
// Nothing here is mocked: failing to start either fails the run (it is never skipped).
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, prepareDatabase } from '../../infra/postgres.ts';
import { resolveTemporalCli } from '../../infra/temporalCli.ts';
import { startDevServer } from '../../infra/temporalDevServer.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    adminDatabaseUrl: string;
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cliPath = await resolveTemporalCli({ log: (line) => console.log(line) });
  const scratch = mkdtempSync(join(tmpdir(), 'onewindow-it-'));
  // PostgreSQL runs as its own user when we are root: it must be able to enter the folder.
  chmodSync(scratch, 0o755);
  const started = await Promise.allSettled([
    startDevServer({ cliPath, uiPort: false }),
    process.env.DATABASE_URL
      ? Promise.resolve({ adminUrl: process.env.DATABASE_URL, stop: () => Promise.resolve() })
      : startEmbeddedPostgres({ dataDir: join(scratch, 'pg'), persistent: false }),
  ]);
  const [serverResult, databaseResult] = started;
  if (serverResult.status === 'rejected' || databaseResult.status === 'rejected') {
    await Promise.allSettled(
      started.flatMap((s) => (s.status === 'fulfilled' ? [s.value.stop()] : [])),
    );
    rmSync(scratch, { recursive: true, force: true });
    throw serverResult.status === 'rejected'
      ? serverResult.reason
      : (databaseResult as PromiseRejectedResult).reason;
  }
  const server = serverResult.value;
  const database = databaseResult.value;
  const databaseUrl = await prepareDatabase(database.adminUrl);
  project.provide('temporalAddress', server.address);
  project.provide('adminDatabaseUrl', database.adminUrl);
  project.provide('databaseUrl', databaseUrl);
  return async () => {
    await Promise.allSettled([server.stop(), database.stop()]);
    rmSync(scratch, { recursive: true, force: true });
  };
}
