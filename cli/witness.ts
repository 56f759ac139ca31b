// `onewindow witness --agency <id> --key <file>`: an agency's C2SP tlog-witness.
// Configuration comes from the environment and is checked whole at start (infra/config.ts):
// ONEWINDOW_WITNESS_DATABASE_URL (a database of the agency's own, where the witness creates
// its tables) or else DATABASE_URL (the log's, migrated by the operator),
// ONEWINDOW_LOG_PUBLIC_KEY, ONEWINDOW_LOG_ORIGIN, ONEWINDOW_WITNESS_KEY_FILE (--key takes
// precedence). Where it listens: --host (default 127.0.0.1) and --port (0: any).
import pg from 'pg';
import { buildWitnessApp } from '../api/witnessApp.ts';
import { loadConfig, witnessConfig } from '../infra/config.ts';
import { formatCosignerVerifierKey } from '../ledger/cosignature.ts';
import { survivePostgresRestarts } from '../infra/postgres.ts';
import { prepareWitnessDatabase } from '../ledger/pg/witnessSchema.ts';
import { intOption, parse, UsageError } from './args.ts';
import { agencyOption, keyOption, witnessKeyName } from './keys.ts';
import { hostOption } from './witnessConfig.ts';
import { DEFAULT_LOG_ORIGIN } from './workers.ts';

export async function runWitness(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { values } = parse(
    argv,
    {
      agency: { type: 'string' },
      key: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
    },
    { positionals: false },
  );
  const host = hostOption(values.host) ?? '127.0.0.1';
  const agency = agencyOption(values.agency);
  const config = loadConfig(witnessConfig, env);
  const key = keyOption(
    values.key,
    env,
    'ONEWINDOW_WITNESS_KEY_FILE',
    'the witness cosigns with its own key',
    witnessKeyName(agency),
  );
  const port = intOption(values.port, 'port', 0, 0);
  const origin = config.ONEWINDOW_LOG_ORIGIN ?? DEFAULT_LOG_ORIGIN;
  // As logIdentity for the log itself: C2SP names a log's key after its origin, so a key of
  // another name is another log's, or this origin is mistyped or unset, and every checkpoint
  // the log sends would be refused as of an unknown log. Refused at start instead.
  for (const logKey of config.ONEWINDOW_LOG_PUBLIC_KEY)
    if (logKey.name !== origin)
      throw new UsageError(
        `ONEWINDOW_LOG_PUBLIC_KEY holds the key of ${JSON.stringify(logKey.name)}, not of this log's origin ${JSON.stringify(origin)} (ONEWINDOW_LOG_ORIGIN${config.ONEWINDOW_LOG_ORIGIN === undefined ? ', unset: the default' : ''})`,
      );
  const logs = new Map([[origin, config.ONEWINDOW_LOG_PUBLIC_KEY]]);
  const ownDatabase = config.ONEWINDOW_WITNESS_DATABASE_URL;
  const pool = survivePostgresRestarts(
    new pg.Pool({ connectionString: ownDatabase ?? config.DATABASE_URL, max: 4 }),
  );
  if (ownDatabase) await prepareWitnessDatabase(pool);
  const app = buildWitnessApp({ pool, config: { key, logs } });
  // Liveness for the container health check. Not readiness: while PostgreSQL is away,
  // add-checkpoint fails and the log's publisher retries, so there is nothing to gate here.
  app.get('/healthz', () => Promise.resolve({ status: 'ok' }));
  const url = await app.listen({ port, host });
  console.error(
    `${agency} witness at ${url} with key ${formatCosignerVerifierKey(key.name, key.publicKey)}, its state in ${ownDatabase ? 'a database of its own' : "the log's database"}`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await app.close();
  await pool.end();
  return 0;
}
