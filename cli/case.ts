// `onewindow case erase <caseId>`: erase a closed case's personal data (TEMPORAL_ADDRESS,
// DATABASE_URL, ONEWINDOW_PAYLOAD_KEY: the run's payloads are encrypted with it).
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { z } from 'zod';
import { NotFoundError } from '../domain/errors.ts';
import { caseConfig, loadConfig } from '../infra/config.ts';
import { clientDataConverter } from '../infra/payloadCodec.ts';
import { CaseRunUnknownError, CaseStillOpenError, eraseCase } from '../infra/erasure.ts';
import { parse, UsageError } from './args.ts';
import { temporalConnectionOptions } from '../infra/temporalTls.ts';

export async function runCase(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { positionals } = parse(argv, {});
  const [sub, caseId, ...extra] = positionals;
  if (sub !== 'erase' || !caseId || extra.length > 0)
    throw new UsageError('usage: onewindow case erase <caseId>');
  if (!z.uuid().safeParse(caseId).success)
    throw new UsageError(`case id must be a UUID, got ${JSON.stringify(caseId)}`);
  const config = loadConfig(caseConfig, env);
  // Read and checked before anything starts, as the configuration is.
  const temporalOptions = temporalConnectionOptions(config);
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 2 });
  const connection = await Connection.connect(temporalOptions);
  try {
    const temporal = new Client({
      connection,
      dataConverter: clientDataConverter(config.ONEWINDOW_PAYLOAD_KEY),
    });
    const erasure = await eraseCase({ pool, temporal }, caseId);
    console.log(
      erasure.erasedNow
        ? `erased case ${caseId} at ${erasure.erasedAt}`
        : `case ${caseId} was already erased at ${erasure.erasedAt}`,
    );
    return 0;
  } catch (error) {
    if (
      error instanceof NotFoundError ||
      error instanceof CaseStillOpenError ||
      error instanceof CaseRunUnknownError
    )
      throw new UsageError(error.message);
    throw error;
  } finally {
    await connection.close();
    await pool.end();
  }
}
