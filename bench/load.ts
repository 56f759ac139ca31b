// The load benchmark (`npm run bench:load`, `--smoke` for 20 cases). The whole system as
// deployed on one host, each piece its own OS process (test/faults/cluster.ts): embedded
// PostgreSQL, the Temporal dev server on a SQLite file, the orchestrator's and the six
// agencies' workers, three witnesses (two of three cosign), the API. The bench submits
// `--cases` clean sales through POST /cases as fast as the API accepts them (`--concurrency`
// submissions in flight), and plays the citizen's payment and the registry officer's approval
// through the API as soon as the ledger shows each step open; every agency step is automated.
// It prints how many completed, cases/s, p50/p95/p99 case latency (first submission attempt
// → the case's close entry sequenced), the peak memory of every process, the ledger's final
// size, the time of a full `onewindow ledger audit` (the real CLI), and checks that nothing
// was lost or duplicated, as the fault tests do.
import { readdirSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  auditLedger,
  inspectLedger,
  waitForPublished,
  type LedgerReport,
} from '../test/faults/checks.ts';
import { startCluster, type Cluster, type ProcessName } from '../test/faults/cluster.ts';
import { CaseDriver, expectedSteps, runTag } from '../test/faults/driver.ts';
import { CLOCK_TICKS, count, describeMachine, ms, percentile } from './support.ts';

export interface LoadBenchOptions {
  cases: number;
  /** Submissions in flight at once. */
  concurrency: number;
  /** Utilities each case transfers (every one adds a precheck and a transfer). */
  utilities: string[];
  /** How long the cases may take to close, after the last submission. */
  timeoutSec: number;
}

const ALL_UTILITIES = ['electricity', 'water', 'gas'];
export const FULL: LoadBenchOptions = {
  cases: 1000,
  concurrency: 64,
  utilities: ALL_UTILITIES,
  timeoutSec: 3600,
};
export const SMOKE: LoadBenchOptions = {
  cases: 20,
  concurrency: 20,
  utilities: ['water'],
  timeoutSec: 240,
};

export interface LoadBenchFigures {
  submitted: number;
  completed: number;
  /** Completed cases / (last close − first submission). */
  casesPerSec: number;
  /** Accepted submissions / the time the submissions took. */
  submittedPerSec: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  ledgerEntries: number;
  /** On-disk size of the ledger's tables (entries, tree nodes, checkpoints, cosignatures). */
  ledgerBytes: number;
  auditMs: number;
  /** Peak resident memory of each process, MiB (PostgreSQL: its processes' summed PSS). */
  peakMemoryMiB: Record<string, number>;
  /** CPU seconds each process used over the run (PostgreSQL: with its backends). */
  cpuSec: Record<string, number>;
  /** Anything lost or duplicated: 0 or the run throws. */
  lostOrDuplicated: number;
}

/** Starts the system, runs the load and prints every figure; throws if anything was lost. */
export async function runLoadBench(
  options: LoadBenchOptions,
  print: (line: string) => void = console.log,
  progress: (line: string) => void = () => undefined,
): Promise<LoadBenchFigures> {
  for (const line of describeMachine()) print(line);
  const cluster = await startCluster({ log: progress });
  const memory = new MemorySampler(cluster);
  try {
    print(
      `system: ${Object.keys(cluster.pids()).length} processes (PostgreSQL, Temporal dev server on a SQLite file, orchestrator, 6 agency workers, 3 witnesses k=2, API)`,
    );
    const tag = runTag('LOAD');
    const driver = new CaseDriver(cluster, {
      tag,
      utilities: options.utilities,
      // A citizen's own list shows at most 100 cases; a retried submission is found there.
      citizenOf: (i) => `citizen-${tag.toLowerCase()}-${Math.floor(i / 100)}`,
      // People act at once, each waiting for the answer as a browser would (the server does
      // not stop work a caller gave up on, so an early retry only adds load).
      maxActions: 200,
      requestTimeoutMs: 600_000,
      log: progress,
    });
    memory.start();
    driver.start();
    const started = Date.now();
    const ticker = setInterval(
      () =>
        progress(
          `  ${driver.runs.filter((r) => r.caseId).length} accepted, ${driver.closed} closed, ${driver.entriesSeen} entries`,
        ),
      10_000,
    );
    let runs;
    let submitSec;
    try {
      runs = await driver.submit(options.cases, options.concurrency, options.timeoutSec * 1000);
      submitSec = (Date.now() - started) / 1000;
      progress(`all ${options.cases} submissions accepted in ${submitSec.toFixed(1)} s`);
      await driver.waitForClosed(options.timeoutSec * 1000);
    } finally {
      clearInterval(ticker);
      await driver.stop();
    }
    // Memory and CPU of the run: read now that the cases have closed, before the checks and
    // the full audit below add their own work to every process's figures.
    memory.stop();
    const peaks = memory.peaks();
    const cpu = memory.cpu();
    const lastClose = Math.max(...runs.map((r) => r.closedAt!));
    const wallSec = (lastClose - started) / 1000;
    const completed = runs.filter((r) => r.closeOutcome === 'completed').length;
    const latencies = runs.map((r) => r.closedAt! - r.submittedAt);

    const published = await waitForPublished(cluster, 60_000);
    const report = await inspectLedger(cluster, runs);
    const audit = await auditLedger(cluster);
    const { rows } = await cluster.admin.query<{ bytes: string }>(
      `SELECT sum(pg_total_relation_size(t))::bigint AS bytes
         FROM unnest(ARRAY['ledger_entries', 'tree_nodes', 'checkpoints', 'cosignatures', 'published_checkpoints']::regclass[]) AS t`,
    );
    const problems = lossOrDuplication(report, runs.length, expectedSteps(options.utilities));
    if (audit.code !== 0) problems.push(`ledger audit exited ${audit.code}: ${audit.stderr}`);
    if (cluster.unexpectedExits.length > 0)
      problems.push(
        `processes exited unexpectedly: ${cluster.unexpectedExits.map((e) => e.name).join(', ')}`,
      );

    const figures: LoadBenchFigures = {
      submitted: runs.length,
      completed,
      casesPerSec: completed / wallSec,
      submittedPerSec: runs.length / submitSec,
      p50Ms: percentile(latencies, 50),
      p95Ms: percentile(latencies, 95),
      p99Ms: percentile(latencies, 99),
      ledgerEntries: published,
      ledgerBytes: Number(rows[0]!.bytes),
      auditMs: audit.ms,
      peakMemoryMiB: peaks,
      cpuSec: cpu,
      lostOrDuplicated: problems.length,
    };
    const s = driver.stats;
    print('');
    print(
      `${count(options.cases)} clean sales (utilities: ${options.utilities.join(', ') || 'none'}), ${options.concurrency} submissions in flight, payments and approvals through the API`,
    );
    print(
      `  submitted        ${count(runs.length)} accepted in ${submitSec.toFixed(1)} s (${figures.submittedPerSec.toFixed(1)}/s); answers ${JSON.stringify(s.submissions)}`,
    );
    print(`  completed        ${count(completed)} of ${count(runs.length)}`);
    print(
      `  cases/s          ${figures.casesPerSec.toFixed(2)} (completed / ${wallSec.toFixed(1)} s from the first submission to the last close)`,
    );
    print(
      `  latency          p50 ${seconds(figures.p50Ms)}  p95 ${seconds(figures.p95Ms)}  p99 ${seconds(figures.p99Ms)}  (submission → close entry sequenced)`,
    );
    print(
      `  payments         ${JSON.stringify(s.payments)}; approvals ${JSON.stringify(s.approvals)}`,
    );
    print(
      `  ledger           ${count(figures.ledgerEntries)} entries (${expectedSteps(options.utilities).length} a case), ${(figures.ledgerBytes / 2 ** 20).toFixed(1)} MiB on disk with the tree and checkpoints`,
    );
    print(
      `  ledger audit     ${ms(audit.ms)} for the whole log (onewindow ledger audit --url, a new process)`,
    );
    print(
      `  nothing lost     ${problems.length === 0 ? 'yes' : 'NO'}: statement ids unique, one entry per expected step per case, indices 0..${report.maxIndex} contiguous, one case per unit, ${report.witnessAlarms.length} witness alarms`,
    );
    print(
      '  per process      peak memory (RSS high-water mark; PostgreSQL: summed PSS of its processes, sampled), CPU over the run (first submission to last close; the checks and audit after it not included)',
    );
    for (const [name, mib] of Object.entries(peaks).sort(([a], [b]) => a.localeCompare(b)))
      print(
        `    ${name.padEnd(20)} ${mib.toFixed(0).padStart(5)} MiB  ${cpu[name] === undefined ? '' : `${cpu[name].toFixed(1).padStart(6)} s CPU`}`,
      );
    if (problems.length > 0) throw new Error(`lost or duplicated: ${problems.join('; ')}`);
    return figures;
  } finally {
    memory.stop();
    await cluster.stop();
  }
}

function seconds(msValue: number): string {
  return `${(msValue / 1000).toFixed(1)} s`;
}

/** Every way the ledger differs from "each case's expected entries, once, contiguous". */
export function lossOrDuplication(
  report: LedgerReport,
  cases: number,
  steps: readonly string[],
): string[] {
  const problems: string[] = [];
  if (report.duplicates.length > 0)
    problems.push(`duplicate statements ${report.duplicates.slice(0, 5).join(', ')}`);
  if (report.missing.length > 0)
    problems.push(`missing entries ${report.missing.slice(0, 5).join(', ')}`);
  if (report.unexpected.length > 0)
    problems.push(`unexpected entries ${report.unexpected.slice(0, 5).join(', ')}`);
  if (report.size !== cases * steps.length)
    problems.push(`${report.size} entries, expected ${cases * steps.length}`);
  if (report.size > 0 && (report.minIndex !== 0 || report.maxIndex !== report.size - 1))
    problems.push(`indices ${report.minIndex}..${report.maxIndex} for ${report.size} entries`);
  if (report.caseRowProblems.length > 0)
    problems.push(report.caseRowProblems.slice(0, 5).join('; '));
  if (report.witnessAlarms.length > 0)
    problems.push(`witness alarms: ${report.witnessAlarms.join('; ')}`);
  return problems;
}

/**
 * Samples every process's memory once a second: VmHWM (the kernel's high-water mark) of each
 * single process, and for PostgreSQL the PSS of the postmaster and all its backends summed
 * (PSS shares the shared buffers out among the processes that map them, so the sum is fair).
 */
class MemorySampler {
  private readonly peak = new Map<string, number>();
  private readonly cpuAtStart = new Map<string, number>();
  private readonly cpuLast = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly cluster: Cluster) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) this.sample();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** CPU seconds since start, by process, as of the last sample. */
  cpu(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, sec] of this.cpuLast) out[name] = sec - (this.cpuAtStart.get(name) ?? 0);
    const own = process.cpuUsage();
    out['bench driver'] = (own.user + own.system) / 1e6 - this.ownCpuAtStart;
    return out;
  }

  private ownCpuAtStart = (process.cpuUsage().user + process.cpuUsage().system) / 1e6;

  peaks(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, kib] of this.peak) out[name] = kib / 1024;
    out['bench driver'] = process.resourceUsage().maxRSS / 1024;
    return out;
  }

  private note(name: string, kib: number | undefined): void {
    if (kib !== undefined && kib > (this.peak.get(name) ?? 0)) this.peak.set(name, kib);
  }

  private sample(): void {
    const pids = this.cluster.pids();
    for (const [name, pid] of Object.entries(pids) as [ProcessName, number][]) {
      const tree = name === 'postgres' ? treeOf(pid) : [pid];
      if (name === 'postgres') this.note(name, sum(tree.map((p) => pss(p))));
      else this.note(name, statusKib(pid, 'VmHWM'));
      // A postmaster's exited backends count in its children's time (cutime, cstime).
      const cpu = sum(tree.map((p) => cpuSec(p, p === pid && name === 'postgres')));
      if (cpu !== undefined) {
        if (!this.cpuAtStart.has(name)) this.cpuAtStart.set(name, cpu);
        this.cpuLast.set(name, cpu);
      }
    }
  }
}

function statusKib(pid: number, field: string): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** utime + stime of a process (and of its waited-for children), from /proc. */
function cpuSec(pid: number, withChildren: boolean): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // Fields 14-17 of proc(5): utime, stime, cutime, cstime (0-based 11-14 after the name).
    return (f[11]! + f[12]! + (withChildren ? f[13]! + f[14]! : 0)) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

function pss(pid: number): number | undefined {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match ? Number(match[1]) : statusKib(pid, 'VmRSS');
  } catch {
    return statusKib(pid, 'VmRSS');
  }
}

function sum(values: (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : known.reduce((a, b) => a + b, 0);
}

/** `pid` and its direct children (a postmaster's backends), from /proc. */
function treeOf(pid: number): number[] {
  const pids = [pid];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) pids.push(Number(name));
    } catch {
      // Exited between the listing and the read.
    }
  }
  return pids;
}

const FLAGS = {
  smoke: { type: 'boolean' },
  cases: { type: 'string' },
  concurrency: { type: 'string' },
  utilities: { type: 'string' },
  'timeout-sec': { type: 'string' },
} as const;

/** Flags win over BENCH_<FLAG> environment variables (e.g. BENCH_CASES), which win over the defaults. */
export function optionsFromArgs(args: string[], env = process.env): LoadBenchOptions {
  const { values } = parseArgs({ args, options: FLAGS, strict: true });
  const fromEnv = (flag: string) => env[`BENCH_${flag.toUpperCase().replaceAll('-', '_')}`];
  const number = (flag: keyof typeof FLAGS, fallback: number): number => {
    const text = (values[flag] as string | undefined) ?? fromEnv(flag);
    if (text === undefined) return fallback;
    const n = Number(text.replaceAll('_', ''));
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`--${flag} must be a positive integer, got ${text}`);
    return n;
  };
  const base = values.smoke || fromEnv('smoke') === '1' ? SMOKE : FULL;
  const utilities = values.utilities ?? fromEnv('utilities');
  const chosen =
    utilities === undefined
      ? base.utilities
      : utilities
          .split(',')
          .map((u) => u.trim())
          .filter(Boolean);
  for (const u of chosen)
    if (!ALL_UTILITIES.includes(u))
      throw new RangeError(`--utilities takes ${ALL_UTILITIES.join(',')} (or ''), got ${u}`);
  return {
    cases: number('cases', base.cases),
    concurrency: number('concurrency', base.concurrency),
    utilities: chosen,
    timeoutSec: number('timeout-sec', base.timeoutSec),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const options = optionsFromArgs(process.argv.slice(2));
  console.log(`OneWindow load benchmark ${JSON.stringify(options)}`);
  // Ctrl-C: stop every process of the system (the cluster's exit hook kills what is left).
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
  await runLoadBench(options, console.log, (line) =>
    console.error(`${new Date().toISOString().slice(11, 19)} ${line}`),
  );
}
