// Helpers shared by the benchmarks: the machine they ran on, a scratch database, signed
// statements made in bulk, percentiles and number formatting.
import { createPrivateKey, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, arch, loadavg, platform, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import {
  NativeConnection,
  type Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import pg from 'pg';
import type { Agency } from '../domain/agency.ts';
import { STATEMENT_TYPE, type SignedStatement, type Statement } from '../domain/statement.ts';
import { toBase64 } from '../ledger/bytes.ts';
import { agencyKeyName, generateSigningKey, type SigningKey } from '../ledger/keys.ts';
import { useEd25519 } from '../ledger/ed25519.ts';
import { processEd25519 } from '../ledger/pg/sodiumEd25519.ts';
import { signStatement, statementMessage } from '../ledger/statement.ts';
import { registerAgencyKey } from '../ledger/pg/keyRegistry.ts';
import { migrate } from '../ledger/pg/migrations.ts';
import { prepareDatabase, startEmbeddedPostgres } from '../infra/postgres.ts';
import { resolveTemporalCli, temporalCliVersion } from '../infra/temporalCli.ts';
import { startDevServer, type DevServer } from '../infra/temporalDevServer.ts';
import { generateRegisteredKeys } from '../cli/keys.ts';
import {
  AGENCIES_WITH_WORKERS,
  createAgencyWorker,
  createOrchestratorWorker,
} from '../cli/workers.ts';
import {
  clientDataConverter,
  generatePayloadKey,
  parsePayloadKey,
  type PayloadKey,
} from '../infra/payloadCodec.ts';

/** CPU model, cores, memory, node version and date: printed above every benchmark's figures. */
// As every onewindow process does (cli/main.ts): signatures through libsodium's Ed25519.
useEd25519(processEd25519);

export function describeMachine(): string[] {
  let cpu = 'unknown CPU';
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // Not Linux: the model stays unknown, the other figures still hold.
  }
  return [
    `machine  ${cpu}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()} ${arch()}`,
    `node     ${process.version}`,
    `date     ${new Date().toISOString()}`,
    // Other work on the machine takes cores from the figures below.
    `load     ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')} (1, 5, 15 min averages at start)`,
  ];
}

export interface BenchDatabase {
  /** Owner connection: schema, key registration, scratch tables. */
  adminUrl: string;
  /** What the sequencer and readers use. */
  appUrl: string;
  description: string;
  stop(): Promise<void>;
}

/**
 * A database of its own for one benchmark run. Given a server (`adminUrl`, else
 * DATABASE_URL), a scratch database on it, dropped afterwards: the ledger is append-only, so
 * a benchmark must never write into a real one. It runs as the owner there, because
 * prepareDatabase would re-key the cluster-wide application role under a running system.
 * Otherwise an embedded PostgreSQL in a temporary folder.
 */
export async function openBenchDatabase(
  adminUrl = process.env.DATABASE_URL,
): Promise<BenchDatabase> {
  if (adminUrl) {
    const name = `onewindow_bench_${randomBytes(6).toString('hex')}`;
    const server = new pg.Client({ connectionString: adminUrl });
    await server.connect();
    try {
      await server.query(`CREATE DATABASE ${name}`);
    } finally {
      await server.end();
    }
    const drop = async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    };
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    try {
      const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
      try {
        await migrate(pool);
      } finally {
        await pool.end();
      }
    } catch (error) {
      // The server is shared: a failed migration must not leave the scratch database behind.
      await drop().catch(() => undefined);
      throw error;
    }
    return {
      adminUrl: url.toString(),
      appUrl: url.toString(),
      description: `scratch database ${name} on ${new URL(adminUrl).host}`,
      stop: drop,
    };
  }
  const scratch = mkdtempSync(join(tmpdir(), 'onewindow-bench-'));
  // PostgreSQL runs as its own user when we are root: it must be able to enter the folder.
  chmodSync(scratch, 0o755);
  try {
    const server = await startEmbeddedPostgres({ dataDir: join(scratch, 'pg'), persistent: false });
    let appUrl: string;
    try {
      appUrl = await prepareDatabase(server.adminUrl);
    } catch (error) {
      // Else the server outlives the run, its data folder removed under it.
      await server.stop().catch(() => undefined);
      throw error;
    }
    return {
      adminUrl: server.adminUrl,
      appUrl,
      description: 'embedded PostgreSQL (fresh, default settings, fsync on)',
      async stop() {
        await server.stop();
        rmSync(scratch, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(scratch, { recursive: true, force: true });
    throw error;
  }
}

const AGENCIES: readonly Agency[] = ['housing', 'tax', 'registry', 'electricity', 'water', 'gas'];
const STEPS = ['checkTitle', 'assessDuty', 'transferTitle', 'precheck.water', 'transferAccount'];
// DER PKCS#8 prefix of an Ed25519 private key (RFC 8410 §7).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * Signed statements from every agency, made in bulk. Signs with Node's Ed25519 (about 8x
 * @noble/ed25519's rate here); Ed25519 is deterministic, so the signatures are the ones
 * signStatement makes, which the constructor checks once.
 */
export class StatementFactory {
  readonly agencies = AGENCIES;
  /** One key per agency, in the order of `agencies`. */
  readonly keys: SigningKey[] = AGENCIES.map((agency) => generateSigningKey(agencyKeyName(agency)));
  private readonly privateKeys: KeyObject[] = this.keys.map((key) =>
    createPrivateKey({
      key: Buffer.concat([PKCS8_PREFIX, key.seed]),
      format: 'der',
      type: 'pkcs8',
    }),
  );
  private made = 0;

  constructor() {
    const sample = this.statement(0);
    const ours = this.sign(sample, 0);
    if (ours.signature !== signStatement(sample, this.keys[0]!).signature)
      throw new Error('node:crypto and signStatement disagree on an Ed25519 signature');
  }

  /** Registers every agency's key, valid from the epoch. */
  async register(adminPool: pg.Pool): Promise<void> {
    for (const [i, key] of this.keys.entries()) {
      await registerAgencyKey(adminPool, {
        keyId: key.keyId,
        agency: AGENCIES[i]!,
        publicKey: key.publicKey,
        validFrom: new Date(0),
      });
    }
  }

  /** `count` fresh statements, each for a new case, round-robin over the agencies. */
  make(count: number): SignedStatement[] {
    return Array.from({ length: count }, () => {
      const k = this.made++ % this.keys.length;
      return this.sign(this.statement(k), k);
    });
  }

  private statement(k: number): Statement {
    const caseId = randomUUID();
    const stepId = STEPS[this.made % STEPS.length]!;
    return {
      type: STATEMENT_TYPE,
      statementId: `${caseId}/${stepId}`,
      caseId,
      stepId,
      agency: AGENCIES[k]!,
      outcome: 'passed',
      commitment: randomBytes(32).toString('base64'),
      facts: { seizure: false, dutyCents: 1_275_000, lienCount: 0 },
      issuedAt: new Date().toISOString(),
      keyId: this.keys[k]!.keyId,
    };
  }

  private sign(statement: Statement, k: number): SignedStatement {
    const signature = sign(null, statementMessage(statement), this.privateKeys[k]!);
    return { statement, signature: toBase64(signature) };
  }
}

/** The `p`-th percentile (0..100) of `values`, nearest rank. Requires a non-empty array. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * Milliseconds each call of `fn` takes, one at a time, after `warmup` untimed calls. The
 * warm-up calls get 0 … warmup - 1 and the timed ones warmup … warmup + count - 1, so no timed
 * call repeats a warm one's argument (a proof for an index it just fetched, now cached).
 */
export async function sampleLatencies(
  count: number,
  fn: (i: number) => Promise<unknown>,
  warmup = Math.min(50, count),
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out: number[] = [];
  for (let i = warmup; i < warmup + count; i++) {
    const start = performance.now();
    await fn(i);
    out.push(performance.now() - start);
  }
  return out;
}

/** 12,345 */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 1.23 ms, with 3 significant digits */
export function ms(n: number): string {
  return `${n < 10 ? n.toPrecision(3) : n.toFixed(1)} ms`;
}

export function ratio(n: number): string {
  return n.toFixed(2);
}

/** Something a benchmark started and stops at the end, last started first. */
export interface BenchPart {
  stop: () => Promise<void>;
}

/**
 * What the case and API benchmarks share: a Temporal server (a dev server started here unless
 * `temporalAddress` names one), a scratch database with the admin pool and the pools the
 * orchestrator worker and the API use as deployed, and a registered statement key for every
 * agency and the orchestrator. Each piece is pushed on `parts` as soon as it runs, so the
 * caller's cleanup stops it even if a later step fails.
 */
export async function startBenchServers(
  options: { temporalAddress?: string | undefined; adminUrl?: string | undefined },
  parts: BenchPart[],
  print: (line: string) => void,
  progress: (line: string) => void,
): Promise<{
  server: DevServer | undefined;
  address: string;
  adminPool: pg.Pool;
  workerPool: pg.Pool;
  apiPool: pg.Pool;
  keys: Record<string, SigningKey>;
}> {
  let server: DevServer | undefined;
  let address = options.temporalAddress;
  if (!address) {
    const cliPath = await resolveTemporalCli({ log: progress });
    server = await startDevServer({ cliPath, uiPort: false });
    parts.push(server);
    address = server.address;
    print(
      `temporal dev server ${temporalCliVersion(cliPath).split('\n')[0]}, in memory, ${address}`,
    );
  } else {
    print(`temporal server ${address} (not started by this run)`);
  }
  const db = await openBenchDatabase(options.adminUrl);
  parts.push(db);
  const adminPool = new pg.Pool({ connectionString: db.adminUrl, max: 2 });
  // As deployed: the orchestrator worker's pool (cli/worker.ts) and the API's (cli/api.ts).
  const workerPool = new pg.Pool({ connectionString: db.appUrl, max: 8 });
  const apiPool = new pg.Pool({ connectionString: db.appUrl, max: 16 });
  let stopping = false;
  for (const pool of [adminPool, workerPool, apiPool]) {
    pool.on('error', (error) => stopping || progress(`postgres: ${error.message}`));
    parts.push({
      stop: async () => {
        stopping = true;
        await pool.end();
      },
    });
  }
  const version = await adminPool.query<{ server_version: string }>('SHOW server_version');
  print(`database ${db.description}, PostgreSQL ${version.rows[0]!.server_version}`);

  const keys = await generateRegisteredKeys(adminPool, [...AGENCIES_WITH_WORKERS, 'orchestrator']);
  return { server, address, adminPool, workerPool, apiPool, keys };
}

/**
 * The orchestrator's and every agency's worker on the bench's Temporal server, as `onewindow
 * dev` runs them, plus any `extra` workers, all running; `parts` stops them (and the
 * connections) in reverse order. The client encrypts payloads like the API's. `failed` aborts,
 * with the cause as its reason, when a worker stops before `parts` stops it: the caller must
 * end its run then (its cases would only wait), so that its cleanup runs.
 */
export async function startBenchWorkers(
  options: {
    address: string;
    workerPool: pg.Pool;
    keys: Record<string, SigningKey>;
    log: { origin: string; key: SigningKey };
    workflowBundle: WorkflowBundleWithSourceMap;
    extra?: (connection: NativeConnection) => Promise<Worker[]>;
  },
  parts: BenchPart[],
): Promise<{
  client: Client;
  connection: Connection;
  orchestrator: Awaited<ReturnType<typeof createOrchestratorWorker>>;
  /** The payload key of the workers and the client (to replay the run's histories). */
  payloadKey: PayloadKey;
  failed: AbortSignal;
}> {
  const payloadKey = parsePayloadKey(generatePayloadKey('bench'));
  const nativeConnection = await NativeConnection.connect({ address: options.address });
  parts.push({ stop: () => nativeConnection.close() });
  const connection = await Connection.connect({ address: options.address });
  parts.push({ stop: () => connection.close() });
  const client = new Client({ connection, dataConverter: clientDataConverter(payloadKey) });

  const orchestrator = await createOrchestratorWorker({
    connection: nativeConnection,
    pool: options.workerPool,
    workflowBundle: options.workflowBundle,
    log: options.log,
    key: options.keys.orchestrator!,
    payloadKey,
  });
  const workers: Worker[] = [orchestrator.worker];
  for (const agency of AGENCIES_WITH_WORKERS) {
    workers.push(
      await createAgencyWorker({
        connection: nativeConnection,
        agency,
        key: options.keys[agency]!,
        payloadKey,
      }),
    );
  }
  workers.push(...((await options.extra?.(nativeConnection)) ?? []));
  const failure = new AbortController();
  // Every case in flight waits on it (unlessAborted): no leak warning for 128 listeners.
  setMaxListeners(0, failure.signal);
  let stopping = false;
  // A worker that fails mid-run rejects its run(): unhandled, that ends Node before any
  // `finally`, leaving a scratch database on a shared server. Recorded here instead, and the
  // caller's waits end with it. A run() that ends without our shutdown (the runtime's own
  // SIGINT handler) ends the benchmark too.
  const running = workers.map((w) =>
    w.run().then(
      () => {
        if (!stopping) failure.abort(new Error(`worker ${w.options.taskQueue} stopped mid-run`));
      },
      (error: unknown) =>
        failure.abort(
          new Error(`worker ${w.options.taskQueue} failed mid-run: ${String(error)}`, {
            cause: error,
          }),
        ),
    ),
  );
  parts.push({
    stop: async () => {
      stopping = true;
      // A worker that already failed is not RUNNING and its shutdown() throws: the others must
      // still stop, or NativeConnection.close() refuses and the VerifyPool stays open.
      for (const w of workers) {
        try {
          w.shutdown();
        } catch {
          // Stopped already; its run() has settled or is settling.
        }
      }
      await Promise.allSettled(running);
      try {
        await orchestrator.publisher.idle();
      } finally {
        await orchestrator.close();
      }
    },
  });
  return { client, connection, orchestrator, payloadKey, failed: failure.signal };
}

/**
 * `work`, unless `signal` aborts first: then a rejection with its reason. A later rejection of
 * `work` is handled (ignored), so it cannot end the process.
 */
export function unlessAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', onAbort))
      .catch(() => undefined);
  });
}

/** Linux's USER_HZ: /proc reports CPU times in these ticks a second. */
export const CLOCK_TICKS = 100;

/** CPU seconds of the whole machine (all cores) since boot. */
export interface MachineCpu {
  /** Time the cores ran anything of this machine's. */
  busySec: number;
  /** Time this VM wanted a core and the hypervisor ran another guest: lost, not used. */
  stealSec: number;
}

/** The machine's CPU seconds, from /proc/stat (Linux only; undefined elsewhere). */
export function machineCpu(): MachineCpu | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    // proc(5): user nice system idle iowait irq softirq steal guest guest_nice. guest and
    // guest_nice are already counted in user and nice; idle, iowait and steal are no work here.
    const [user, nice, system, , , irq, softirq, steal] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return {
      busySec: (user! + nice! + system! + irq! + softirq!) / CLOCK_TICKS,
      stealSec: (steal ?? 0) / CLOCK_TICKS,
    };
  } catch {
    return undefined;
  }
}

/** The machine's CPU seconds from `before` to now; undefined if either reading is. */
export function machineCpuSince(before: MachineCpu | undefined): MachineCpu | undefined {
  const now = machineCpu();
  return before === undefined || now === undefined
    ? undefined
    : { busySec: now.busySec - before.busySec, stealSec: now.stealSec - before.stealSec };
}

/**
 * What the hypervisor took over a span, as a clause to append to a figure's line, or '' when
 * it took nothing: those seconds are missing from the machine's CPU, not spent by it.
 */
export function stealNote(span: MachineCpu | undefined): string {
  return span === undefined || span.stealSec <= 0
    ? ''
    : `; steal ${span.stealSec.toFixed(2)} s (cores the hypervisor gave another guest)`;
}

/**
 * Waits (20 s at most) until the machine is mostly idle over half a second: what the run before
 * left behind (the server's task queues, PostgreSQL's writes, a collection) must not land in the
 * next run's time (in bench:cases every baseline run follows a cases run; in bench:ledger the
 * audit follows the kernel writing out the exported copy). If it never is, says so through
 * `print`, since the next figure then carries that work.
 */
export async function settle(print: (line: string) => void): Promise<void> {
  const deadline = Date.now() + 20_000;
  let busy = 0;
  while (Date.now() < deadline) {
    const before = machineCpu();
    await sleep(500);
    const span = machineCpuSince(before);
    if (span === undefined) return;
    busy = span.busySec / 0.5 / availableParallelism();
    if (busy < 0.25) return;
  }
  print(
    `  (the machine did not settle in 20 s: ${(busy * 100).toFixed(0)}% of its cores busy over the last half second; measuring anyway)`,
  );
}
