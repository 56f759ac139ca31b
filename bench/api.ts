// The API benchmark (`npm run bench:api`, `--smoke` for a few seconds of load). The real stack
// in this process — a Temporal dev server, PostgreSQL with the ledger, the orchestrator's and
// all six agencies' workers, the API from buildApp listening on 127.0.0.1 with its own ledger
// writer for the access audit, as `onewindow dev` wires it — and the load from a child process
// (bench/apiLoad.ts), so the load generator never shares the API's event loop. Setup drives
// cases to completion through the API: the citizen applies and pays the duty
// (POST /cases/:id/payments), the registry officer approves (POST /cases/:id/decisions); the
// timeline's cases then get supervisor timeline reads until each has `entries` entries.
// Measured, each route at its most requests/s (closed loop) and at a fixed offered rate (open
// loop), beside a bare route on a plain fastify instance in this process, measured in the same
// run:
//   GET /bare                               the baseline: constant JSON, no plugins
//   GET /bare on the API's app              the same route behind the API's plugins
//   GET /cases/:id                          the citizen tracks their case (not audited)
//   GET /cases?status=completed&pageSize=20 the supervisor's list (Temporal visibility)
//   GET /cases/:id/timeline?purpose=bench   the supervisor's timeline: each read appends a
//                                           signed access entry to the ledger first
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import type pg from 'pg';
import { ledgerAccessRecorder, type RecordAccess } from '../api/access.ts';
import { buildApp, SCRIPTED_CALLER_LIMITS } from '../api/app.ts';
import { issueToken, tokenVerifier, type VerifyToken } from '../api/auth.ts';
import type { CaseStatus } from '../domain/caseStatus.ts';
import { bundleWorkflows, createLedgerWriter, installRuntime } from '../cli/workers.ts';
import { generateSigningKey } from '../ledger/keys.ts';
import { LogReader } from '../ledger/pg/logReader.ts';
import { entriesOfCase, ledgerSize } from '../ledger/pg/reader.ts';
import { statusQuery } from '../workflows/messages.ts';
import type { jointTransferCase } from '../workflows/jointTransferCase.ts';
import { z } from 'zod';
import { Timeline } from '../api/schemas.ts';
import type { LoadJob, LoadResult } from './apiLoad.ts';
import { benchApplication } from './cases.ts';
import {
  CLOCK_TICKS,
  count,
  describeMachine,
  machineCpu,
  machineCpuSince,
  ms,
  percentile,
  ratio,
  sampleLatencies,
  startBenchServers,
  startBenchWorkers,
  type BenchPart,
} from './support.ts';

export interface ApiBenchOptions {
  /** Seconds of each closed-loop run (most requests/s). */
  durationSec: number;
  /** Seconds of each fixed-rate run. */
  rateDurationSec: number;
  /** Requests/s offered in the fixed-rate runs. */
  rate: number;
  /** Connections in flight in the closed-loop runs. */
  connections: number;
  /** Untimed closed-loop seconds before each route's runs. */
  warmupSec: number;
  /** Ledger entries each timeline case has when the runs start. */
  entries: number;
  /** Cases the fixed-rate timeline run spreads its reads over (each read appends one entry). */
  rateCases: number;
  /** Cases the closed-loop timeline run (and its warm-up) spreads its reads over. */
  maxCases: number;
  /** Completed cases at least, for the list to page. */
  listCases: number;
  /** Cases driven at once during setup. */
  concurrency: number;
  /** Calls of each part of a timeline read in the profile. */
  profileSamples: number;
  /**
   * Where to write CPU profiles (Chrome DevTools format) of this process's main thread: the
   * profile's whole-route calls at this path, the timeline's fixed-rate run at `<path>.rate`.
   */
  cpuProfile?: string;
  /** A running Temporal server to use; else a dev server is started for the run. */
  temporalAddress?: string;
  /** A PostgreSQL server to make a scratch database on; else DATABASE_URL, else an embedded one. */
  adminUrl?: string;
}

export const FULL: ApiBenchOptions = {
  durationSec: 10,
  rateDurationSec: 10,
  rate: 200,
  connections: 32,
  warmupSec: 2,
  entries: 30,
  rateCases: 150,
  maxCases: 50,
  listCases: 50,
  concurrency: 32,
  profileSamples: 100,
};
export const SMOKE: ApiBenchOptions = {
  durationSec: 1,
  rateDurationSec: 1,
  rate: 20,
  connections: 4,
  warmupSec: 0,
  entries: 30,
  rateCases: 2,
  maxCases: 2,
  listCases: 4,
  concurrency: 4,
  profileSamples: 5,
};

/** One route's figures: closed loop (most requests/s) and at the fixed offered rate. */
export interface RouteFigures {
  maxPerSec: number;
  /** Latency p50 / p99 at the fixed rate, in ms. */
  p50Ms: number;
  p99Ms: number;
  /** Requests/s answered in the fixed-rate run (should be the rate offered). */
  ratePerSec: number;
  /** Requests of both runs answered with other than 2xx, or not at all. */
  failed: number;
}

export interface ApiBenchFigures {
  bare: RouteFigures;
  appBare: RouteFigures;
  caseView: RouteFigures;
  caseList: RouteFigures;
  timeline: RouteFigures;
  /** Entries of each timeline case when the fixed-rate run started. */
  timelineEntries: number;
  /** timeline.maxPerSec / bare.maxPerSec */
  timelineRatio: number;
}

/** The timeline read's target: p99 at the fixed rate. */
export const TIMELINE_P99_TARGET_MS = 50;
const LOG_ORIGIN = 'bench.onewindow/api';
const CASE_TIMEOUT_MS = 180_000;
const POLL_MS = 200;
const HOUR = 3600;
const apiLoadPath = fileURLToPath(new URL('./apiLoad.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Starts the stack, makes the cases, measures every route and prints the figures. */
export async function runApiBench(
  options: ApiBenchOptions,
  print: (line: string) => void = console.log,
  progress: (line: string) => void = () => undefined,
): Promise<ApiBenchFigures> {
  for (const line of describeMachine()) print(line);
  installRuntime('WARN');
  const stack: BenchPart[] = [];
  const stopAll = async () => {
    for (const part of stack.reverse()) await part.stop().catch(() => undefined);
  };
  try {
    const { server, address, workerPool, apiPool, keys } = await startBenchServers(
      options,
      stack,
      print,
      progress,
    );
    const log = { origin: LOG_ORIGIN, key: generateSigningKey(LOG_ORIGIN) };
    progress('bundling workflows…');
    const { client, failed } = await startBenchWorkers(
      { address, workerPool, keys, log, workflowBundle: await bundleWorkflows() },
      stack,
    );
    // The API as `onewindow dev` wires it: its own pool, and its own ledger writer (one
    // verify thread) appending the access-audit entries signed with the operator's key.
    const writer = createLedgerWriter({ pool: apiPool, log, verifyThreads: 1 });
    stack.push({
      stop: async () => {
        await writer.publisher.idle();
        await writer.close();
      },
    });
    const tokenKey = generateSigningKey('tokens.bench');
    // Deadlines in law time (no timeScale): nothing falls due during the run.
    const verifyToken = tokenVerifier(tokenKey.publicKey);
    const recordAccess = ledgerAccessRecorder({
      key: keys.orchestrator!,
      append: (signed) => writer.sequencer.append(signed),
      pool: apiPool,
    });
    const app = await buildApp({
      temporal: client,
      pool: apiPool,
      verifyToken,
      recordAccess,
      // A few bench callers send every request.
      callerLimits: SCRIPTED_CALLER_LIMITS,
    });
    // A route added only here: the same constant as the bare instance, behind the API's plugins.
    app.get('/bare', () => BARE_BODY);
    stack.push({ stop: () => app.close() });
    const origin = await listen(app);
    const bareApp = Fastify();
    bareApp.get('/bare', () => BARE_BODY);
    stack.push({ stop: () => bareApp.close() });
    const bareOrigin = await listen(bareApp);
    print(`api ${origin}, bare fastify ${bareOrigin}, both in this process`);

    const tokens = {
      citizen: await issueToken(tokenKey.seed, { role: 'citizen', sub: 'bench-citizen' }, HOUR),
      registry: await issueToken(
        tokenKey.seed,
        { role: 'officer', sub: 'bench-registry', agency: 'registry' },
        HOUR,
      ),
      supervisor: await issueToken(
        tokenKey.seed,
        { role: 'supervisor', sub: 'bench-supervisor' },
        HOUR,
      ),
    };
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    // Setup: completed cases, driven through the API.
    const total = Math.max(options.listCases, options.rateCases + options.maxCases);
    const runTag = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`.toUpperCase();
    const driver = new CaseDriver(app, client, tokens, runTag);
    progress(`driving ${total} cases to completion…`);
    const setupStart = performance.now();
    const caseIds = await inParallel(total, options.concurrency, (i) => driver.drive(i));
    const setupSec = (performance.now() - setupStart) / 1000;
    const clean = (await entriesOfCase(apiPool, caseIds[0]!)).length;
    print('');
    print(
      `setup: ${count(total)} cases completed through the API in ${setupSec.toFixed(1)} s (citizen applies with 3 utilities and pays, registry officer approves); ${clean} ledger entries a case`,
    );

    // The timeline's cases get supervisor timeline reads until each has `entries` entries.
    const timelineCases = caseIds.slice(0, options.rateCases + options.maxCases);
    const readTimeline = async (caseId: string, purpose: string) => {
      const response = await app.inject({
        method: 'GET',
        url: `/cases/${caseId}/timeline?purpose=${purpose}`,
        headers: bearer(tokens.supervisor),
      });
      if (response.statusCode !== 200)
        throw new Error(`timeline of ${caseId}: ${response.statusCode} ${response.body}`);
    };
    const reads = Math.max(0, options.entries - clean);
    await inParallel(timelineCases.length, options.concurrency, async (i) => {
      for (let r = 0; r < reads; r++) await readTimeline(timelineCases[i]!, 'bench-setup');
    });
    await writer.publisher.idle();
    const entryCounts = await Promise.all(
      timelineCases.map(async (id) => (await entriesOfCase(apiPool, id)).length),
    );
    const timelineEntries = Math.min(...entryCounts);
    print(
      `       ${count(reads)} supervisor timeline reads on each of ${timelineCases.length} cases: ${timelineEntries === Math.max(...entryCounts) ? timelineEntries : `${timelineEntries}-${Math.max(...entryCounts)}`} entries a case, all under the latest published checkpoint`,
    );

    progress('profiling a timeline read…');
    const profile = await profileTimeline({
      app,
      client,
      pool: apiPool,
      verifyToken,
      recordAccess,
      token: tokens.supervisor,
      caseIds: timelineCases.slice(options.rateCases),
      runs: driver.runs,
      samples: options.profileSamples,
      ...(options.cpuProfile ? { cpuProfile: options.cpuProfile } : {}),
    });

    const load = new LoadRunner(server?.process.pid, progress);
    const rateCasesIds = timelineCases.slice(0, options.rateCases);
    const maxCasesIds = timelineCases.slice(options.rateCases);
    /** Each route's CPU a request in its fixed-rate run, by process. */
    const cpuAtRate: string[] = [];
    const measure = async (
      what: string,
      base: Omit<LoadJob, 'kind' | 'durationSec'>,
      rateBase: Omit<LoadJob, 'kind' | 'durationSec'> = base,
      rateProfile?: string,
    ): Promise<RouteFigures> => {
      progress(`measuring ${what}…`);
      if (options.warmupSec > 0)
        await load.run({
          ...base,
          kind: 'max',
          durationSec: options.warmupSec,
          connections: options.connections,
        });
      // Fixed rate first: the timeline's closed-loop run would add entries to its cases.
      const profiler = rateProfile ? await startCpuProfile() : undefined;
      const atRate = await load.run({
        ...rateBase,
        kind: 'rate',
        durationSec: options.rateDurationSec,
        rate: options.rate,
      });
      if (profiler && rateProfile)
        writeFileSync(rateProfile, JSON.stringify(await profiler.stop()));
      cpuAtRate.push(`${what.padEnd(26)} ${atRate.cpu.describe(atRate.result.ok)}`);
      const max = await load.run({
        ...base,
        kind: 'max',
        durationSec: options.durationSec,
        connections: options.connections,
      });
      return {
        maxPerSec: max.result.perSec,
        p50Ms: atRate.result.p50Ms,
        p99Ms: atRate.result.p99Ms,
        ratePerSec: atRate.result.perSec,
        failed: atRate.result.failed + max.result.failed,
      };
    };

    const casePaths = (ids: readonly string[], suffix = '') =>
      ids.map((id) => `/cases/${id}${suffix}`);
    const bare = await measure('bare fastify', {
      origin: bareOrigin,
      paths: ['/bare'],
      headers: {},
    });
    const appBare = await measure('bare route on the API app', {
      origin,
      paths: ['/bare'],
      headers: {},
    });
    const caseView = await measure('GET /cases/:id', {
      origin,
      paths: casePaths(rateCasesIds),
      headers: bearer(tokens.citizen),
    });
    const caseList = await measure('GET /cases', {
      origin,
      paths: ['/cases?status=completed&pageSize=20'],
      headers: bearer(tokens.supervisor),
    });
    const sizeBefore = await ledgerSize(apiPool);
    const commitsBefore = await commitCount(apiPool);
    const timeline = await measure(
      'GET /cases/:id/timeline',
      {
        origin,
        paths: casePaths(maxCasesIds, '/timeline?purpose=bench'),
        headers: bearer(tokens.supervisor),
      },
      {
        origin,
        paths: casePaths(rateCasesIds, '/timeline?purpose=bench'),
        headers: bearer(tokens.supervisor),
      },
      options.cpuProfile && `${options.cpuProfile}.rate`,
    );
    // Answers the load generator stopped waiting for are still appending: let them finish.
    const appended = (await settledLedgerSize(apiPool)) - sizeBefore;
    const commits = (await commitCount(apiPool)) - commitsBefore;
    const rateEnd = await Promise.all(
      rateCasesIds.map(async (id) => (await entriesOfCase(apiPool, id)).length),
    );

    const figures: ApiBenchFigures = {
      bare,
      appBare,
      caseView,
      caseList,
      timeline,
      timelineEntries,
      timelineRatio: timeline.maxPerSec / bare.maxPerSec,
    };
    const rows: [string, RouteFigures][] = [
      ['GET /bare, plain fastify (baseline)', bare],
      ['GET /bare on the API app (its plugins)', appBare],
      [`GET /cases/:id as the citizen`, caseView],
      ['GET /cases?status=completed&pageSize=20, supervisor', caseList],
      ['GET /cases/:id/timeline?purpose=bench, supervisor', timeline],
    ];
    print('');
    print(
      `load from a child process: most requests/s with ${options.connections} connections, closed loop (autocannon 9), ${options.durationSec} s; latency at ${options.rate} requests/s offered, open loop (Node's HTTP client, a request due every ${ms(1000 / options.rate)}, latency from when it was due), ${options.rateDurationSec} s after an untimed second`,
    );
    print(
      'each timeline read appends a signed access entry to the ledger before it answers (issue 5, item 6): measured as is',
    );
    print('');
    const header = [
      'route'.padEnd(52),
      'max req/s'.padStart(10),
      '÷ bare'.padStart(7),
      `p50 @${options.rate}/s`.padStart(12),
      `p99 @${options.rate}/s`.padStart(12),
      'p99 ÷ bare'.padStart(11),
      'answered/s'.padStart(11),
      'failed'.padStart(7),
    ];
    print(header.join(' '));
    for (const [name, f] of rows) {
      print(
        [
          name.padEnd(52),
          count(f.maxPerSec).padStart(10),
          ratio(f.maxPerSec / bare.maxPerSec).padStart(7),
          ms(f.p50Ms).padStart(12),
          ms(f.p99Ms).padStart(12),
          (f.p99Ms / bare.p99Ms).toFixed(1).padStart(11),
          f.ratePerSec.toFixed(0).padStart(11),
          count(f.failed).padStart(7),
        ].join(' '),
      );
    }
    for (const failure of load.failures) print(`failed requests: ${failure}`);
    const behind = rows.filter(([, f]) => f.ratePerSec < 0.95 * options.rate).map(([n]) => n);
    if (behind.length > 0)
      print(
        `answered/s below ${options.rate}: ${behind.join('; ')} could not keep up: requests queued for the whole run, and their latencies include the queue`,
      );
    print('');
    print(
      `timeline cases: ${timelineEntries} entries each when the ${options.rate}/s run started, ${Math.min(...rateEnd)}-${Math.max(...rateEnd)} when it ended (its ${count(options.rate * (options.rateDurationSec + 1))} reads, the untimed first second included, spread over ${rateCasesIds.length} cases); ${count(appended)} access entries appended by the timeline runs, warm-up included, in ${count(commits)} sequencer commits (${(appended / commits).toFixed(1)} a commit)`,
    );
    print(`CPU a request at ${options.rate}/s (CPU over the run / requests answered):`);
    for (const line of cpuAtRate) print(`  ${line}`);
    const met = timeline.p99Ms <= TIMELINE_P99_TARGET_MS;
    print(
      `timeline p99 at ${options.rate} req/s ≤ ${TIMELINE_P99_TARGET_MS} ms (case with ${timelineEntries} entries): ${met ? 'met' : 'missed'} (${ms(timeline.p99Ms)})${options.rate === FULL.rate ? '' : ` — at ${options.rate}/s, not the target's ${FULL.rate}/s`}`,
    );

    print('');
    print(
      `where a timeline read's time goes: each part alone, one call at a time, ${options.profileSamples} calls, on a ${timelineEntries}-entry case before the load runs`,
    );
    for (const line of profile) print(`  ${line}`);
    print(
      `load     ${loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')} (1, 5, 15 min averages at the end)`,
    );
    // A worker that died mid-run (recorded by startBenchWorkers) fails the run.
    failed.throwIfAborted();
    return figures;
  } finally {
    await stopAll();
  }
}

const BARE_BODY = { hello: 'world' };

/** p50 / p99 of `samples` calls of `fn`, one at a time, and this process's CPU a call. */
async function timed(samples: number, fn: () => Promise<unknown>): Promise<string> {
  const warmup = Math.min(5, samples);
  const cpu = process.cpuUsage();
  const latencies = await sampleLatencies(samples, fn, warmup);
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000 / (samples + warmup);
  return `${`${ms(percentile(latencies, 50))} / ${ms(percentile(latencies, 99))}`.padEnd(22)} ${ms(cpuMs)}`;
}

/**
 * The parts of GET /cases/:id/timeline (api/caseRoutes.ts), each timed alone, one call at a
 * time: what a read costs before any queueing. Calls that append an access entry go round
 * `caseIds`, so each case grows by a few entries; the others read `caseIds[0]`.
 */
async function profileTimeline(deps: {
  app: FastifyInstance;
  client: Client;
  pool: pg.Pool;
  verifyToken: VerifyToken;
  recordAccess: RecordAccess;
  token: string;
  caseIds: readonly string[];
  runs: ReadonlyMap<string, { workflowId: string; runId: string }>;
  samples: number;
  /** Where to write a CPU profile (.cpuprofile) of the whole-route calls, if anywhere. */
  cpuProfile?: string;
}): Promise<string[]> {
  const { app, client, pool, caseIds, samples } = deps;
  const reader = new LogReader(pool);
  const caseId = caseIds[0]!;
  const run = deps.runs.get(caseId)!;
  const handle: WorkflowHandle<typeof jointTransferCase> = client.workflow.getHandle(
    run.workflowId,
    run.runId,
  );
  let turn = 0;
  const nextCase = () => caseIds[turn++ % caseIds.length]!;
  const lines = [`${'part'.padEnd(58)} ${'p50 / p99'.padEnd(22)} CPU a call, this process`];
  const part = async (name: string, fn: () => Promise<unknown>) =>
    lines.push(`${name.padEnd(58)} ${await timed(samples, fn)}`);
  const read = async (id: string) => {
    const response = await app.inject({
      method: 'GET',
      url: `/cases/${id}/timeline?purpose=bench-profile`,
      headers: { authorization: `Bearer ${deps.token}` },
    });
    if (response.statusCode !== 200) throw new Error(`timeline: ${response.statusCode}`);
    return response.body;
  };

  const stored = await entriesOfCase(pool, caseId);
  const body = await read(nextCase());
  const profiler = deps.cpuProfile ? await startCpuProfile() : undefined;
  await part(`whole route, app.inject (no HTTP; ~${Math.round(body.length / 1024)} kB JSON)`, () =>
    read(nextCase()),
  );
  if (profiler && deps.cpuProfile) {
    writeFileSync(deps.cpuProfile, JSON.stringify(await profiler.stop()));
    lines.push(`(CPU profile of the whole-route calls, main thread: ${deps.cpuProfile})`);
  }
  await part('token check (jose EdDSA verify once, then remembered)', () =>
    deps.verifyToken(deps.token),
  );
  await part('access entry: sign + sequencer append + commit', () =>
    deps.recordAccess({
      caseId: nextCase(),
      actor: 'supervisor:bench-profile',
      role: 'supervisor',
      agency: null,
      fields: ['application'],
      purpose: 'bench-profile',
    }),
  );
  await part('case row + secrets + notifications (3 queries)', () =>
    Promise.all([
      pool.query('SELECT * FROM cases WHERE case_id = $1', [caseId]),
      pool.query('SELECT application FROM case_secrets WHERE case_id = $1', [caseId]),
      pool.query('SELECT * FROM notifications WHERE case_id = $1 ORDER BY id', [caseId]),
    ]),
  );
  await part(`entries of the case (${stored.length} rows, zod-parsed)`, () =>
    entriesOfCase(pool, caseId),
  );
  await part('Temporal describe', () => handle.describe());
  await part('Temporal result of the closed case (its close event)', () => handle.result());
  await part('Temporal status query (closed case: replayed on a worker)', () =>
    handle.query(statusQuery),
  );
  await part(`latest checkpoint + ${stored.length} inclusion proofs`, async () => {
    const checkpoint = await reader.latestPublished();
    if (!checkpoint) return;
    const leaves = stored
      .filter((e) => e.entry.index < checkpoint.size)
      .map((e) => ({ index: e.entry.index, leafHash: e.leafHash }));
    await reader.inclusionProofs(leaves, checkpoint);
  });
  // What fastify-type-provider-zod's serializer does with the answer: encode, stringify.
  const answer: unknown = JSON.parse(body);
  await part('response: zod safeEncode + JSON.stringify (the serializer)', () =>
    Promise.resolve(JSON.stringify(z.safeEncode(Timeline, answer as Timeline).data)),
  );
  // Workers polling, timers, the publisher: what this process burns doing nothing.
  const idleCpu = process.cpuUsage();
  const idleStart = performance.now();
  await sleep(2000);
  const idle = process.cpuUsage(idleCpu);
  lines.push(
    `${'idle (workers polling): CPU a second of wall time'.padEnd(58)} ${''.padEnd(22)} ${ms(((idle.user + idle.system) / 1000 / (performance.now() - idleStart)) * 1000)}`,
  );
  return lines;
}

/** Starts the V8 profiler on this thread; `stop` resolves to the profile. */
async function startCpuProfile(): Promise<{ stop: () => Promise<object> }> {
  const session = new Session();
  session.connect();
  const post = (method: string) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, (error, result) => (error ? reject(error) : resolve(result))),
    );
  await post('Profiler.enable');
  await post('Profiler.start');
  return {
    stop: async () => {
      const { profile } = (await post('Profiler.stop')) as { profile: object };
      session.disconnect();
      return profile;
    },
  };
}

/** The sequencer's commits so far: each signs one checkpoint. */
async function commitCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int4 AS n FROM checkpoints');
  return rows[0]!.n;
}

/** The log's size once it has not grown for half a second. */
async function settledLedgerSize(pool: pg.Pool): Promise<number> {
  let size = await ledgerSize(pool);
  for (;;) {
    await sleep(500);
    const now = await ledgerSize(pool);
    if (now === size) return size;
    size = now;
  }
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${address.port}`;
}

/** Runs `fn(0..n-1)` with at most `concurrency` at once; the results in order. */
async function inParallel<T>(
  n: number,
  concurrency: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

/** Drives a case to completion through the API, as its people would. */
class CaseDriver {
  /** Each driven case's workflow run. */
  readonly runs = new Map<string, { workflowId: string; runId: string }>();

  constructor(
    private readonly app: FastifyInstance,
    private readonly client: Client,
    private readonly tokens: { citizen: string; registry: string },
    private readonly runTag: string,
  ) {}

  async drive(i: number): Promise<string> {
    const deadline = Date.now() + CASE_TIMEOUT_MS;
    const submitted = await this.post(
      '/cases',
      this.tokens.citizen,
      201,
      benchApplication(this.runTag, i),
    );
    const { caseId, workflowId, runId } = submitted as {
      caseId: string;
      workflowId: string;
      runId: string;
    };
    const handle: WorkflowHandle<typeof jointTransferCase> = this.client.workflow.getHandle(
      workflowId,
      runId,
    );
    await this.waitFor(handle, 'confirmPayment', deadline);
    await this.post(`/cases/${caseId}/payments`, this.tokens.citizen, 200, {
      stepId: 'confirmPayment',
    });
    await this.waitFor(handle, 'review', deadline);
    await this.post(`/cases/${caseId}/decisions`, this.tokens.registry, 200, {
      stepId: 'review',
      outcome: 'approved',
      reason: 'benchmark case: title and duty in order',
    });
    const result: CaseStatus = await handle.result();
    if (result.phase !== 'completed')
      throw new Error(`case ${caseId} ${result.phase}: ${result.reason}`);
    this.runs.set(caseId, { workflowId, runId });
    return caseId;
  }

  private async post(url: string, token: string, status: number, payload: object) {
    const response = await this.app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${token}` },
      payload,
    });
    if (response.statusCode !== status)
      throw new Error(`POST ${url}: ${response.statusCode} ${response.body}`);
    return response.json<unknown>();
  }

  private async waitFor(
    handle: WorkflowHandle<typeof jointTransferCase>,
    stepId: string,
    deadline: number,
  ): Promise<void> {
    for (;;) {
      // A query before the first workflow task has run can fail; the next poll asks again.
      const status = await handle.query(statusQuery).catch(() => undefined);
      if (status?.steps.some((s) => s.stepId === stepId && s.status === 'waiting')) return;
      if (status && status.phase !== 'running')
        throw new Error(`${stepId} never opened: the case is ${status.phase}: ${status.reason}`);
      if (Date.now() > deadline) throw new Error(`${stepId} did not open in ${CASE_TIMEOUT_MS} ms`);
      await sleep(POLL_MS);
    }
  }
}

interface LoadRun {
  job: LoadJob;
  result: LoadResult;
  /** CPU seconds over the run: this process, the Temporal server (if ours), the machine. */
  cpu: CpuSpan;
}

/** Runs load jobs in a child process (bench/apiLoad.ts), one process a job. */
class LoadRunner {
  private readonly runs: LoadRun[] = [];
  private readonly meter: CpuMeter;
  /** What went wrong in runs with failed requests. */
  readonly failures: string[] = [];

  constructor(
    temporalPid: number | undefined,
    private readonly progress: (line: string) => void,
  ) {
    this.meter = new CpuMeter(temporalPid);
  }

  async run(job: LoadJob): Promise<LoadRun> {
    const span = this.meter.start();
    const result = await loadInChild(job, this.progress);
    const run = { job, result, cpu: span.stop(result.cpuSec) };
    if (result.failed > 0)
      this.failures.push(
        `${job.kind} run on ${job.paths[0]}: ${result.failed} of ${result.ok + result.failed} failed (first: ${result.firstFailure})`,
      );
    if (result.ok === 0)
      throw new Error(
        `${job.kind} run on ${job.paths[0]}: ${result.ok} answered, ${result.failed} failed (${result.firstFailure ?? 'no answers'})`,
      );
    this.runs.push(run);
    return run;
  }
}

/** One load job in a child node process; its JSON result. */
function loadInChild(job: LoadJob, progress: (line: string) => void): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    // `--import tsx` resolves from the repository root, where tsx is installed.
    const child = spawn(process.execPath, ['--import', 'tsx', apiLoadPath, JSON.stringify(job)], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
      for (const line of chunk.split('\n')) if (line.trim()) progress(`  load: ${line}`);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`the load generator exited with ${code}: ${stderr.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as LoadResult);
      } catch {
        reject(new Error(`the load generator printed no result: ${stdout} ${stderr}`));
      }
    });
  });
}

/**
 * CPU seconds over a span: this process; the Temporal server's process tree (when ours); this
 * process's other descendants (the embedded PostgreSQL's server and backends); the machine.
 */
class CpuMeter {
  constructor(private readonly serverPid: number | undefined) {}

  start(): { stop: (loadSec: number) => CpuSpan } {
    const own = process.cpuUsage();
    const before = this.children();
    const machine = machineCpu();
    return {
      stop: (loadSec) => {
        const used = process.cpuUsage(own);
        const after = this.children();
        const machineSpan = machineCpuSince(machine);
        const minus = (a: number | undefined, b: number | undefined) =>
          a === undefined || b === undefined ? undefined : a - b;
        return new CpuSpan(
          (used.user + used.system) / 1e6,
          loadSec,
          minus(after?.server, before?.server),
          minus(after?.others, before?.others),
          machineSpan?.busySec,
          machineSpan?.stealSec,
        );
      },
    };
  }

  /** CPU seconds of the Temporal server's tree and of this process's other descendants. */
  private children(): { server: number; others: number } | undefined {
    const table = processTable();
    if (!table) return undefined;
    const kids = new Map<number, number[]>();
    for (const [pid, { ppid }] of table) kids.set(ppid, [...(kids.get(ppid) ?? []), pid]);
    const tree = (root: number): number => {
      let sum = table.get(root)?.cpuSec ?? 0;
      for (const kid of kids.get(root) ?? []) sum += tree(kid);
      return sum;
    };
    const server = this.serverPid === undefined ? 0 : tree(this.serverPid);
    const all = tree(process.pid) - (table.get(process.pid)?.cpuSec ?? 0);
    return { server, others: all - server };
  }
}

class CpuSpan {
  constructor(
    readonly ownSec: number,
    readonly loadSec: number,
    readonly serverSec: number | undefined,
    readonly childrenSec: number | undefined,
    readonly machineSec: number | undefined,
    /** What the hypervisor took from the machine over the span; not in `machineSec`. */
    readonly stealSec: number | undefined,
  ) {}

  describe(requests: number): string {
    const per = (sec: number) => ms((sec * 1000) / requests);
    const parts = [`API process (API, workers, sequencer) ${per(this.ownSec)}`];
    if (this.serverSec !== undefined && this.serverSec > 0)
      parts.push(`Temporal server ${per(this.serverSec)}`);
    if (this.childrenSec !== undefined && this.childrenSec > 0)
      parts.push(`PostgreSQL ${per(this.childrenSec)}`);
    parts.push(`load generator ${per(this.loadSec)}`);
    if (this.machineSec !== undefined) {
      const ours = this.ownSec + this.loadSec + (this.serverSec ?? 0) + (this.childrenSec ?? 0);
      parts.push(`not this benchmark's ${per(Math.max(0, this.machineSec - ours))}`);
      parts.push(`machine ${per(this.machineSec)} (${availableParallelism()} cores)`);
    }
    if (this.stealSec !== undefined && this.stealSec > 0)
      parts.push(`steal ${per(this.stealSec)} (cores the hypervisor gave another guest)`);
    return parts.join(', ');
  }
}

/** Every process's parent and utime + stime, from /proc (Linux only; undefined elsewhere). */
function processTable(): Map<number, { ppid: number; cpuSec: number }> | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const table = new Map<number, { ppid: number; cpuSec: number }>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(pid), {
        ppid: Number(fields[1]),
        cpuSec: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS,
      });
    } catch {
      // The process ended while the table was read.
    }
  }
  return table;
}

const FLAGS = {
  smoke: { type: 'boolean' },
  duration: { type: 'string' },
  'rate-duration': { type: 'string' },
  rate: { type: 'string' },
  connections: { type: 'string' },
  warmup: { type: 'string' },
  entries: { type: 'string' },
  'rate-cases': { type: 'string' },
  'max-cases': { type: 'string' },
  concurrency: { type: 'string' },
  'profile-samples': { type: 'string' },
  'cpu-profile': { type: 'string' },
} as const;

/** Flags win over BENCH_<FLAG> environment variables (e.g. BENCH_RATE), which win over the defaults. */
export function optionsFromArgs(args: string[], env = process.env): ApiBenchOptions {
  const { values } = parseArgs({ args, options: FLAGS, strict: true });
  const fromEnv = (flag: string) => env[`BENCH_${flag.toUpperCase().replaceAll('-', '_')}`];
  const number = (flag: keyof typeof FLAGS, fallback: number, min = 1): number => {
    const text = (values[flag] as string | undefined) ?? fromEnv(flag);
    if (text === undefined) return fallback;
    const n = Number(text.replaceAll('_', ''));
    if (!Number.isInteger(n) || n < min)
      throw new RangeError(`--${flag} must be an integer >= ${min}, got ${text}`);
    return n;
  };
  const base = values.smoke || fromEnv('smoke') === '1' ? SMOKE : FULL;
  return {
    ...base,
    durationSec: number('duration', base.durationSec),
    rateDurationSec: number('rate-duration', base.rateDurationSec),
    rate: number('rate', base.rate),
    connections: number('connections', base.connections),
    warmupSec: number('warmup', base.warmupSec, 0),
    entries: number('entries', base.entries),
    rateCases: number('rate-cases', base.rateCases),
    maxCases: number('max-cases', base.maxCases),
    concurrency: number('concurrency', base.concurrency),
    profileSamples: number('profile-samples', base.profileSamples),
    ...(values['cpu-profile'] ? { cpuProfile: values['cpu-profile'] } : {}),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const options = optionsFromArgs(process.argv.slice(2));
  console.log(`OneWindow API benchmark ${JSON.stringify(options)}`);
  await runApiBench(options, console.log, (line) => console.error(line));
}
