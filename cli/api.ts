// `onewindow api`: the HTTP API on its own, as deployed.
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { buildApp } from '../api/app.ts';
import { intOption, parse, payloadKeyFrom, requireEnv } from './args.ts';
import { clientDataConverter } from '../infra/payloadCodec.ts';

export async function runApi(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { values } = parse(argv, { port: { type: 'string' }, host: { type: 'string' } });
  const port = intOption(values.port ?? env.PORT, 'port', 3000, 1);
  const pool = new pg.Pool({ connectionString: requireEnv(env, 'DATABASE_URL'), max: 16 });
  const connection = await Connection.connect({
    address: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
  });
  const app = await buildApp({
    temporal: new Client({ connection, dataConverter: clientDataConverter(payloadKeyFrom(env)) }),
    pool,
    logger: true,
  });
  await app.listen({ port, host: values.host ?? '127.0.0.1' });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await app.close();
  await connection.close();
  await pool.end();
  return 0;
}
