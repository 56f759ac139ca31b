// The cases benchmark (`npm run bench:cases`, `--smoke` for a few cases). Whole cases end to
// end, every agency automated, beside a baseline measured in the same run on the same server:
//   1. baseline: a bare Temporal workflow with the same 26 activities (no-ops) and the same
//      two waits for an outside Update (bench/baselineWorkflows.ts) — no signing, no ledger,
//      no payload codec;
//   2. cases: jointTransferCase on the real pieces — a Temporal dev server, PostgreSQL with
//      the ledger, the orchestrator's and all six agencies' workers in this process, the API
//      (app.inject, no port). A driver per case submits through POST /cases, then plays the
//      tax bureau (pays the assessed duty) and the registry officer (approves) with decisions
//      signed by each agency's key, as soon as the workflow's status query shows the step open.
// The two run interleaved, baseline, cases, cases, baseline (`--rounds` pairs, `interleaved`),
// after a warm-up of each. Each prints cases/s (completed cases / wall time summed over its
// runs, `--concurrency` cases in flight) and the p50/p95 of a case's latency (submission →
// workflow completed); then the ratio, and a rough profile of where a case's time goes.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { buildApp, SCRIPTED_CALLER_LIMITS } from '../api/app.ts';
import { AGENCIES, UTILITIES, type Agency } from '../domain/agencyIds.ts';
import type { CaseStatus } from '../domain/caseStatus.ts';
import { STATEMENT_TYPE, type Statement } from '../domain/statement.ts';
import {
  bundleWorkflows,
  installRuntime,
  replayWorkflows,
  sandboxOptions,
} from '../cli/workers.ts';
import { toBase64 } from '../ledger/bytes.ts';
import { generateSigningKey, type SigningKey } from '../ledger/keys.ts';
import { ledgerAccessRecorder } from '../api/access.ts';
import { issueToken, tokenVerifier } from '../api/auth.ts';
import { processEd25519, processEd25519Name } from '../ledger/pg/sodiumEd25519.ts';
import { ledgerSize } from '../ledger/pg/reader.ts';
import { signStatement, statementMessage } from '../ledger/statement.ts';
import { signDecision } from '../activities/sign.ts';
import { fromBase64 } from '../ledger/bytes.ts';
import { statusQuery } from '../workflows/messages.ts';
import type { jointTransferCase } from '../workflows/jointTransferCase.ts';
import {
  BASELINE_ACTIVITY_COUNT,
  BASELINE_TASK_QUEUE,
  baselineAgencyQueue,
  baselineDecideUpdate,
  baselineStatusQuery,
  type BaselineActivities,
  type baselineCase,
} from './baselineWorkflows.ts';
import {
  CLOCK_TICKS,
  count,
  describeMachine,
  machineCpu,
  machineCpuSince,
  ms,
  percentile,
  ratio,
  settle,
  startBenchServers,
  startBenchWorkers,
  unlessAborted,
  type BenchPart,
  type MachineCpu,
} from './support.ts';

export interface CasesBenchOptions {
  /** Timed cases per phase (baseline, real cases). */
  cases: number;
  /** Timed runs per phase, interleaved baseline, cases, cases, baseline, … (`interleaved`); even. */
  rounds: number;
  /** Cases in flight at once (closed loop: a driver starts its next case when one completes). */
  concurrency: number;
  /** Untimed cases per phase first (bundles, caches, connections warm up). */
  warmup: number;
  /** How often a driver asks the workflow whether its step is open. */
  pollMs: number;
  /** How long a step of a case may take to open, from the case's submission. */
  caseTimeoutMs: number;
  /** Workflow stack traces in both bundles (`--stack-traces`; off, as the workers run by default). */
  stackTraces?: boolean;
  /** A running Temporal server to use; else a dev server is started for the run. */
  temporalAddress?: string;
  /** A PostgreSQL server to make a scratch database on; else DATABASE_URL, else an embedded one. */
  adminUrl?: string;
}

// 128 in flight and runs of 300: at 64 in flight neither phase kept the two cores busy
// (a case's phase used 1.56 of them, the baseline's 1.64, 2026-12-05 01:49), so the rates
// said more about the drivers' pace than about what the system can carry.
export const FULL: CasesBenchOptions = {
  cases: 600,
  rounds: 2,
  concurrency: 128,
  warmup: 20,
  pollMs: 100,
  caseTimeoutMs: 180_000,
};
export const SMOKE: CasesBenchOptions = {
  cases: 10,
  rounds: 2,
  concurrency: 10,
  warmup: 2,
  pollMs: 100,
  // Well inside the integration tests' 120 s (vitest.config.ts), so a stuck case fails the
  // run, and its cleanup runs, before the test is abandoned.
  caseTimeoutMs: 45_000,
};

export interface CasesBenchFigures {
  casesPerSec: number;
  p50Ms: number;
  p95Ms: number;
  baselinePerSec: number;
  baselineP50Ms: number;
  baselineP95Ms: number;
  /** casesPerSec / baselinePerSec */
  ratio: number;
}

/** Signed statements of a clean case with three utilities: 10 agency steps, payment, review, close. */
const ENTRIES_PER_CASE = 13;
const LOG_ORIGIN = 'bench.onewindow/cases';
const baselineWorkflowsPath = fileURLToPath(new URL('./baselineWorkflows.ts', import.meta.url));

/** Runs the baseline and the real cases, interleaved, on one Temporal server; prints every figure. */
export async function runCasesBench(
  options: CasesBenchOptions,
  print: (line: string) => void = console.log,
  progress: (line: string) => void = () => undefined,
): Promise<CasesBenchFigures> {
  for (const line of describeMachine()) print(line);
  installRuntime('WARN');
  const stack: BenchPart[] = [];
  const stopAll = async () => {
    for (const part of stack.reverse())
      await part.stop().catch((error: unknown) => progress(`stopping: ${String(error)}`));
  };
  try {
    const { server, address, workerPool, apiPool, keys } = await startBenchServers(
      options,
      stack,
      print,
      progress,
    );
    progress('bundling workflows…');
    const [workflowBundle, baselineBundle] = await Promise.all([
      bundleWorkflows({ stackTraces: options.stackTraces ?? false }),
      bundleWorkflowCode({
        workflowsPath: baselineWorkflowsPath,
        logger: quietLogger,
        ...sandboxOptions(options.stackTraces ?? false),
      }),
    ]);
    const { client, connection, orchestrator, payloadKey, failed } = await startBenchWorkers(
      {
        address,
        workerPool,
        keys,
        log: { origin: LOG_ORIGIN, key: generateSigningKey(LOG_ORIGIN) },
        workflowBundle,
        extra: async (nativeConnection) => [
          await Worker.create({
            connection: nativeConnection,
            taskQueue: BASELINE_TASK_QUEUE,
            workflowBundle: baselineBundle,
            activities: baselineActivities(),
          }),
          // One worker per agency, as the real agencies have.
          ...(await Promise.all(
            AGENCIES.map((agency) =>
              Worker.create({
                connection: nativeConnection,
                taskQueue: baselineAgencyQueue(agency),
                activities: { agencyStep: () => Promise.resolve() },
              }),
            ),
          )),
        ],
      },
      stack,
    );
    const bareClient = new Client({ connection });
    // Deadlines in law time (no timeScale): nothing falls due during the run; checked below.
    const tokenKey = generateSigningKey('tokens.bench');
    const app = await buildApp({
      temporal: client,
      pool: apiPool,
      // One bench citizen submits every case.
      callerLimits: SCRIPTED_CALLER_LIMITS,
      verifyToken: tokenVerifier(tokenKey.publicKey),
      recordAccess: ledgerAccessRecorder({
        key: keys.orchestrator!,
        append: (signed) => orchestrator.sequencer.append(signed),
        pool: apiPool,
      }),
    });
    const hour = 3600;
    const tokens: BenchTokens = {
      citizen: await issueToken(tokenKey.seed, { role: 'citizen', sub: 'bench-citizen' }, hour),
      tax: await issueToken(
        tokenKey.seed,
        { role: 'officer', sub: 'bench-tax', agency: 'tax' },
        hour,
      ),
      registry: await issueToken(
        tokenKey.seed,
        { role: 'officer', sub: 'bench-registry', agency: 'registry' },
        hour,
      ),
    };
    stack.push({ stop: () => app.close() });

    // The sequencer's append latency, as the orchestrator's append activity sees it.
    const appendTimes: number[] = [];
    let timingAppends = false;
    const append = orchestrator.sequencer.append.bind(orchestrator.sequencer);
    orchestrator.sequencer.append = (input) => {
      const start = performance.now();
      const appended = append(input);
      if (timingAppends)
        void appended.then(
          () => appendTimes.push(performance.now() - start),
          () => undefined,
        );
      return appended;
    };

    const runTag = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`.toUpperCase();
    const waits: Waits = { pollMs: options.pollMs, timeoutMs: options.caseTimeoutMs, failed };
    const baselineDriver = new BaselineDriver(bareClient, runTag, waits);
    const caseDriver = new CaseDriver(app, client, apiPool, keys, tokens, runTag, waits);
    const temporalPid = server?.process.pid;

    print('');
    print(
      `1. baseline: bare workflow, ${BASELINE_ACTIVITY_COUNT} no-op activities, 2 Update waits`,
    );
    print(`2. cases: jointTransferCase, 3 utilities, no arrears, every agency automated`);
    const plan = interleaved(options.cases, options.rounds);
    print(
      `${count(options.cases)} timed cases each, ${options.concurrency} in flight, in ${plan.length} runs of ${plan.map((run) => `${run.phase === 'baseline' ? '1' : '2'}×${run.cases}`).join(' ')} after ${options.warmup} warm-up cases each; workflow stack traces ${options.stackTraces ? 'on' : 'off'} in both`,
    );
    const sizeBefore = await ledgerSize(workerPool);
    await runMany(baselineDriver, options.warmup, 0, options, failed, progress);
    await runMany(caseDriver, options.warmup, 0, options, failed, progress);
    const baseline = new Phase();
    const cases = new Phase();
    const next = { baseline: options.warmup, cases: options.warmup };
    for (const run of plan) {
      const isCase = run.phase === 'cases';
      await settle(print);
      timingAppends = isCase;
      const timed = await runTimed(
        isCase ? caseDriver : baselineDriver,
        run.cases,
        next[run.phase],
        options,
        temporalPid,
        failed,
        progress,
      );
      timingAppends = false;
      next[run.phase] += run.cases;
      (isCase ? cases : baseline).add(timed);
      print(
        `  ${isCase ? '2. cases   ' : '1. baseline'} ${count(run.cases)} cases  ${(run.cases / timed.wallSec).toFixed(1)}/s  (${count(timed.wallSec)} s)`,
      );
    }
    for (const [label, phase] of [
      ['1. baseline', baseline],
      ['2. cases   ', cases],
    ] as const)
      print(
        `${label} cases/s ${phase.perSec.toFixed(1)}  latency p50 ${ms(percentile(phase.latencies, 50))}  p95 ${ms(percentile(phase.latencies, 95))}  (${count(phase.wallSec)} s)`,
      );
    // A worker that failed after the last case completed still fails the run.
    failed.throwIfAborted();
    const entries = (await ledgerSize(workerPool)) - sizeBefore;
    const p50 = percentile(cases.latencies, 50);
    const p95 = percentile(cases.latencies, 95);
    const expected = ENTRIES_PER_CASE * (options.warmup + options.cases);
    if (entries !== expected)
      throw new Error(`expected ${expected} ledger entries from the run's cases, found ${entries}`);
    print(
      `  every case completed, none overdue; ${count(entries)} signed ledger entries (${ENTRIES_PER_CASE} a case, warm-up included)`,
    );

    // Every case of the run must replay: its local activities and its search-attribute loop
    // make a case's commands depend on how its activations fell, and on a loaded machine
    // they fall in ways a test's few cases never show.
    const replayed = await replayWorkflows(
      client,
      caseDriver.completed,
      workflowBundle,
      payloadKey,
    );
    print(`  replayed all ${count(replayed)} histories of this phase: no nondeterminism`);
    // Read after the timed runs, from the server: a failed or timed-out workflow task is
    // retried as a full replay of the history on a worker, CPU inside the timed runs that
    // the rest of the history does not show.
    const [caseTasks, baselineTasks] = await Promise.all([
      workflowTaskTrouble(client, caseDriver.completed),
      workflowTaskTrouble(bareClient, baselineDriver.completed),
    ]);
    print(
      `  workflow tasks failed / timed out: cases ${caseTasks.failed} / ${caseTasks.timedOut} in ${count(caseTasks.histories)} histories, baseline ${baselineTasks.failed} / ${baselineTasks.timedOut} in ${count(baselineTasks.histories)} (warm-up included; each one retried as a full replay)${caseTasks.kinds || baselineTasks.kinds ? `; cases: ${caseTasks.kinds || 'none'}; baseline: ${baselineTasks.kinds || 'none'}` : ''}`,
    );

    const figures: CasesBenchFigures = {
      casesPerSec: cases.perSec,
      p50Ms: p50,
      p95Ms: p95,
      baselinePerSec: baseline.perSec,
      baselineP50Ms: percentile(baseline.latencies, 50),
      baselineP95Ms: percentile(baseline.latencies, 95),
      ratio: cases.perSec / baseline.perSec,
    };
    print('');
    print(
      `cases/s ${figures.casesPerSec.toFixed(1)}  | baseline ${figures.baselinePerSec.toFixed(1)}/s | ratio ${ratio(figures.ratio)}   targets >= 10 cases/s (${figures.casesPerSec >= 10 ? 'met' : 'missed'}), ratio >= 0.7 (${figures.ratio >= 0.7 ? 'met' : 'missed'})`,
    );

    print('');
    print('where the time goes (rough)');
    const [caseHistory, baselineHistory] = await Promise.all([
      historyShape(client, caseDriver.sampleWorkflow!),
      historyShape(bareClient, baselineDriver.sampleWorkflow!),
    ]);
    print(`  history of one case      ${caseHistory}`);
    print(`  history of one baseline  ${baselineHistory}`);
    print(
      `  status queries a case    ${(cases.queries / options.cases).toFixed(1)} (baseline ${(baseline.queries / options.cases).toFixed(1)}), one every ${options.pollMs} ms until a step opens`,
    );
    print(`  CPU a case               ${cases.cpu.describe(options.cases)}`);
    print(`  CPU a baseline case      ${baseline.cpu.describe(options.cases)}`);
    if (appendTimes.length > 0)
      print(
        `  sequencer append         p50 ${ms(percentile(appendTimes, 50))}  p95 ${ms(percentile(appendTimes, 95))} (${count(appendTimes.length)} appends, in the orchestrator's activity)`,
      );
    const crypto = signatureCosts(keys.tax!);
    print(
      `  Ed25519, one thread      sign ${crypto.signUs.toFixed(0)} µs (${processEd25519Name} through useEd25519, as the agencies sign), verify ${crypto.verifyUs.toFixed(0)} µs: ${ENTRIES_PER_CASE} of each a case ≈ ${ms((ENTRIES_PER_CASE * (crypto.signUs + crypto.verifyUs)) / 1000)} CPU`,
    );
    return figures;
  } finally {
    await stopAll();
  }
}

const quietLogger = {
  trace() {},
  debug() {},
  info() {},
  warn: console.warn,
  error: console.error,
  log() {},
};

function baselineActivities(): BaselineActivities {
  return {
    intake: () => Promise.resolve(),
    agencyStep: () => Promise.resolve(),
    appendToLedger: () => Promise.resolve(),
    signRecord: () => Promise.resolve(),
    notify: () => Promise.resolve(),
  };
}

interface Driver {
  /** Drives case `i` to completion and returns its latency in ms. */
  drive(i: number): Promise<number>;
  queries: number;
}

/**
 * The timed runs, in the order baseline, cases, cases, baseline, … (ABBA, `rounds` times
 * each): a machine whose speed drifts, or a server that slows as its store fills, weighs on
 * both phases alike, where one phase after the other put every drift on one side of the
 * ratio. Each run is a closed loop that drains at its end, so both pay the same number of
 * drains. Requires an even `rounds`: an odd one ends on an unmatched pair (B C C B B C puts
 * the cases later on average), which no order of whole pairs can balance.
 */
export function interleaved(
  cases: number,
  rounds: number,
): { phase: 'baseline' | 'cases'; cases: number }[] {
  if (rounds % 2 !== 0)
    throw new RangeError(`rounds must be even (ABBA pairs balance only in twos), got ${rounds}`);
  const size = (round: number) => Math.floor(cases / rounds) + (round < cases % rounds ? 1 : 0);
  return Array.from({ length: rounds }, (_, round) => {
    const pair = [
      { phase: 'baseline' as const, cases: size(round) },
      { phase: 'cases' as const, cases: size(round) },
    ];
    return round % 2 === 0 ? pair : pair.reverse();
  })
    .flat()
    .filter((run) => run.cases > 0);
}

/**
 * Drives cases offset … offset + n - 1, `options.concurrency` at once; throws if any failed,
 * and as soon as `failed` aborts (a worker died: the cases in flight would only wait).
 */
async function runMany(
  driver: Driver,
  n: number,
  offset: number,
  options: CasesBenchOptions,
  failed: AbortSignal,
  progress: (line: string) => void,
): Promise<number[]> {
  const latencies: number[] = [];
  const failures: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(options.concurrency, n) }, async () => {
      while (next < n && !failed.aborted) {
        const i = offset + next++;
        try {
          latencies.push(await unlessAborted(driver.drive(i), failed));
        } catch (error) {
          failures.push(`case ${i}: ${(error as Error).message}`);
        }
        if ((latencies.length + failures.length) % 100 === 0)
          progress(`  ${latencies.length + failures.length} / ${n}`);
      }
    }),
  );
  failed.throwIfAborted();
  if (failures.length > 0)
    throw new Error(`${failures.length} of ${n} cases failed; first: ${failures[0]}`);
  return latencies;
}

interface Timed {
  latencies: number[];
  queries: number;
  cpu: CpuSplit;
  wallSec: number;
}

/** `runMany`, timed: its wall time, its CPU (this process, the server, the machine), its queries. */
async function runTimed(
  driver: Driver,
  n: number,
  offset: number,
  options: CasesBenchOptions,
  temporalPid: number | undefined,
  failed: AbortSignal,
  progress: (line: string) => void,
): Promise<Timed> {
  const queriesBefore = driver.queries;
  const cpu = CpuSplit.start(temporalPid);
  const start = performance.now();
  const latencies = await runMany(driver, n, offset, options, failed, progress);
  const wallSec = (performance.now() - start) / 1000;
  cpu.stop();
  return { latencies, queries: driver.queries - queriesBefore, cpu, wallSec };
}

/** One phase's timed runs, summed. */
class Phase {
  latencies: number[] = [];
  queries = 0;
  wallSec = 0;
  readonly cpu = CpuSplit.empty();

  add(timed: Timed): void {
    this.latencies.push(...timed.latencies);
    this.queries += timed.queries;
    this.wallSec += timed.wallSec;
    this.cpu.add(timed.cpu);
  }

  /** Completed cases / wall time, over all of the phase's runs. */
  get perSec(): number {
    return this.latencies.length / this.wallSec;
  }
}

/** How a driver waits: its poll interval, a case's timeout, and the run's failure (a worker died). */
interface Waits {
  pollMs: number;
  timeoutMs: number;
  failed: AbortSignal;
}

/**
 * Polls `query` every `waits.pollMs` until `open` holds; rejects on `closed`, after the case
 * timeout (`deadline`), or once the run has failed (so no poll outlives the run's cleanup).
 */
async function pollUntil<T>(
  query: () => Promise<T>,
  open: (status: T) => boolean,
  closed: (status: T) => string | undefined,
  waits: Waits,
  counter: { queries: number },
  what: string,
  deadline: number,
): Promise<T> {
  for (;;) {
    waits.failed.throwIfAborted();
    counter.queries++;
    // A query before the first workflow task has run can fail; the next poll asks again.
    const status = await query().catch(() => undefined);
    if (status !== undefined) {
      if (open(status)) return status;
      const why = closed(status);
      if (why) throw new Error(`${what} never opened: ${why}`);
    }
    if (Date.now() > deadline) throw new Error(`${what} did not open in ${waits.timeoutMs} ms`);
    await sleep(waits.pollMs);
  }
}

class BaselineDriver implements Driver {
  queries = 0;
  sampleWorkflow: string | undefined;
  /** Every baseline case that completed, for counting its failed workflow tasks. */
  readonly completed: string[] = [];

  constructor(
    private readonly client: Client,
    private readonly runTag: string,
    private readonly waits: Waits,
  ) {}

  async drive(i: number): Promise<number> {
    const start = performance.now();
    const deadline = Date.now() + this.waits.timeoutMs;
    const workflowId = `bench-baseline-${this.runTag}-${i}`;
    const handle = await this.client.workflow.start<typeof baselineCase>('baselineCase', {
      taskQueue: BASELINE_TASK_QUEUE,
      workflowId,
      args: [workflowId],
    });
    for (const stepId of ['confirmPayment', 'review']) {
      await pollUntil(
        () => handle.query(baselineStatusQuery),
        (s) => s.waiting.includes(stepId),
        (s) => (s.done ? 'the case is done' : undefined),
        this.waits,
        this,
        stepId,
        deadline,
      );
      await handle.executeUpdate(baselineDecideUpdate, { args: [stepId] });
    }
    const result = await handle.result();
    if (result.activities !== BASELINE_ACTIVITY_COUNT)
      throw new Error(`baseline ran ${result.activities} activities`);
    this.sampleWorkflow = workflowId;
    this.completed.push(workflowId);
    return performance.now() - start;
  }
}

class CaseDriver implements Driver {
  queries = 0;
  sampleWorkflow: string | undefined;
  /** Every case that completed, for the replay check. */
  readonly completed: string[] = [];

  constructor(
    private readonly app: FastifyInstance,
    private readonly client: Client,
    private readonly pool: pg.Pool,
    private readonly keys: Record<string, SigningKey>,
    private readonly tokens: BenchTokens,
    private readonly runTag: string,
    private readonly waits: Waits,
  ) {}

  async drive(i: number): Promise<number> {
    const start = performance.now();
    const deadline = Date.now() + this.waits.timeoutMs;
    const submitted = await this.app.inject({
      method: 'POST',
      url: '/cases',
      headers: { authorization: `Bearer ${this.tokens.citizen}` },
      payload: benchApplication(this.runTag, i),
    });
    if (submitted.statusCode !== 201)
      throw new Error(`submission refused: ${submitted.statusCode} ${submitted.body}`);
    const { caseId, workflowId, runId } = submitted.json<{
      caseId: string;
      workflowId: string;
      runId: string;
    }>();
    const handle: WorkflowHandle<typeof jointTransferCase> = this.client.workflow.getHandle(
      workflowId,
      runId,
    );
    const waitFor = (stepId: string) =>
      pollUntil(
        () => handle.query(statusQuery),
        (s) => s.steps.some((step) => step.stepId === stepId && step.status === 'waiting'),
        (s) => (s.phase === 'running' ? undefined : `the case is ${s.phase}: ${s.reason}`),
        this.waits,
        this,
        stepId,
        deadline,
      );

    // The tax bureau: the citizen pays the duty the open step asks for (the ledger holds no
    // amounts), and the bureau confirms it.
    const open = await waitFor('confirmPayment');
    const due = open.steps.find((s) => s.stepId === 'confirmPayment')!.amountDueCents;
    if (!(Number(due) > 0)) throw new Error(`case ${caseId}: no duty due (${due})`);
    await this.decide(caseId, 'tax', 'confirmPayment', 'paid');
    // The registry officer approves.
    await waitFor('review');
    await this.decide(caseId, 'registry', 'review', 'approved');
    const result: CaseStatus = await handle.result();
    if (result.phase !== 'completed')
      throw new Error(`case ${caseId} ${result.phase}: ${result.reason}`);
    if (result.steps.some((step) => step.overdue))
      throw new Error(`case ${caseId} went overdue: a deadline fell due in the run`);
    this.sampleWorkflow = workflowId;
    this.completed.push(workflowId);
    return performance.now() - start;
  }

  /** The agency's own system signs the decision (facts: the deciding role) and its opening. */
  private async decide(caseId: string, agency: Agency, stepId: string, outcome: string) {
    const { signed, opening } = signDecision({
      key: this.keys[agency]!,
      agency,
      caseId,
      stepId,
      outcome,
      decidedBy: 'system',
    });
    const response = await this.app.inject({
      method: 'POST',
      url: `/cases/${caseId}/decisions`,
      // The agency's own system, signed in as the agency: it sends decisions it signed itself.
      headers: { authorization: `Bearer ${this.tokens[agency as 'tax' | 'registry']}` },
      payload: { stepId, signed, opening },
    });
    if (response.statusCode !== 200)
      throw new Error(`${stepId} decision refused: ${response.statusCode} ${response.body}`);
  }
}

/** Bearer tokens of the bench's callers: the applicant and the two deciding agencies' systems. */
interface BenchTokens {
  citizen: string;
  tax: string;
  registry: string;
}

/** A clean sale of a unit no other case uses (the shape of test/integration/stack.ts's sample). */
export function benchApplication(runTag: string, i: number) {
  return {
    unitId: `BENCH-${runTag}-${i}`,
    address: `${10 + (i % 90)} Harbour Lane, Apt ${i}B`,
    priceCents: 42_500_000,
    areaSqm: 84.5,
    contractFilingNumber: `HF-${runTag}-${i}`,
    buyer: { name: 'Mina Park', idNumber: 'B1234567' },
    seller: { name: 'Jon Lee', idNumber: 'S7654321' },
    utilities: [...UTILITIES],
    consent: true,
  };
}

/**
 * Events, workflow tasks, activities, timers and search-attribute upserts in one history, and
 * the mean waits between them: task scheduled → picked up by a worker (the server's and the
 * poll's round trip), a workflow task's run on the worker, an activity's run.
 */
async function historyShape(client: Client, workflowId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  type Event = (typeof events)[number];
  const n = (has: (e: Event) => unknown) => events.filter(has).length;
  const at = (e: Event | undefined) =>
    Number(e?.eventTime?.seconds ?? 0) * 1000 + (e?.eventTime?.nanos ?? 0) / 1e6;
  const byId = new Map(events.map((e) => [Number(e.eventId), e]));
  const mean = (gaps: number[]) =>
    ms(gaps.length === 0 ? 0 : gaps.reduce((a, b) => a + b, 0) / gaps.length);
  const gaps = (pick: (e: Event) => { from: unknown } | null | undefined) =>
    events.flatMap((e) => {
      const from = pick(e)?.from;
      return from === undefined || from === null ? [] : [at(e) - at(byId.get(Number(from)))];
    });
  const wftDispatch = gaps((e) =>
    e.workflowTaskStartedEventAttributes ? { from: Number(e.eventId) - 1 } : null,
  );
  const wftRun = gaps((e) =>
    e.workflowTaskCompletedEventAttributes
      ? { from: e.workflowTaskCompletedEventAttributes.startedEventId }
      : null,
  );
  const activityDispatch = gaps((e) =>
    e.activityTaskStartedEventAttributes
      ? { from: e.activityTaskStartedEventAttributes.scheduledEventId }
      : null,
  );
  const activityRun = gaps((e) =>
    e.activityTaskCompletedEventAttributes
      ? { from: e.activityTaskCompletedEventAttributes.startedEventId }
      : null,
  );
  const failedTasks = n((e) => e.workflowTaskFailedEventAttributes);
  const timedOutTasks = n((e) => e.workflowTaskTimedOutEventAttributes);
  return [
    `${events.length} events over ${ms(at(events.at(-1)) - at(events[0]))}`,
    // Started, not completed (README figures before 2026-12-05 15:30 counted completed ones):
    // a failed or timed-out task ran (a full replay) too.
    `${n((e) => e.workflowTaskStartedEventAttributes)} workflow tasks (dispatch ${mean(wftDispatch)}, run ${mean(wftRun)}${failedTasks + timedOutTasks > 0 ? `; ${failedTasks} failed, ${timedOutTasks} timed out` : ''})`,
    `${n((e) => e.activityTaskScheduledEventAttributes)} activities (dispatch ${mean(activityDispatch)}, run ${mean(activityRun)})`,
    `${n((e) => e.timerStartedEventAttributes)} timers`,
    `${n((e) => e.upsertWorkflowSearchAttributesEventAttributes)} search-attribute upserts`,
    `${n((e) => e.workflowExecutionUpdateAcceptedEventAttributes)} updates`,
  ].join(', ');
}

/** temporal.api.enums.v1.TimeoutType, by number. */
const TIMEOUT_KINDS: Record<number, string> = { 1: 'start-to-close', 2: 'schedule-to-start' };

/**
 * Workflow tasks that failed or timed out in the histories of `workflowIds`, fetched from the
 * server 16 at a time (untimed; after the runs).
 */
async function workflowTaskTrouble(
  client: Client,
  workflowIds: readonly string[],
): Promise<{ histories: number; failed: number; timedOut: number; kinds: string }> {
  let failed = 0;
  let timedOut = 0;
  // Which timeout: a sticky queue's schedule-to-start (the worker that holds the run did not
  // poll in time, so another replays it) or a start-to-close (a task took too long).
  const byKind = new Map<string, number>();
  const tally = (kind: string) => byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  for (let i = 0; i < workflowIds.length; i += 16) {
    const histories = await Promise.all(
      workflowIds.slice(i, i + 16).map((id) => client.workflow.getHandle(id).fetchHistory()),
    );
    for (const event of histories.flatMap((h) => h.events ?? [])) {
      const failure = event.workflowTaskFailedEventAttributes;
      if (failure) {
        failed++;
        tally(`failed: ${String(failure.cause)}`);
      }
      const timeout = event.workflowTaskTimedOutEventAttributes;
      if (timeout) {
        timedOut++;
        tally(
          `timed out: ${TIMEOUT_KINDS[Number(timeout.timeoutType)] ?? String(timeout.timeoutType)}`,
        );
      }
    }
  }
  const kinds = [...byKind].map(([kind, n]) => `${n} ${kind}`).join(', ');
  return { histories: workflowIds.length, failed, timedOut, kinds };
}

/** CPU seconds used over a span: this process, the Temporal server's process, the whole machine. */
class CpuSplit {
  private own = process.cpuUsage();
  private server: number | undefined;
  private machine: MachineCpu | undefined;
  ownSec = 0;
  serverSec: number | undefined;
  machineSec: number | undefined;
  /** What the hypervisor took from the machine over the span (Linux only). */
  stealSec: number | undefined;

  private constructor(private readonly serverPid: number | undefined) {
    this.server = serverPid === undefined ? undefined : processCpuSec(serverPid);
    this.machine = machineCpu();
  }

  static start(serverPid: number | undefined): CpuSplit {
    return new CpuSplit(serverPid);
  }

  /** Zero seconds, to `add` spans to. */
  static empty(): CpuSplit {
    const sum = new CpuSplit(undefined);
    sum.serverSec = 0;
    sum.machineSec = 0;
    sum.stealSec = 0;
    return sum;
  }

  /** Adds a stopped span's seconds; a part either lacks stays unknown in the sum. */
  add(span: CpuSplit): void {
    const plus = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? undefined : a + b;
    this.ownSec += span.ownSec;
    this.serverSec = plus(this.serverSec, span.serverSec);
    this.machineSec = plus(this.machineSec, span.machineSec);
    this.stealSec = plus(this.stealSec, span.stealSec);
  }

  stop(): void {
    const own = process.cpuUsage(this.own);
    this.ownSec = (own.user + own.system) / 1e6;
    const server = this.serverPid === undefined ? undefined : processCpuSec(this.serverPid);
    if (server !== undefined && this.server !== undefined) this.serverSec = server - this.server;
    const machine = machineCpuSince(this.machine);
    if (machine !== undefined) {
      this.machineSec = machine.busySec;
      this.stealSec = machine.stealSec;
    }
  }

  describe(cases: number): string {
    const per = (sec: number) => ms((sec * 1000) / cases);
    const parts = [`this process (API, workers, sequencer, drivers) ${per(this.ownSec)}`];
    if (this.serverSec !== undefined) parts.push(`Temporal server ${per(this.serverSec)}`);
    if (this.machineSec !== undefined) {
      const rest = this.machineSec - this.ownSec - (this.serverSec ?? 0);
      parts.push(
        `${this.serverSec === undefined ? 'Temporal, ' : ''}PostgreSQL and the rest of the machine ${per(Math.max(0, rest))}`,
      );
      // Busy cores bound the rate: every core's second spent at this cost a case.
      const ceiling = (availableParallelism() * cases) / this.machineSec;
      parts.push(
        `machine total ${per(this.machineSec)} (at most ${ceiling.toFixed(1)}/s on ${availableParallelism()} cores)`,
      );
    }
    // Not in the machine's total: time its cores were lent to another guest.
    if (this.stealSec !== undefined && this.stealSec > 0)
      parts.push(`steal ${per(this.stealSec)} (cores the hypervisor gave another guest)`);
    return parts.join(', ');
  }
}

/** utime + stime of a process, from /proc (Linux only; undefined elsewhere). */
function processCpuSec(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Microseconds per signStatement and per Node verify of a statement, one thread. */
function signatureCosts(key: SigningKey): { signUs: number; verifyUs: number } {
  const n = 200;
  const statement: Statement = {
    type: STATEMENT_TYPE,
    statementId: 'bench/sign',
    caseId: 'bench',
    stepId: 'sign',
    agency: 'tax',
    outcome: 'paid',
    commitment: toBase64(new Uint8Array(32)),
    facts: { amountCents: 1 },
    issuedAt: new Date().toISOString(),
    keyId: key.keyId,
  };
  let signed = signStatement(statement, key);
  let start = performance.now();
  for (let i = 0; i < n; i++)
    signed = signStatement({ ...statement, facts: { amountCents: i } }, key);
  const signUs = ((performance.now() - start) * 1000) / n;
  const message = statementMessage(signed.statement);
  const signature = fromBase64(signed.signature);
  start = performance.now();
  for (let i = 0; i < n; i++) processEd25519.verify(key.publicKey, message, signature);
  const verifyUs = ((performance.now() - start) * 1000) / n;
  return { signUs, verifyUs };
}

const FLAGS = {
  smoke: { type: 'boolean' },
  cases: { type: 'string' },
  rounds: { type: 'string' },
  concurrency: { type: 'string' },
  warmup: { type: 'string' },
  'poll-ms': { type: 'string' },
  'stack-traces': { type: 'boolean' },
} as const;

/** Flags win over BENCH_<FLAG> environment variables (e.g. BENCH_CASES), which win over the defaults. */
export function optionsFromArgs(args: string[], env = process.env): CasesBenchOptions {
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
  const rounds = number('rounds', base.rounds);
  if (rounds % 2 !== 0)
    throw new RangeError(
      `--rounds must be even: each round is a pair, and only pairs of pairs (ABBA) balance; got ${rounds}`,
    );
  return {
    cases: number('cases', base.cases),
    rounds,
    concurrency: number('concurrency', base.concurrency),
    warmup: number('warmup', base.warmup, 0),
    pollMs: number('poll-ms', base.pollMs),
    caseTimeoutMs: base.caseTimeoutMs,
    stackTraces: values['stack-traces'] === true || fromEnv('stack-traces') === '1',
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const options = optionsFromArgs(process.argv.slice(2));
  console.log(`OneWindow cases benchmark ${JSON.stringify(options)}`);
  await runCasesBench(options, console.log, (line) => console.error(line));
}
