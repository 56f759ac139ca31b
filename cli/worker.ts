// `onewindow worker --agency <id> --key <file>` and `onewindow worker --orchestrator`:
// one process per agency, as deployed. Configuration comes from the environment.
import { NativeConnection } from '@temporalio/worker';
import pg from 'pg';
import { parse, requireEnv, UsageError } from './args.ts';
import { keyOption, agencyOption, readKeyFile } from './keys.ts';
import { payloadKeyFrom } from './args.ts';
import { witnessPolicy } from './witnessConfig.ts';
import {
  bundleWorkflows,
  createAgencyWorker,
  createOrchestratorWorker,
  DEFAULT_LOG_ORIGIN,
  installRuntime,
} from './workers.ts';

export async function runWorker(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { values } = parse(argv, {
    agency: { type: 'string' },
    key: { type: 'string' },
    orchestrator: { type: 'boolean' },
    'log-key': { type: 'string' },
  });
  const address = env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const level = env.ONEWINDOW_LOG_LEVEL ?? 'WARN';
  if (!['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'].includes(level)) {
    throw new UsageError(
      `ONEWINDOW_LOG_LEVEL must be TRACE, DEBUG, INFO, WARN or ERROR, got ${JSON.stringify(level)}`,
    );
  }
  installRuntime(level as 'WARN');
  const key = keyOption(
    values.key,
    env,
    'ONEWINDOW_KEY_FILE',
    'every worker signs with its own key',
  );
  const payloadKey = payloadKeyFrom(env);
  if (values.orchestrator) {
    const logKeyFile = values['log-key'] ?? env.ONEWINDOW_LOG_KEY_FILE;
    if (!logKeyFile) {
      throw new UsageError(
        '--log-key <file> (or ONEWINDOW_LOG_KEY_FILE) is required: the log signs its checkpoints',
      );
    }
    // During a log key rotation the next key signs every checkpoint too (ARCHITECTURE.md §3, Keys).
    const nextLogKeyFile = env.ONEWINDOW_LOG_NEXT_KEY_FILE;
    const log = {
      origin: env.ONEWINDOW_LOG_ORIGIN ?? DEFAULT_LOG_ORIGIN,
      key: readKeyFile(logKeyFile),
      ...(nextLogKeyFile ? { extraKeys: [readKeyFile(nextLogKeyFile)] } : {}),
    };
    const pool = new pg.Pool({ connectionString: requireEnv(env, 'DATABASE_URL'), max: 8 });
    const connection = await NativeConnection.connect({ address });
    const witnesses = witnessPolicy(env);
    const { worker, publisher, close } = await createOrchestratorWorker({
      connection,
      pool,
      workflowBundle: await bundleWorkflows(),
      log,
      key,
      payloadKey,
      witnesses,
    });
    const stopRetrying = publisher.every(2000);
    console.error(
      `orchestrator worker polling onewindow.orchestrator; checkpoints need ${witnesses.threshold} of ${witnesses.witnesses.length} witnesses`,
    );
    await worker.run();
    stopRetrying();
    await publisher.idle();
    await close();
    await connection.close();
    await pool.end();
    return 0;
  }
  const agency = agencyOption(values.agency, ' (or pass --orchestrator)');
  const connection = await NativeConnection.connect({ address });
  const worker = await createAgencyWorker({ connection, agency, key, payloadKey });
  console.error(`${agency} worker polling agency.${agency} with key ${key.keyId}`);
  await worker.run();
  await connection.close();
  return 0;
}
