// Operations routes: liveness, readiness and Prometheus metrics, for the orchestrator of the
// containers (compose health checks, a load balancer) and for Prometheus.
//   GET /healthz  the process is alive and serving: 200 {status: 'ok'}, nothing else checked
//   GET /readyz   PostgreSQL and Temporal answer: 200, else 503 naming what is not ready
//   GET /metrics  the registry in the Prometheus text exposition format
import type { WorkflowService } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Metrics } from '../infra/metrics.ts';

export interface OperationsDeps {
  /** A pg.Pool: readiness asks it `SELECT 1`. */
  pool: Pick<pg.Pool, 'query'>;
  /** A Temporal Client: readiness asks its frontend for the system info (a cheap call). */
  temporal: { workflowService: Pick<WorkflowService, 'getSystemInfo'> };
  /** Absent: no /metrics route (a process without a registry of its own). */
  metrics?: Pick<Metrics, 'registry'>;
  /** How long each readiness check may take; default 2000 ms (compose checks every 10 s). */
  readyTimeoutMs?: number;
}

/** The dependencies readiness checks, by the name a 503 reports. */
export type Dependency = 'postgres' | 'temporal';

/**
 * Under the public routes' rate limit where the app has one (@fastify/rate-limit in the API):
 * each /metrics asks PostgreSQL and Temporal several times, with no token; a scrape every 15 s
 * is far inside it. Not /readyz: a load balancer's checks may come from the address the public
 * traffic comes through, and a flood of requests would then take the API out of service.
 */
const COUNTED = { config: { rateLimit: {} } };

export function registerOperationsRoutes(app: FastifyInstance, deps: OperationsDeps): void {
  const timeoutMs = deps.readyTimeoutMs ?? 2000;
  const checks: Record<Dependency, () => Promise<unknown>> = {
    postgres: () => deps.pool.query('SELECT 1'),
    temporal: () => deps.temporal.workflowService.getSystemInfo({}),
  };

  app.get('/healthz', () => Promise.resolve({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    const names = Object.keys(checks) as Dependency[];
    const results = await Promise.all(
      names.map(async (name) => {
        try {
          await within(timeoutMs, checks[name]());
          return [name, 'ok'] as const;
        } catch (error) {
          // The reason goes to the log only: the endpoint is reachable from outside, and
          // driver messages name hosts and users.
          request.log.warn({ dependency: name, err: error }, 'readiness check failed');
          return [name, error instanceof ReadyTimeoutError ? 'timeout' : 'unavailable'] as const;
        }
      }),
    );
    const notReady = results.filter(([, state]) => state !== 'ok').map(([name]) => name);
    return reply.code(notReady.length === 0 ? 200 : 503).send({
      status: notReady.length === 0 ? 'ready' : 'not ready',
      ...(notReady.length > 0 ? { notReady } : {}),
      checks: Object.fromEntries(results),
    });
  });

  const { metrics } = deps;
  if (metrics)
    app.get('/metrics', COUNTED, async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    });
}

class ReadyTimeoutError extends Error {
  override name = 'ReadyTimeoutError';
}

/** `promise`, or a ReadyTimeoutError after `ms` (a hung connection must not hang the probe). */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ReadyTimeoutError(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
