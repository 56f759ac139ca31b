// Composition of workers: which activities each agency's worker registers, with which key.
import { fileURLToPath } from 'node:url';
import {
  bundleWorkflowCode,
  DefaultLogger,
  type BundleOptions,
  Runtime,
  Worker,
  type NativeConnection,
  type WorkerOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { agencyTaskQueue, ORCHESTRATOR_TASK_QUEUE, type Agency } from '../domain/agency.ts';
import {
  createHousingActivities,
  createRegistryActivities,
  createTaxActivities,
  createSafetyInspectionActivities,
  createUtilityActivities,
} from '../activities/agencies.ts';
import { createOrchestratorActivities } from '../activities/orchestrator.ts';
import { createDeskActivities } from '../activities/desk.ts';
import { simulatedHousing } from '../agencies/housing.ts';
import { simulatedRegistry } from '../agencies/registry.ts';
import { simulatedTax } from '../agencies/tax.ts';
import { simulatedUtility } from '../agencies/utility.ts';
import type { SigningKey } from '../ledger/keys.ts';
import {
  failureConverterPath,
  workerDataConverter,
  type PayloadKey,
} from '../infra/payloadCodec.ts';
import { KeyRegistry } from '../ledger/pg/keyRegistry.ts';
import { Sequencer, type LogIdentity } from '../ledger/pg/sequencer.ts';
import { VerifyPool } from '../infra/verifyPool.ts';
import { CheckpointPublisher, type WitnessPolicyConfig } from '../ledger/pg/publisher.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

const stackTraceLimitPath = fileURLToPath(
  new URL('../workflows/stackTraceLimit.ts', import.meta.url),
);

/**
 * How a workflow bundle's sandbox is set up: without workflow stack traces unless asked for
 * (workflows/stackTraceLimit.ts says what that costs and what it loses). The preload runs only
 * in the SDK's reusable V8 context (`reuseV8Context`, the default), so no worker here turns
 * that off. The cases benchmark's baseline is bundled the same way, so the ratio compares
 * like with like.
 */
export function sandboxOptions(stackTraces: boolean): Pick<BundleOptions, 'preloadModules'> {
  return stackTraces ? {} : { preloadModules: [stackTraceLimitPath] };
}

/** Bundle once and hand the bundle to every worker: each unbundled create costs about a second. */
export async function bundleWorkflows(
  options: { stackTraces?: boolean } = {},
): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath,
    failureConverterPath,
    ...sandboxOptions(options.stackTraces ?? false),
    logger: {
      trace() {},
      debug() {},
      info() {},
      warn: console.warn,
      error: console.error,
      log() {},
    },
  });
}

/**
 * Replays each workflow's history, fetched from Temporal, against `workflowBundle`: the check
 * that workflow code still accepts the histories of real runs (bench/cases.ts replays every
 * case it timed; the fault test every case it carried through the faults).
 * @returns how many replayed. @throws Error naming the first that does not replay.
 */
export async function replayWorkflows(
  client: Client,
  workflowIds: readonly string[],
  workflowBundle: WorkflowBundleWithSourceMap,
  payloadKey: PayloadKey,
): Promise<number> {
  const histories = (async function* () {
    for (const workflowId of workflowIds)
      yield { workflowId, history: await client.workflow.getHandle(workflowId).fetchHistory() };
  })();
  let replayed = 0;
  for await (const result of Worker.runReplayHistories(
    { workflowBundle, dataConverter: workerDataConverter(payloadKey), replayName: 'replay' },
    histories,
  )) {
    if (result.error)
      throw new Error(`${result.workflowId} does not replay: ${String(result.error)}`);
    replayed++;
  }
  return replayed;
}

/** How long a stopping worker lets its activities finish before handing them back. */
const SHUTDOWN_GRACE = '10 seconds';

/** The log's origin line (C2SP tlog-checkpoint) unless ONEWINDOW_LOG_ORIGIN says otherwise. */
export const DEFAULT_LOG_ORIGIN = 'onewindow.dev/ledger';

/** Agencies that run a worker in this build of the process. */
export const AGENCIES_WITH_WORKERS: readonly Agency[] = [
  'housing',
  'tax',
  'registry',
  'electricity',
  'water',
  'gas',
];

/**
 * An agency's activities on its simulated system (agencies/README.md), and its desk for
 * people's decisions, all signing with `key`.
 */
export function agencyActivities(agency: Agency, key: SigningKey): object {
  return { ...stepActivities(agency, key), ...createDeskActivities({ agency, key }) };
}

function stepActivities(agency: Agency, key: SigningKey): object {
  switch (agency) {
    case 'housing':
      return createHousingActivities({ key, system: simulatedHousing() });
    case 'tax':
      return createTaxActivities({ key, system: simulatedTax() });
    case 'registry':
      return createRegistryActivities({ key, system: simulatedRegistry() });
    case 'electricity':
    case 'water':
      return createUtilityActivities({ agency, key, system: simulatedUtility(agency) });
    case 'gas': {
      // One system: the inspection its officer records is the one the holder change asks for.
      const system = simulatedUtility(agency);
      return {
        ...createUtilityActivities({ agency, key, system }),
        ...createSafetyInspectionActivities({ system }),
      };
    }
  }
}

export async function createAgencyWorker(opts: {
  connection: NativeConnection;
  namespace?: string;
  agency: Agency;
  key: SigningKey;
  activities?: object;
  payloadKey: PayloadKey;
  /** Activity interceptors (tests record what each agency receives). */
  interceptors?: WorkerOptions['interceptors'];
}): Promise<Worker> {
  return Worker.create({
    dataConverter: workerDataConverter(opts.payloadKey),
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: agencyTaskQueue(opts.agency),
    activities: opts.activities ?? agencyActivities(opts.agency, opts.key),
    // On SIGTERM the SDK stops polling; steps in flight get this long to finish, then are
    // cancelled and Temporal retries them on another worker (they are idempotent).
    shutdownGraceTime: SHUTDOWN_GRACE,
    ...(opts.interceptors ? { interceptors: opts.interceptors } : {}),
  });
}

export async function createOrchestratorWorker(opts: {
  connection: NativeConnection;
  namespace?: string;
  pool: pg.Pool;
  workflowBundle: WorkflowBundleWithSourceMap;
  log: LogIdentity;
  /** The orchestrator's own statement key (case summaries, supervisors' resolutions). */
  key: SigningKey;
  payloadKey: PayloadKey;
  /** Witnesses and the k-of-n policy; without them every checkpoint is published as signed. */
  witnesses?: WitnessPolicyConfig;
}): Promise<{
  worker: Worker;
  sequencer: Sequencer;
  publisher: CheckpointPublisher;
  close: () => Promise<void>;
}> {
  const { sequencer, publisher, close } = createLedgerWriter(opts);
  const worker = await Worker.create({
    dataConverter: workerDataConverter(opts.payloadKey),
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    workflowBundle: opts.workflowBundle,
    shutdownGraceTime: SHUTDOWN_GRACE,
    // Cases wait days for people: keep a bounded number in memory (measured: 2.4 GB with
    // 1,000 cases in flight and no bound); an evicted case is replayed when it next moves.
    maxCachedWorkflows: 400,
    activities: createOrchestratorActivities({ pool: opts.pool, sequencer, key: opts.key }),
  });
  return { worker, sequencer, publisher, close };
}

/**
 * The log's writer in this process: a sequencer (the advisory lock keeps it single across
 * processes) whose checkpoints go to the witnesses, published once k of n cosign.
 */
export function createLedgerWriter(opts: {
  pool: pg.Pool;
  log: LogIdentity;
  witnesses?: WitnessPolicyConfig;
  /** Verify threads; the orchestrator uses every core, the API fewer. */
  verifyThreads?: number;
  /** Least ms between the starts of two witness rounds (default DEFAULT_PUBLISH_INTERVAL_MS). */
  publishIntervalMs?: number;
}): { sequencer: Sequencer; publisher: CheckpointPublisher; close: () => Promise<void> } {
  // Signature checks on every core: the sequencer's throughput is bounded by them.
  const verifyPool = new VerifyPool(opts.verifyThreads);
  const sequencer = new Sequencer(opts.pool, new KeyRegistry(opts.pool), opts.log, { verifyPool });
  const publisher = new CheckpointPublisher(
    opts.pool,
    opts.witnesses ?? { witnesses: [], threshold: 0 },
    console.error,
    opts.publishIntervalMs,
  );
  sequencer.onCheckpoint(() => {
    publisher
      .request()
      .catch((error: unknown) => console.error(`publishing a checkpoint failed: ${String(error)}`));
  });
  return { sequencer, publisher, close: () => verifyPool.close() };
}

let runtimeInstalled = false;

/** JSON.stringify replacer for log metadata: bigints as strings, errors by name and message. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/** Installs the Temporal runtime once per process with a logger at `level` (workers log a lot at INFO). */
export function installRuntime(
  level: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' = 'WARN',
): void {
  if (runtimeInstalled) return;
  // One JSON object per line on stderr (workflow logs carry caseId and stepId; the SDK adds
  // workflowId, runId, taskQueue, activityType), for any log collector to index.
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      process.stderr.write(
        `${JSON.stringify(
          {
            time: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
            level: entry.level.toLowerCase(),
            msg: entry.message,
            ...entry.meta,
          },
          jsonSafe,
        )}\n`,
      );
    }),
  });
  runtimeInstalled = true;
}
