import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance } from 'fastify';
import { register as globalRegistry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMetrics,
  instrumentAppends,
  pgLedgerSources,
  stepLatencyInterceptor,
  temporalCaseSources,
  type MetricSources,
  type Metrics,
} from '../infra/metrics.ts';
import { registerOperationsRoutes, type OperationsDeps } from './operations.ts';

const answers = { query: () => Promise.resolve({ rows: [] }) };
const temporalUp = { workflowService: { getSystemInfo: () => Promise.resolve({}) } };

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function appWith(deps: Partial<OperationsDeps> & { sources?: MetricSources } = {}) {
  app = Fastify();
  const metrics = deps.metrics ?? createMetrics(deps.sources, { processMetrics: false });
  registerOperationsRoutes(app, {
    pool: deps.pool ?? (answers as unknown as OperationsDeps['pool']),
    temporal: deps.temporal ?? (temporalUp as unknown as OperationsDeps['temporal']),
    metrics,
    ...(deps.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: deps.readyTimeoutMs }),
  });
  return app;
}

const failing = (message: string) => () => Promise.reject(new Error(message));

describe('GET /healthz', () => {
  it('answers 200 while the process is alive, whatever its dependencies say', async () => {
    const response = await appWith({
      pool: { query: failing('down') } as unknown as OperationsDeps['pool'],
    }).inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });
});

describe('GET /readyz', () => {
  it('answers 200 when PostgreSQL and Temporal both answer', async () => {
    const response = await appWith().inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      status: 'ready',
      checks: { postgres: 'ok', temporal: 'ok' },
    });
  });

  it('answers 503 naming postgres when the pool query rejects, without its message', async () => {
    const response = await appWith({
      pool: {
        query: failing('password authentication failed for user "onewindow_app"'),
      } as unknown as OperationsDeps['pool'],
    }).inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({
      status: 'not ready',
      notReady: ['postgres'],
      checks: { postgres: 'unavailable', temporal: 'ok' },
    });
    expect(response.body).not.toContain('onewindow_app');
  });

  it('answers 503 naming temporal when its frontend does not answer', async () => {
    const response = await appWith({
      temporal: {
        workflowService: { getSystemInfo: failing('14 UNAVAILABLE') },
      } as unknown as OperationsDeps['temporal'],
    }).inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ notReady: ['temporal'] });
  });

  it('answers 503 with a timeout when a check hangs', async () => {
    const response = await appWith({
      pool: { query: () => new Promise(() => undefined) } as unknown as OperationsDeps['pool'],
      readyTimeoutMs: 20,
    }).inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({
      notReady: ['postgres'],
      checks: { postgres: 'timeout', temporal: 'ok' },
    });
  });
});

async function scrape(metrics?: Metrics, sources?: MetricSources): Promise<string> {
  const response = await appWith({
    ...(metrics ? { metrics } : {}),
    ...(sources ? { sources } : {}),
  }).inject({
    method: 'GET',
    url: '/metrics',
  });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.body;
}

describe('the routes that ask PostgreSQL and Temporal', () => {
  it('count towards the rate limit, where the app has one: /metrics, not the probes', async () => {
    app = Fastify();
    await app.register(rateLimit, { global: false, max: 1, timeWindow: 60_000 });
    registerOperationsRoutes(app, {
      pool: answers as unknown as OperationsDeps['pool'],
      temporal: temporalUp as unknown as OperationsDeps['temporal'],
      metrics: createMetrics(undefined, { processMetrics: false }),
    });
    const codes = async (url: string) => [
      (await app!.inject({ method: 'GET', url })).statusCode,
      (await app!.inject({ method: 'GET', url })).statusCode,
    ];
    expect(await codes('/metrics')).toEqual([200, 429]);
    // A load balancer's checks may share the public traffic's address: never refused for it.
    expect(await codes('/readyz')).toEqual([200, 200]);
    expect(await codes('/healthz')).toEqual([200, 200]);
  });
});

describe('GET /metrics', () => {
  it('lists every OneWindow metric in the text exposition format', async () => {
    const text = await scrape(undefined, {
      countCases: () => Promise.resolve({}),
      countOverdue: () => Promise.resolve(0),
      ...pgLedgerSources({
        query: () => Promise.resolve({ rows: [] }),
      } as unknown as Parameters<typeof pgLedgerSources>[0]),
    });
    for (const name of [
      'onewindow_cases',
      'onewindow_cases_overdue',
      'onewindow_ledger_entries',
      'onewindow_ledger_checkpoint_size',
      'onewindow_witness_lag_entries',
      'onewindow_step_duration_seconds',
      'onewindow_ledger_appends_total',
      'onewindow_ledger_append_duration_seconds',
      'onewindow_metrics_source_errors_total',
    ])
      expect(text).toContain(`# TYPE ${name} `);
  });

  it('reads cases, overdue cases, ledger size and witness lag from their sources when scraped', async () => {
    let cases: Record<string, number> = { running: 3, completed: 7 };
    const metrics = createMetrics(
      {
        countCases: () => Promise.resolve(cases),
        countOverdue: () => Promise.resolve(2),
        ledgerSize: () => Promise.resolve(120),
        checkpointSizes: () => Promise.resolve({ signed: 120, published: 115 }),
      },
      { processMetrics: false },
    );
    const text = await scrape(metrics);
    expect(text).toContain('onewindow_cases{status="running"} 3');
    expect(text).toContain('onewindow_cases{status="completed"} 7');
    expect(text).toContain('onewindow_cases_overdue 2');
    expect(text).toContain('onewindow_ledger_entries 120');
    expect(text).toContain('onewindow_ledger_checkpoint_size{checkpoint="signed"} 120');
    expect(text).toContain('onewindow_ledger_checkpoint_size{checkpoint="published"} 115');
    expect(text).toContain('onewindow_witness_lag_entries 5');

    cases = { completed: 10 };
    const again = await metrics.registry.metrics();
    expect(again).not.toContain('status="running"');
    expect(again).toContain('onewindow_cases{status="completed"} 10');
  });

  it('keeps the other metrics when a source fails, and counts the failure', async () => {
    const text = await scrape(undefined, {
      countCases: failing('visibility store down'),
      ledgerSize: () => Promise.resolve(9),
    });
    expect(text).toContain('onewindow_metrics_source_errors_total{source="cases"} 1');
    expect(text).toContain('onewindow_ledger_entries 9');
  });

  it('shows no gauge whose source the process cannot see', async () => {
    const text = await scrape(undefined, { ledgerSize: () => Promise.resolve(1) });
    expect(text).toContain('onewindow_ledger_entries 1');
    expect(text).not.toContain('onewindow_cases');
    expect(text).not.toContain('onewindow_witness_lag_entries');
    expect(text).toContain('# TYPE onewindow_step_duration_seconds histogram');
  });

  it('uses a registry of its own, not prom-client global one', async () => {
    createMetrics({}, { processMetrics: false });
    expect(await globalRegistry.metrics()).not.toContain('onewindow_');
  });

  it('adds the Node process metrics unless told not to', async () => {
    expect(await createMetrics().registry.metrics()).toContain('process_resident_memory_bytes');
    expect(await scrape()).not.toContain('process_resident_memory_bytes');
  });
});

describe('observed metrics', () => {
  it('times each step an agency worker runs, by step and agency, failed attempts too', async () => {
    const metrics = createMetrics({}, { processMetrics: false });
    const factory = stepLatencyInterceptor(metrics, 'housing');
    const ctx = { info: { activityType: 'verifyContract' } } as unknown as Parameters<
      typeof factory
    >[0];
    const execute = factory(ctx).inbound!.execute!;
    const input = {} as Parameters<typeof execute>[0];
    await execute(input, () => Promise.resolve('done'));
    await expect(execute(input, failing('agency system down'))).rejects.toThrow('down');
    expect(await scrape(metrics)).toContain(
      'onewindow_step_duration_seconds_count{step="verifyContract",agency="housing"} 2',
    );
  });

  it('counts and times appends by outcome: created, existing, failed', async () => {
    const metrics = createMetrics({}, { processMetrics: false });
    const results = [{ created: true }, { created: false }];
    const sequencer = {
      append: (_input: unknown) => {
        const next = results.shift();
        return next ? Promise.resolve(next) : Promise.reject(new Error('BadSignatureError'));
      },
    };
    instrumentAppends(sequencer, metrics);
    await expect(sequencer.append({})).resolves.toEqual({ created: true });
    await sequencer.append({});
    await expect(sequencer.append({})).rejects.toThrow('BadSignatureError');
    const text = await scrape(metrics);
    for (const outcome of ['created', 'existing', 'failed']) {
      expect(text).toContain(`onewindow_ledger_appends_total{outcome="${outcome}"} 1`);
      expect(text).toContain(
        `onewindow_ledger_append_duration_seconds_count{outcome="${outcome}"} 1`,
      );
    }
  });
});

describe('metric sources', () => {
  it('reads the ledger size as max(idx) + 1 and both checkpoint sizes from PostgreSQL', async () => {
    const queries: string[] = [];
    const pool = {
      query: (sql: string) => {
        queries.push(sql);
        // pg returns bigint columns as strings.
        return Promise.resolve({
          rows: [
            sql.includes('ledger_entries') ? { size: '42' } : { signed: '42', published: '40' },
          ],
        });
      },
    } as unknown as Parameters<typeof pgLedgerSources>[0];
    const sources = pgLedgerSources(pool);
    expect(await sources.ledgerSize()).toBe(42);
    expect(await sources.checkpointSizes()).toEqual({ signed: 42, published: 40 });
    expect(queries[0]).toMatch(/max\(idx\) \+ 1.*FROM ledger_entries/);
    expect(queries[1]).toMatch(/FROM checkpoints[\s\S]*FROM published_checkpoints/);
  });

  it('counts cases per status and the overdue running ones in Temporal visibility', async () => {
    const queries: string[] = [];
    const sources = temporalCaseSources({
      workflow: {
        count: (query?: string) => {
          queries.push(query ?? '');
          return Promise.resolve({ count: query?.includes("'running'") ? 4 : 1, groups: [] });
        },
      },
    });
    expect(await sources.countCases()).toEqual({
      running: 4,
      completed: 1,
      rejected: 1,
      expired: 1,
      failed: 1,
    });
    expect(await sources.countOverdue()).toBe(1);
    expect(queries.at(-1)).toBe(
      "WorkflowType = 'jointTransferCase' AND ExecutionStatus = 'Running' AND OneWindowOverdue = true",
    );
  });
});
