// The load generator of the API benchmark (bench/api.ts), run as a child process so it never
// shares the API's event loop or its share of a core's time slices. One job a run: the job is
// JSON in argv[2], the result is one line of JSON on stdout.
//
// Two kinds of run:
//   max   closed loop, autocannon: `connections` connections, each sending its next request as
//         soon as its last one is answered, for `durationSec`: the most requests/s the route
//         serves.
//   rate  open loop at `rate` requests/s, Node's HTTP client: a request is due every 1000/rate
//         ms whatever the server does, and leaves then on a free keep-alive connection or a
//         new one; latency counts from when it was due. A first second is not timed (it opens
//         the connections). autocannon's own `overallRate` does not do this: each connection
//         sends its whole quota for a second back to back at the top of the second, so the
//         server sees a burst every second and the latencies measure the burst; and one
//         autocannon instance a connection (as before) cost ~1 ms of CPU a request here.
import http from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export interface LoadJob {
  kind: 'max' | 'rate';
  /** http://127.0.0.1:<port> */
  origin: string;
  /** Paths to request, round robin over all connections. */
  paths: string[];
  headers: Record<string, string>;
  durationSec: number;
  /** max: connections in flight. */
  connections?: number;
  /** rate: requests per second offered. */
  rate?: number;
}

export interface LoadResult {
  /** Answers counted (2xx); the rate run leaves out each connection's first. */
  ok: number;
  /** Answers other than 2xx, connection errors and timeouts: any of them fails the run. */
  failed: number;
  firstFailure: string | null;
  elapsedSec: number;
  /** ok / elapsedSec */
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU seconds the load generator used over the run. */
  cpuSec: number;
}

// The parts of autocannon's programmatic API used here (autocannon ships no types).
interface AutocannonRequest {
  method: 'GET';
  setupRequest: (request: { path?: string }) => { path: string };
  onResponse: (status: number, body: string) => void;
}
interface AutocannonOptions {
  url: string;
  headers: Record<string, string>;
  requests: AutocannonRequest[];
  connections: number;
  duration: number;
  timeout: number;
}
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
  latency: { p50: number; p99: number; max: number };
}
interface Tracker {
  on(event: 'done', listener: (result: AutocannonResult) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
}
type Autocannon = (options: AutocannonOptions) => Tracker;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** An answer that takes longer is a failed request. */
const TIMEOUT_MS = 30_000;

/** The first answer other than 2xx of the run, for the report. */
let firstRefusal: string | null = null;

/** A request whose path is the next of `paths`, shared by every connection of the run. */
function roundRobin(paths: readonly string[]): AutocannonRequest {
  let next = 0;
  return {
    method: 'GET',
    setupRequest: (request) => ({ ...request, path: paths[next++ % paths.length]! }),
    onResponse: (status, body) => {
      if ((status < 200 || status >= 300) && firstRefusal === null)
        firstRefusal = `HTTP ${status} ${body.slice(0, 300)}`;
    },
  };
}

function run(options: AutocannonOptions) {
  return new Promise<AutocannonResult>((resolve, reject) => {
    const tracker = autocannon(options);
    tracker.on('done', resolve);
    tracker.on('error', reject);
  });
}

function failureOf(result: AutocannonResult): string | null {
  const codes = Object.entries(result.statusCodeStats).filter(([c]) => !c.startsWith('2'));
  if (codes.length > 0)
    return `${codes.map(([c, { count }]) => `${count} × HTTP ${c}`).join(', ')}; first: ${firstRefusal}`;
  if (result.timeouts > 0) return `${result.timeouts} timeouts`;
  if (result.errors > 0) return `${result.errors} connection errors`;
  return null;
}

/** The most requests/s: `connections` in flight, closed loop, for `durationSec`. */
async function maxRun(job: LoadJob): Promise<Omit<LoadResult, 'cpuSec'>> {
  const result = await run({
    url: job.origin,
    headers: job.headers,
    requests: [roundRobin(job.paths)],
    connections: job.connections ?? 32,
    duration: job.durationSec,
    timeout: 30,
  });
  const elapsedSec = result.duration;
  return {
    ok: result['2xx'],
    failed: result.non2xx + result.errors,
    firstFailure: failureOf(result),
    elapsedSec,
    perSec: result['2xx'] / elapsedSec,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
  };
}

/** `rate` requests/s, open loop (see the top of this file); percentiles over the timed answers. */
async function rateRun(job: LoadJob): Promise<Omit<LoadResult, 'cpuSec'>> {
  const rate = job.rate ?? 200;
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const latencies: number[] = [];
  let failed = 0;
  let firstFailure: string | null = null;
  let first = 0;
  let last = 0;
  let next = 0;
  const send = (since: number, timed: boolean) =>
    new Promise<void>((resolve) => {
      let settled = false;
      const settle = (failure?: string) => {
        if (settled) return;
        settled = true;
        if (failure !== undefined) {
          failed++;
          firstFailure ??= failure;
        }
        resolve();
      };
      const path = job.paths[next++ % job.paths.length]!;
      const request = http.get(
        `${job.origin}${path}`,
        { agent, headers: job.headers, timeout: TIMEOUT_MS },
        (response) => {
          const status = response.statusCode ?? 0;
          const ok = status >= 200 && status < 300;
          const refusal: Buffer[] = [];
          response.on('data', (chunk: Buffer) => {
            if (!ok) refusal.push(chunk);
          });
          response.on('error', (error) => settle(error.message));
          response.on('end', () => {
            if (!ok)
              return settle(`HTTP ${status} ${Buffer.concat(refusal).toString('utf8', 0, 300)}`);
            if (timed) {
              last = performance.now();
              latencies.push(last - since);
              first ||= last;
            }
            settle();
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)));
      request.on('error', (error) => settle(error.message));
    });
  const answers: Promise<void>[] = [];
  const total = rate * (job.durationSec + 1);
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    // Due at i * 1000/rate ms on the clock, not after i sleeps: sleeps drift.
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    // Timed from when it was due, or from when it left if a timer fired early (they fire to
    // the millisecond): a late request counts its lateness, an early one nothing it did not wait.
    answers.push(send(Math.min(due, performance.now()), i >= rate));
  }
  await Promise.all(answers);
  agent.destroy();
  // From the first timed answer to the last: what the route sustained of the rate offered.
  const elapsedSec = (last - first) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil(p * latencies.length) - 1))] ??
    NaN;
  return {
    ok: latencies.length,
    failed,
    firstFailure,
    elapsedSec,
    perSec: (latencies.length - 1) / elapsedSec,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: latencies.at(-1) ?? NaN,
  };
}

export async function runLoad(job: LoadJob): Promise<LoadResult> {
  const cpu = process.cpuUsage();
  const result = await (job.kind === 'max' ? maxRun(job) : rateRun(job));
  const used = process.cpuUsage(cpu);
  return { ...result, cpuSec: (used.user + used.system) / 1e6 };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const job = JSON.parse(process.argv[2] ?? '') as LoadJob;
  const result = await runLoad(job);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
