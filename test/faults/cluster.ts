// The whole system as separate OS processes, each restartable, as deployed on one host: an
// embedded PostgreSQL (persistent data directory, fixed port), the Temporal dev server (a
// SQLite file, fixed port), the orchestrator's and the six agencies' workers, three
// witnesses (two of three cosign) and the API, each `node bin/onewindow.mjs …` with the
// environment `onewindow dev` gives its children (cli/dev.ts). The fault tests and the load
// benchmark use it; nothing here imports vitest.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { issueToken } from '../../api/auth.ts';
import type { Agency } from '../../domain/agency.ts';
import { ensureKeyFile, ensureRegisteredKey } from '../../cli/keys.ts';
import { AGENCIES_WITH_WORKERS } from '../../cli/workers.ts';
import { generatePayloadKey, parsePayloadKey, type PayloadKey } from '../../infra/payloadCodec.ts';
import { prepareDatabase, startEmbeddedPostgres } from '../../infra/postgres.ts';
import { freePort } from '../../infra/ports.ts';
import { resolveTemporalCli } from '../../infra/temporalCli.ts';
import { startDevServer, type DevServer } from '../../infra/temporalDevServer.ts';
import { toBase64 } from '../../ledger/bytes.ts';
import { formatCosignerVerifierKey } from '../../ledger/cosignature.ts';
import { formatVerifierKey } from '../../ledger/keys.ts';
import type { TrustFile } from '../../ledger/trust.ts';

const BIN = fileURLToPath(new URL('../../bin/onewindow.mjs', import.meta.url));

/** Agencies whose witnesses run: three, and two of them publish a checkpoint. */
export const WITNESSES: readonly Agency[] = ['housing', 'tax', 'registry'];
export const WITNESS_THRESHOLD = 2;
export const LOG_ORIGIN = 'faults.onewindow.test/ledger';

/** The node processes of the system, by the name the helpers take. */
export type NodeProcessName =
  'api' | 'orchestrator' | Agency | `witness.${(typeof WITNESSES)[number]}`;
export type ProcessName = NodeProcessName | 'postgres' | 'temporal';

export interface ClusterOptions {
  /** Where state lives (PostgreSQL data, Temporal's SQLite file, keys, logs); default: a temp folder. */
  dir?: string;
  /** Keep `dir` after stop (default: remove it unless the caller named it). */
  keepDir?: boolean;
  /** Progress lines (starts, stops, restarts). */
  log?: (line: string) => void;
  /** How long any one process may take to come up. */
  startTimeoutMs?: number;
}

/** One exit nobody asked for: the process crashed or gave up. */
export interface UnexpectedExit {
  name: ProcessName;
  code: number | null;
  signal: string | null;
  at: Date;
  stderr: string;
}

/** A `node bin/onewindow.mjs …` child that can be killed and started again with the same arguments. */
class NodeProcess {
  child: ChildProcess | undefined;
  private expectingExit = false;
  private stderrTail = '';
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: NodeProcessName,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly logFile: string,
    /** A line on stderr that says the process is up; undefined: `ready()` of the caller decides. */
    private readonly readyLine: string | undefined,
    private readonly onUnexpectedExit: (exit: UnexpectedExit) => void,
    private readonly live: Set<ChildProcess>,
  ) {}

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null
      ? this.child.pid
      : undefined;
  }

  /** Spawns the process and resolves once its ready line appears. */
  async start(timeoutMs: number): Promise<void> {
    if (this.pid !== undefined) throw new Error(`${this.name} is already running`);
    const out = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [BIN, ...this.args], {
        env: this.env,
        stdio: ['ignore', out, 'pipe'],
      });
    } finally {
      closeSync(out);
    }
    this.child = child;
    this.live.add(child);
    this.expectingExit = false;
    this.stderrTail = '';
    const log = openSync(this.logFile, 'a');
    child.stderr!.setEncoding('utf8');
    let seen = '';
    let onReady: (() => void) | undefined;
    child.stderr!.on('data', (chunk: string) => {
      try {
        writeFileSync(log, chunk);
      } catch {
        // The log file is for people; losing a line of it loses nothing the test checks.
      }
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
      if (onReady) {
        seen = (seen + chunk).slice(-2000);
        if (this.readyLine && seen.includes(this.readyLine)) onReady();
      }
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.live.delete(child);
        try {
          closeSync(log);
        } catch {
          // Already closed.
        }
        if (!this.expectingExit)
          this.onUnexpectedExit({
            name: this.name,
            code,
            signal,
            at: new Date(),
            stderr: this.stderrTail,
          });
        resolve();
      });
    });
    if (this.readyLine === undefined) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        onReady = undefined;
        reject(new Error(`${this.name} did not start within ${timeoutMs} ms: ${this.stderrTail}`));
      }, timeoutMs);
      onReady = () => {
        onReady = undefined;
        clearTimeout(timer);
        resolve();
      };
      void this.exited.then(() => {
        if (!onReady) return;
        onReady = undefined;
        clearTimeout(timer);
        reject(
          new Error(
            `${this.name} exited with ${child.exitCode ?? child.signalCode} while starting: ${this.stderrTail}`,
          ),
        );
      });
    });
  }

  /** SIGKILL: no shutdown hook runs, in-flight work is lost as in a crash. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (this.pid === undefined || !child) return;
    this.expectingExit = true;
    child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (graceful shutdown), SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    const child = this.child;
    if (this.pid === undefined || !child) return;
    this.expectingExit = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  tail(): string {
    return this.stderrTail;
  }
}

export interface Cluster {
  /** State folder: pg/, temporal.db, keys/, trust.json, logs/<process>.log */
  dir: string;
  apiUrl: string;
  trustFile: string;
  trust: TrustFile;
  /** Owner connection (migrations' role): reads every table, e.g. witness_alarms. */
  adminUrl: string;
  /** The application role, as every process connects. */
  appUrl: string;
  temporalAddress: string;
  /** The key every process encrypts Temporal payloads with (to replay the cases' histories). */
  payloadKey: PayloadKey;
  /** A pool on `adminUrl` that survives PostgreSQL restarts (errors on idle clients are ignored). */
  admin: pg.Pool;
  /** Bearer tokens signed by the cluster's token issuer (the API trusts its public key). */
  token(
    principal:
      | { role: 'citizen'; sub: string }
      | { role: 'officer'; sub: string; agency: Agency }
      | { role: 'supervisor'; sub: string },
  ): Promise<string>;
  /** Process ids of every process running now, by name (PostgreSQL: the postmaster). */
  pids(): Partial<Record<ProcessName, number>>;
  /** Exits nobody asked for, oldest first. */
  unexpectedExits: UnexpectedExit[];
  kill9(name: NodeProcessName): Promise<void>;
  /** Starts a stopped or killed process again with the same arguments and environment. */
  start(name: NodeProcessName): Promise<void>;
  /** Graceful stop (SIGTERM), then start again. */
  restart(name: NodeProcessName): Promise<void>;
  stopTemporal(): Promise<void>;
  /** Starts the dev server again on the same port and SQLite file. */
  startTemporal(): Promise<void>;
  stopPostgres(): Promise<void>;
  startPostgres(): Promise<void>;
  /** Fast shutdown (every connection is cut), then start again on the same port and data. */
  restartPostgres(): Promise<void>;
  /** Resolves once the API answers (`/readyz` 200 if it has one, else `/ledger/checkpoint`). */
  waitForApi(timeoutMs?: number): Promise<void>;
  /** The last lines a process wrote to stderr (for failure messages). */
  tail(name: NodeProcessName): string;
  /** Stops everything and removes the folder (unless kept). Safe to call twice. */
  stop(): Promise<void>;
}

/** Every child any cluster in this process started: killed on exit, whatever happened. */
const liveChildren = new Set<ChildProcess>();
const livePostmasters = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of liveChildren) {
      try {
        child.kill('SIGKILL');
      } catch {
        // Gone already.
      }
    }
    for (const dataDir of livePostmasters) {
      const pid = postmasterPid(dataDir);
      try {
        // Immediate shutdown: the postmaster takes its backends with it.
        if (pid) process.kill(pid, 'SIGQUIT');
      } catch {
        // Gone already.
      }
    }
  });
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A detached process that outlives this one: if this process dies without stopping the
 * cluster (SIGKILL, a crashed test runner), it kills every process listed in `pidFile`
 * (refreshed twice a second) and removes `removeDir`. Stopped with SIGKILL by a clean stop.
 */
function startWatchdog(pidFile: string, removeDir: string | undefined): ChildProcess {
  const source = `
    const fs = require('node:fs');
    const [parent, pidFile, removeDir] = process.argv.slice(1);
    setInterval(() => {
      try { process.kill(Number(parent), 0); return; } catch {}
      let pids = [];
      try { pids = JSON.parse(fs.readFileSync(pidFile, 'utf8')); } catch {}
      for (const { pid, signal } of pids) { try { process.kill(pid, signal); } catch {} }
      setTimeout(() => {
        if (removeDir) fs.rmSync(removeDir, { recursive: true, force: true });
        process.exit(0);
      }, 3000);
    }, 1000);`;
  const watchdog = spawn(
    process.execPath,
    ['-e', source, String(process.pid), pidFile, removeDir ?? ''],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
  return watchdog;
}

/** Starts the whole system; on any failure everything started so far is stopped again. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  installExitHook();
  const say = options.log ?? (() => undefined);
  const startTimeoutMs = options.startTimeoutMs ?? 120_000;
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'onewindow-faults-'));
  // PostgreSQL runs as its own user when we are root: it must be able to enter the folder.
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  mkdirSync(join(dir, 'keys'), { recursive: true });

  const processes = new Map<NodeProcessName, NodeProcess>();
  const unexpectedExits: UnexpectedExit[] = [];
  const pgDir = join(dir, 'pg');
  let database: { adminUrl: string; stop(): Promise<void> } | undefined;
  let temporal: DevServer | undefined;
  let admin: pg.Pool | undefined;
  let stopped = false;
  const pidFile = join(dir, 'pids.json');
  const watchdog = startWatchdog(pidFile, ownDir && !options.keepDir ? dir : undefined);
  const writePidFile = () => {
    const pids: { pid: number; signal: NodeJS.Signals }[] = [];
    for (const p of processes.values())
      if (p.pid !== undefined) pids.push({ pid: p.pid, signal: 'SIGKILL' });
    if (temporal?.process.pid && temporal.process.exitCode === null)
      pids.push({ pid: temporal.process.pid, signal: 'SIGKILL' });
    const postmaster = database ? postmasterPid(pgDir) : undefined;
    // Immediate shutdown: the postmaster takes its backends with it.
    if (postmaster) pids.push({ pid: postmaster, signal: 'SIGQUIT' });
    try {
      writeFileSync(pidFile, JSON.stringify(pids));
    } catch {
      // The folder is being removed: the cluster is stopping.
    }
  };
  const pidTimer = setInterval(writePidFile, 500);
  pidTimer.unref();

  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    clearInterval(pidTimer);
    // The API and the workers first (they drain), then the witnesses, then the servers.
    const order = (name: NodeProcessName) =>
      name === 'api' ? 0 : name.startsWith('witness.') ? 2 : 1;
    for (const rank of [0, 1, 2]) {
      await Promise.all(
        [...processes.values()].filter((p) => order(p.name) === rank).map((p) => p.stop(10_000)),
      );
    }
    await admin?.end().catch(() => undefined);
    await temporal?.stop().catch(() => undefined);
    temporal = undefined;
    await database?.stop().catch(() => undefined);
    livePostmasters.delete(pgDir);
    database = undefined;
    watchdog.kill('SIGKILL');
    if (ownDir && !options.keepDir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    const cliPath = await resolveTemporalCli({ log: say });
    const [pgPort, temporalPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const startPg = async () => {
      database = await startEmbeddedPostgres({ dataDir: pgDir, port: pgPort, persistent: true });
      livePostmasters.add(pgDir);
    };
    const dbFilename = join(dir, 'temporal.db');
    const startTemporalServer = async () => {
      temporal = await startDevServer({ cliPath, port: temporalPort, uiPort: false, dbFilename });
      liveChildren.add(temporal.process);
      const child = temporal.process;
      child.once('exit', () => liveChildren.delete(child));
    };
    say('starting PostgreSQL and the Temporal dev server…');
    await Promise.all([startPg(), startTemporalServer()]);
    const adminUrl = database!.adminUrl;
    const appUrl = await prepareDatabase(adminUrl);
    admin = new pg.Pool({ connectionString: adminUrl, max: 4 });
    // Restarts cut idle connections; the pool drops them and connects afresh when asked.
    admin.on('error', () => undefined);

    // Keys, as `onewindow dev` makes them: one statement key per agency and the orchestrator,
    // one witness key per witnessing agency, the log key, the payload key, the token issuer.
    const keyFile = (name: string) => join(dir, 'keys', `${name}.key`);
    const agencyKeys: TrustFile['agencyKeys'] = [];
    for (const agency of [...AGENCIES_WITH_WORKERS, 'orchestrator'] as const)
      agencyKeys.push((await ensureRegisteredKey(admin, keyFile(agency), agency)).trusted);
    const logKey = ensureKeyFile(keyFile('log'), LOG_ORIGIN);
    const logPublicKey = formatVerifierKey(logKey.name, logKey.publicKey);
    const witnesses = await Promise.all(
      WITNESSES.map(async (agency) => {
        const key = ensureKeyFile(keyFile(`${agency}.witness`), `${agency}.witness.onewindow`);
        return {
          agency,
          port: await freePort(),
          vkey: formatCosignerVerifierKey(key.name, key.publicKey),
        };
      }),
    );
    const trust: TrustFile = {
      origin: LOG_ORIGIN,
      logKeys: [logPublicKey],
      witnesses: witnesses.map((w) => w.vkey),
      witnessThreshold: WITNESS_THRESHOLD,
      agencyKeys,
    };
    const trustFile = join(dir, 'trust.json');
    writeFileSync(trustFile, `${JSON.stringify(trust, null, 2)}\n`);
    const tokenKey = ensureKeyFile(keyFile('tokens'), 'tokens.onewindow');
    const temporalAddress = `127.0.0.1:${temporalPort}`;

    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(
        ([name]) => !name.startsWith('VITEST') && name !== 'NODE_OPTIONS',
      ),
    );
    const payloadKeyText = generatePayloadKey('faults');
    const baseEnv: NodeJS.ProcessEnv = {
      ...inherited,
      DATABASE_URL: appUrl,
      ONEWINDOW_LOG_ORIGIN: LOG_ORIGIN,
      ONEWINDOW_LOG_PUBLIC_KEY: logPublicKey,
    };
    const childEnv: NodeJS.ProcessEnv = {
      ...baseEnv,
      ONEWINDOW_PAYLOAD_KEY: payloadKeyText,
      ONEWINDOW_LOG_LEVEL: 'ERROR',
      TEMPORAL_ADDRESS: temporalAddress,
      ONEWINDOW_LOG_KEY_FILE: keyFile('log'),
      ONEWINDOW_WITNESSES: witnesses.map((w) => `${w.vkey}@http://127.0.0.1:${w.port}`).join(' '),
      ONEWINDOW_WITNESS_THRESHOLD: String(WITNESS_THRESHOLD),
    };
    const add = (
      name: NodeProcessName,
      args: string[],
      env: NodeJS.ProcessEnv,
      readyLine: string | undefined,
    ) => {
      processes.set(
        name,
        new NodeProcess(
          name,
          args,
          env,
          join(dir, 'logs', `${name}.log`),
          readyLine,
          (exit) => {
            unexpectedExits.push(exit);
            say(`${name} exited unexpectedly (${exit.code ?? exit.signal})`);
          },
          liveChildren,
        ),
      );
    };
    for (const w of witnesses)
      add(
        `witness.${w.agency}` as NodeProcessName,
        [
          'witness',
          '--agency',
          w.agency,
          '--key',
          keyFile(`${w.agency}.witness`),
          '--port',
          String(w.port),
        ],
        baseEnv,
        'witness at',
      );
    add(
      'orchestrator',
      ['worker', '--orchestrator', '--key', keyFile('orchestrator')],
      childEnv,
      'orchestrator worker polling',
    );
    for (const agency of AGENCIES_WITH_WORKERS)
      add(
        agency,
        ['worker', '--agency', agency, '--key', keyFile(agency)],
        childEnv,
        `${agency} worker polling`,
      );
    add(
      'api',
      ['api', '--port', String(apiPort)],
      {
        ...childEnv,
        ONEWINDOW_TOKEN_PUBLIC_KEY: toBase64(tokenKey.publicKey),
        ONEWINDOW_KEY_FILE: keyFile('orchestrator'),
        ONEWINDOW_TRUST_FILE: trustFile,
        // One citizen a driver tag submits every case of a run.
        ONEWINDOW_CALLER_REQUESTS_PER_MINUTE: '1000000',
        ONEWINDOW_CITIZEN_CASES_PER_DAY: '1000000',
        ONEWINDOW_REFUSED_TOKENS_PER_MINUTE: '1000000',
      },
      undefined,
    );
    const apiUrl = `http://127.0.0.1:${apiPort}`;

    const waitForApi = async (timeoutMs = startTimeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const api = processes.get('api')!;
        if (api.pid === undefined) throw new Error(`the API is not running: ${api.tail()}`);
        for (const path of ['/readyz', '/ledger/checkpoint']) {
          try {
            const response = await fetch(`${apiUrl}${path}`, {
              signal: AbortSignal.timeout(2000),
            });
            await response.arrayBuffer();
            if (path === '/readyz' && response.status === 404) continue;
            // /ledger/checkpoint answers 404 until the first checkpoint is published: it answers.
            if (
              response.status === 200 ||
              (path === '/ledger/checkpoint' && response.status === 404)
            )
              return;
            break;
          } catch {
            break;
          }
        }
        if (Date.now() > deadline)
          throw new Error(`the API did not answer within ${timeoutMs} ms: ${api.tail()}`);
        await sleep(200);
      }
    };
    const startNode = async (name: NodeProcessName) => {
      const p = processes.get(name);
      if (!p) throw new Error(`no process named ${name}`);
      await p.start(startTimeoutMs);
      if (name === 'api') await waitForApi();
    };

    say('starting the witnesses…');
    await Promise.all(witnesses.map((w) => startNode(`witness.${w.agency}` as NodeProcessName)));
    say('starting the workers and the API…');
    // The orchestrator bundles the workflows; the others start beside it, two at a time on
    // a small machine so none of them misses its start timeout.
    const rest: NodeProcessName[] = [...AGENCIES_WITH_WORKERS, 'api'];
    await Promise.all([
      startNode('orchestrator'),
      (async () => {
        for (let i = 0; i < rest.length; i += 2)
          await Promise.all(rest.slice(i, i + 2).map(startNode));
      })(),
    ]);
    say(`cluster up: API ${apiUrl}, Temporal ${temporalAddress}, PostgreSQL :${pgPort}`);

    const stopTemporal = async () => {
      say('stopping the Temporal dev server');
      await temporal?.stop();
      temporal = undefined;
    };
    const startTemporal = async () => {
      say('starting the Temporal dev server on the same database file');
      if (temporal) throw new Error('the Temporal dev server is running');
      await startTemporalServer();
    };
    const stopPostgres = async () => {
      say('stopping PostgreSQL');
      await database?.stop();
      livePostmasters.delete(pgDir);
      database = undefined;
    };
    const startPostgres = async () => {
      say('starting PostgreSQL on the same data directory');
      if (database) throw new Error('PostgreSQL is running');
      if (!existsSync(join(pgDir, 'PG_VERSION'))) throw new Error('no PostgreSQL data to start');
      await startPg();
    };
    const nodeProcess = (name: NodeProcessName) => {
      const p = processes.get(name);
      if (!p) throw new Error(`no process named ${name}`);
      return p;
    };
    return {
      dir,
      apiUrl,
      trustFile,
      trust,
      adminUrl,
      appUrl,
      temporalAddress,
      payloadKey: parsePayloadKey(payloadKeyText),
      admin,
      token: (principal) => issueToken(tokenKey.seed, principal, 6 * 3600),
      pids() {
        const pids: Partial<Record<ProcessName, number>> = {};
        for (const [name, p] of processes) if (p.pid !== undefined) pids[name] = p.pid;
        if (temporal?.process.exitCode === null) pids.temporal = temporal.process.pid;
        const postmaster = database ? postmasterPid(pgDir) : undefined;
        if (postmaster) pids.postgres = postmaster;
        return pids;
      },
      unexpectedExits,
      async kill9(name) {
        say(`kill -9 ${name}`);
        await nodeProcess(name).kill9();
      },
      async start(name) {
        say(`starting ${name}`);
        await startNode(name);
      },
      async restart(name) {
        say(`restarting ${name}`);
        await nodeProcess(name).stop();
        await startNode(name);
      },
      stopTemporal,
      startTemporal,
      stopPostgres,
      startPostgres,
      async restartPostgres() {
        await stopPostgres();
        await startPostgres();
      },
      waitForApi,
      tail: (name) => nodeProcess(name).tail(),
      stop: stopAll,
    };
  } catch (error) {
    const tails = [...processes.values()]
      .filter((p) => p.tail())
      .map((p) => `[${p.name}] ${p.tail().trim().split('\n').slice(-5).join(' | ')}`);
    await stopAll();
    if (tails.length > 0 && error instanceof Error) error.message += `\n${tails.join('\n')}`;
    throw error;
  }
}
