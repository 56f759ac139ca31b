// `onewindow witness --agency <id> --key <file>`: an agency's C2SP tlog-witness.
import pg from 'pg';
import { buildWitnessApp } from '../api/witnessApp.ts';
import { formatCosignerVerifierKey } from '../ledger/cosignature.ts';
import { intOption, parse, requireEnv } from './args.ts';
import { agencyOption, keyOption } from './keys.ts';
import { logVerifierKeys } from './witnessConfig.ts';
import { DEFAULT_LOG_ORIGIN } from './workers.ts';

export async function runWitness(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { values } = parse(argv, {
    agency: { type: 'string' },
    key: { type: 'string' },
    port: { type: 'string' },
  });
  const agency = agencyOption(values.agency);
  const key = keyOption(
    values.key,
    env,
    'ONEWINDOW_WITNESS_KEY_FILE',
    'the witness cosigns with its own key',
  );
  const port = intOption(values.port, 'port', 0, 0);
  const logs = new Map([[env.ONEWINDOW_LOG_ORIGIN ?? DEFAULT_LOG_ORIGIN, logVerifierKeys(env)]]);
  const pool = new pg.Pool({ connectionString: requireEnv(env, 'DATABASE_URL'), max: 4 });
  const app = buildWitnessApp({ pool, config: { key, logs } });
  const url = await app.listen({ port, host: '127.0.0.1' });
  console.error(
    `${agency} witness at ${url} with key ${formatCosignerVerifierKey(key.name, key.publicKey)}`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await app.close();
  await pool.end();
  return 0;
}
