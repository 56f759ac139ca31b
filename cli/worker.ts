// `onewindow worker --agency <id> --key <file>` and `onewindow worker --orchestrator`:
// one process per agency, as deployed. Configuration comes from the environment and is
// checked whole before anything connects (infra/config.ts). With ONEWINDOW_OPS_ADDRESS set, a
// small HTTP endpoint serves /healthz (the worker is running) and /metrics.
import { createServer, type Server } from 'node:http';
import { NativeConnection, type Worker } from '@temporalio/worker';
import pg from 'pg';
import {
  loadConfig,
  orchestratorConfig,
  witnessPolicyOf,
  workerConfig,
  type WorkerConfig,
} from '../infra/config.ts';
import {
  createMetrics,
  instrumentAppends,
  stepLatencyInterceptor,
  type Metrics,
} from '../infra/metrics.ts';
import { survivePostgresRestarts } from '../infra/postgres.ts';
import { agencyKeyName } from '../ledger/keys.ts';
import { parse, refuseEmpty, UsageError } from './args.ts';
import { keyOption, agencyOption, logIdentity } from './keys.ts';
import {
  bundleWorkflows,
  createAgencyWorker,
  createOrchestratorWorker,
  DEFAULT_LOG_ORIGIN,
  installRuntime,
} from './workers.ts';
import { temporalConnectionOptions } from '../infra/temporalTls.ts';

export async function runWorker(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { values } = parse(
    argv,
    {
      agency: { type: 'string' },
      key: { type: 'string' },
      orchestrator: { type: 'boolean' },
      'log-key': { type: 'string' },
    },
    { positionals: false },
  );
  // Each flag belongs to one kind of worker: one given to the other would be ignored unsaid.
  if (values.orchestrator && values.agency !== undefined)
    throw new UsageError('--agency is for an agency worker; the orchestrator takes none');
  if (!values.orchestrator && values['log-key'] !== undefined)
    throw new UsageError('--log-key is for the orchestrator (--orchestrator) only');
  refuseEmpty(values, { 'log-key': 'a key file' });
  if (values.orchestrator) {
    const config = loadConfig(orchestratorConfig, env);
    // Read and checked before anything starts, as the configuration is.
    const temporalOptions = temporalConnectionOptions(config);
    const key = keyOption(
      values.key,
      env,
      'ONEWINDOW_KEY_FILE',
      'every worker signs with its own key',
      agencyKeyName('orchestrator'),
    );
    const logKeyFile = values['log-key'] ?? config.ONEWINDOW_LOG_KEY_FILE;
    if (!logKeyFile) {
      throw new UsageError(
        '--log-key <file> (or ONEWINDOW_LOG_KEY_FILE) is required: the log signs its checkpoints',
      );
    }
    // During a log key rotation the next key signs every checkpoint too (ARCHITECTURE.md §3, Keys).
    const nextLogKeyFile = config.ONEWINDOW_LOG_NEXT_KEY_FILE;
    const log = logIdentity(
      config.ONEWINDOW_LOG_ORIGIN ?? DEFAULT_LOG_ORIGIN,
      logKeyFile,
      nextLogKeyFile,
    );
    const witnesses = witnessPolicyOf(config);
    installRuntime(config.ONEWINDOW_LOG_LEVEL ?? 'WARN');
    const pool = survivePostgresRestarts(
      new pg.Pool({ connectionString: config.DATABASE_URL, max: 8 }),
    );
    const connection = await NativeConnection.connect(temporalOptions);
    const metrics = createMetrics();
    const { worker, sequencer, publisher, close } = await createOrchestratorWorker({
      connection,
      pool,
      workflowBundle: await bundleWorkflows({
        stackTraces: config.ONEWINDOW_WORKFLOW_STACK_TRACES === 'on',
      }),
      log,
      key,
      payloadKey: config.ONEWINDOW_PAYLOAD_KEY,
      witnesses,
    });
    instrumentAppends(sequencer, metrics);
    const ops = await serveOperations(config, worker, metrics);
    const stopRetrying = publisher.every(2000);
    console.error(
      `orchestrator worker polling onewindow.orchestrator; checkpoints need ${witnesses.threshold} of ${witnesses.witnesses.length} witnesses`,
    );
    await runThenClose(worker, [
      stopRetrying,
      () => publisher.idle(),
      close,
      () => closeServer(ops),
      () => connection.close(),
      () => pool.end(),
    ]);
    return 0;
  }
  const agency = agencyOption(values.agency, ' (or pass --orchestrator)');
  const config = loadConfig(workerConfig, env);
  // Read and checked before anything starts, as the configuration is.
  const temporalOptions = temporalConnectionOptions(config);
  const key = keyOption(
    values.key,
    env,
    'ONEWINDOW_KEY_FILE',
    'every worker signs with its own key',
    agencyKeyName(agency),
  );
  installRuntime(config.ONEWINDOW_LOG_LEVEL ?? 'WARN');
  const connection = await NativeConnection.connect(temporalOptions);
  const metrics = createMetrics();
  const worker = await createAgencyWorker({
    connection,
    agency,
    key,
    payloadKey: config.ONEWINDOW_PAYLOAD_KEY,
    interceptors: { activity: [stepLatencyInterceptor(metrics, agency)] },
  });
  const ops = await serveOperations(config, worker, metrics);
  console.error(`${agency} worker polling agency.${agency} with key ${key.keyId}`);
  await runThenClose(worker, [() => closeServer(ops), () => connection.close()]);
  return 0;
}

/**
 * Runs the worker, then closes what it used, in order, whether it stopped or failed: a worker
 * whose run failed (a fatal poll error, its namespace gone) must exit with its error, for its
 * supervisor to restart it, not linger with its health server answering 503 and its pool open.
 * A close that fails is reported and the next one still runs.
 */
export async function runThenClose(
  worker: Pick<Worker, 'run'>,
  closers: readonly (() => unknown)[],
  report: (line: string) => void = console.error,
): Promise<void> {
  try {
    await worker.run();
  } finally {
    for (const close of closers) {
      try {
        await close();
      } catch (error) {
        report(`onewindow: closing after the worker stopped: ${(error as Error).message}`);
      }
    }
  }
}

/**
 * /healthz (200 while the worker polls, 503 while it starts, drains or has failed) and
 * /metrics at ONEWINDOW_OPS_ADDRESS; nothing when it is unset (onewindow dev, tests).
 * A worker has no HTTP server of its own, and a container health check needs something to ask.
 */
async function serveOperations(
  config: Pick<WorkerConfig, 'ONEWINDOW_OPS_ADDRESS'>,
  worker: Pick<Worker, 'getState'>,
  metrics: Metrics,
): Promise<Server | undefined> {
  const address = config.ONEWINDOW_OPS_ADDRESS;
  if (address === undefined) return undefined;
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') {
      response.writeHead(405).end();
    } else if (path === '/healthz') {
      const state = worker.getState();
      response.writeHead(state === 'RUNNING' ? 200 : 503, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ status: state === 'RUNNING' ? 'ok' : state.toLowerCase() }));
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) =>
          response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => response.writeHead(500).end(),
      );
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new UsageError(`ONEWINDOW_OPS_ADDRESS cannot be served: ${error.message}`)),
    );
    server.listen(address.port, address.host, resolve);
  });
  return server;
}

function closeServer(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}
