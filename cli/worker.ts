// `onewindow worker --agency <id> --key <file>` and `onewindow worker --orchestrator`:
// one process per agency, as deployed. Configuration comes from the environment.
import { NativeConnection } from '@temporalio/worker';
import pg from 'pg';
import { Agency } from '../domain/agency.ts';
import { parse, requireEnv, UsageError } from './args.ts';
import { readKeyFile } from './keys.ts';
import {
  bundleWorkflows,
  createAgencyWorker,
  createOrchestratorWorker,
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
  });
  const address = env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  installRuntime('WARN');
  if (values.orchestrator) {
    const pool = new pg.Pool({ connectionString: requireEnv(env, 'DATABASE_URL'), max: 8 });
    const connection = await NativeConnection.connect({ address });
    const { worker } = await createOrchestratorWorker({
      connection,
      pool,
      workflowBundle: await bundleWorkflows(),
    });
    console.error('orchestrator worker polling onewindow.orchestrator');
    await worker.run();
    await connection.close();
    await pool.end();
    return 0;
  }
  const agency = Agency.safeParse(values.agency);
  if (!agency.success)
    throw new UsageError(
      `--agency must be one of ${Agency.options.join(', ')} (or pass --orchestrator)`,
    );
  const keyFile = values.key ?? env.ONEWINDOW_KEY_FILE;
  if (!keyFile)
    throw new UsageError(
      '--key <file> (or ONEWINDOW_KEY_FILE) is required: each agency signs with its own key',
    );
  const key = readKeyFile(keyFile);
  const connection = await NativeConnection.connect({ address });
  const worker = await createAgencyWorker({ connection, agency: agency.data, key });
  console.error(`${agency.data} worker polling agency.${agency.data} with key ${key.keyId}`);
  await worker.run();
  await connection.close();
  return 0;
}
