// Prometheus metrics (prom-client), on a registry of our own rather than prom-client's global
// one: no module singleton (STYLE.md, habit 8), and tests build as many as they like.
// Gauges that describe shared state (cases, the ledger, witness lag) are read from their
// sources when scraped, through small ports; counters and histograms are observed where the
// work happens (an activity interceptor, a wrapper around the sequencer's append).
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { WorkflowClient } from '@temporalio/client';
import type pg from 'pg';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CasePhase } from '../domain/caseStatus.ts';

/** Where scrape-time gauges read from. Each is optional: a process exposes what it can see. */
export interface MetricSources {
  /** Open and closed cases by status (the OneWindowStatus search attribute). */
  countCases?: () => Promise<Record<string, number>>;
  /** Running cases flagged overdue (OneWindowOverdue). */
  countOverdue?: () => Promise<number>;
  /** Entries in the ledger. */
  ledgerSize?: () => Promise<number>;
  /** Tree size of the newest signed checkpoint and of the newest published (witnessed) one. */
  checkpointSizes?: () => Promise<{ signed: number; published: number }>;
}

export interface Metrics {
  registry: Registry;
  /** Seconds an agency step's activity ran, by step and agency. */
  stepLatency: Histogram<'step' | 'agency'>;
  /** Appends asked of the sequencer, by outcome (created, existing, failed). */
  appends: Counter<'outcome'>;
  /** Seconds from asking for an append to its entry being committed (or refused). */
  appendLatency: Histogram<'outcome'>;
}

export interface MetricsOptions {
  /** Node process metrics (memory, CPU, event loop lag, GC) too; default true. */
  processMetrics?: boolean;
}

/** Seconds: steps run from milliseconds (a lookup) to minutes (retries against a slow agency). */
const STEP_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** Seconds: group commit holds an append for at most a batch; anything near a second is slow. */
const APPEND_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * A registry with OneWindow's metrics. Scrape-time gauges call `sources` (and exist only for
 * the sources given); a source that fails keeps its gauge's last value and counts
 * `onewindow_metrics_source_errors_total{source}`, so one slow dependency does not blank the
 * whole scrape.
 * @example // the API process, which sees both Temporal and the ledger:
 * const metrics = createMetrics({ ...temporalCaseSources(client), ...pgLedgerSources(pool) });
 * registerOperationsRoutes(app, { pool, temporal: client, metrics });
 */
export function createMetrics(sources: MetricSources = {}, options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  // Reads of this scrape still running: the error counter waits for them (below).
  const pending = new Set<Promise<void>>();
  const guarded =
    <T>(source: string, read: () => Promise<T>, use: (value: T) => void) =>
    (): Promise<void> => {
      const reading = read().then(use, () => {
        sourceErrors.inc({ source });
      });
      pending.add(reading);
      return reading.finally(() => pending.delete(reading));
    };

  // A gauge exists only where its source does: a worker's /metrics must not report a ledger
  // of 0 entries because it cannot see the ledger.
  const { countCases, countOverdue, ledgerSize } = sources;
  if (countCases) {
    const gauge: Gauge<'status'> = new Gauge({
      name: 'onewindow_cases',
      help: 'Cases by status (running, completed, rejected, expired, failed).',
      labelNames: ['status'],
      registers: [registry],
      collect: guarded('cases', countCases, (counts) => {
        // Reset first: a status with no cases left must not keep its old count.
        gauge.reset();
        for (const [status, count] of Object.entries(counts)) gauge.set({ status }, count);
      }),
    });
  }
  if (countOverdue) {
    const gauge: Gauge = new Gauge({
      name: 'onewindow_cases_overdue',
      help: 'Running cases with a missed deadline.',
      registers: [registry],
      collect: guarded('overdue', countOverdue, (count) => gauge.set(count)),
    });
  }
  if (ledgerSize) {
    const gauge: Gauge = new Gauge({
      name: 'onewindow_ledger_entries',
      help: 'Entries in the ledger (the tree size); its rate is the append rate across processes.',
      registers: [registry],
      collect: guarded('ledger', ledgerSize, (size) => gauge.set(size)),
    });
  }
  if (sources.checkpointSizes) {
    // Two gauges, one query per scrape.
    const checkpointSizes = sharedFor(1000, sources.checkpointSizes);
    const sizes: Gauge<'checkpoint'> = new Gauge({
      name: 'onewindow_ledger_checkpoint_size',
      help: 'Tree size of the newest checkpoint: signed by the log, or published (witness policy met).',
      labelNames: ['checkpoint'],
      registers: [registry],
      collect: guarded('checkpoints', checkpointSizes, ({ signed, published }) => {
        sizes.set({ checkpoint: 'signed' }, signed);
        sizes.set({ checkpoint: 'published' }, published);
      }),
    });
    const lag: Gauge = new Gauge({
      name: 'onewindow_witness_lag_entries',
      help: 'Entries signed but not yet in a published checkpoint (witnesses behind the log).',
      registers: [registry],
      collect: guarded('witness_lag', checkpointSizes, ({ signed, published }) =>
        lag.set(Math.max(0, signed - published)),
      ),
    });
  }

  // Registered after the gauges, so prom-client (which starts every collect in registration
  // order, then awaits them together) has started this scrape's reads when this one waits.
  const sourceErrors: Counter<'source'> = new Counter({
    name: 'onewindow_metrics_source_errors_total',
    help: 'Scrapes in which a metric source failed (its gauge kept its last value).',
    labelNames: ['source'],
    registers: [registry],
    async collect() {
      await Promise.all([...pending]);
    },
  });

  return {
    registry,
    stepLatency: new Histogram({
      name: 'onewindow_step_duration_seconds',
      help: 'Seconds an agency step ran in its worker (activity execution, each attempt).',
      labelNames: ['step', 'agency'],
      buckets: STEP_BUCKETS,
      registers: [registry],
    }),
    appends: new Counter({
      name: 'onewindow_ledger_appends_total',
      help: 'Statements given to the sequencer, by outcome (created, existing, failed).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    appendLatency: new Histogram({
      name: 'onewindow_ledger_append_duration_seconds',
      help: 'Seconds from an append request to its entry being committed, or refused.',
      labelNames: ['outcome'],
      buckets: APPEND_BUCKETS,
      registers: [registry],
    }),
  };
}

/** Calls `read` at most once per `ms`: two gauges read one query per scrape. */
function sharedFor<T>(ms: number, read: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - last.at >= ms) last = { at: now, value: read() };
    return last.value;
  };
}

/**
 * Ledger size and checkpoint sizes from PostgreSQL (ledger/pg/migrations.ts). Indices are
 * contiguous from 0, so the size is max(idx) + 1: an index lookup, not a count of the table.
 */
export function pgLedgerSources(
  pool: Pick<pg.Pool, 'query'>,
): Required<Pick<MetricSources, 'ledgerSize' | 'checkpointSizes'>> {
  return {
    async ledgerSize() {
      const { rows } = await pool.query<{ size: string }>(
        'SELECT coalesce(max(idx) + 1, 0) AS size FROM ledger_entries',
      );
      return Number(rows[0]?.size ?? 0);
    },
    async checkpointSizes() {
      const { rows } = await pool.query<{ signed: string; published: string }>(
        `SELECT (SELECT coalesce(max(size), 0) FROM checkpoints) AS signed,
                (SELECT coalesce(max(size), 0) FROM published_checkpoints) AS published`,
      );
      return { signed: Number(rows[0]?.signed ?? 0), published: Number(rows[0]?.published ?? 0) };
    },
  };
}

const CASES = `WorkflowType = 'jointTransferCase'`;

/**
 * Case counts from Temporal's visibility store: one count per status (the SQL visibility store
 * groups by ExecutionStatus only), and the overdue running cases.
 */
export function temporalCaseSources(temporal: {
  workflow: Pick<WorkflowClient, 'count'>;
}): Required<Pick<MetricSources, 'countCases' | 'countOverdue'>> {
  return {
    async countCases() {
      const counts = await Promise.all(
        CasePhase.options.map(async (status) => {
          const { count } = await temporal.workflow.count(
            `${CASES} AND OneWindowStatus = '${status}'`,
          );
          return [status, count] as const;
        }),
      );
      return Object.fromEntries(counts);
    },
    async countOverdue() {
      const { count } = await temporal.workflow.count(
        `${CASES} AND ExecutionStatus = 'Running' AND OneWindowOverdue = true`,
      );
      return count;
    },
  };
}

/**
 * An activity interceptor that times every step this worker runs (labels: the activity type,
 * which is the step's name, and the agency; no case data).
 */
export function stepLatencyInterceptor(
  metrics: Pick<Metrics, 'stepLatency'>,
  agency: string,
): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const stop = metrics.stepLatency.startTimer({ step: ctx.info.activityType, agency });
        try {
          return await next(input);
        } finally {
          stop();
        }
      },
    },
  });
}

/**
 * Counts and times the appends of `sequencer`, in place. The sequencer lives in ledger/pg,
 * which knows nothing of metrics; the activities already hold this instance, so the
 * composition root wraps its `append` rather than threading a wrapper through every factory.
 */
export function instrumentAppends<R extends { created: boolean }>(
  sequencer: { append(input: unknown): Promise<R> },
  metrics: Pick<Metrics, 'appends' | 'appendLatency'>,
): void {
  const append = sequencer.append.bind(sequencer);
  sequencer.append = async (input: unknown) => {
    const stop = metrics.appendLatency.startTimer();
    let outcome = 'failed';
    try {
      const appended = await append(input);
      outcome = appended.created ? 'created' : 'existing';
      return appended;
    } finally {
      stop({ outcome });
      metrics.appends.inc({ outcome });
    }
  };
}
