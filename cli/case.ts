// `onewindow case erase <caseId>`: erase a closed case's personal data (TEMPORAL_ADDRESS, DATABASE_URL).
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { z } from 'zod';
import { NotFoundError } from '../domain/errors.ts';
import { CaseStillOpenError, eraseCase } from '../infra/erasure.ts';
import { parse, requireEnv, UsageError } from './args.ts';

export async function runCase(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { positionals } = parse(argv, {});
  const [sub, caseId] = positionals;
  if (sub !== 'erase' || !caseId) throw new UsageError('usage: onewindow case erase <caseId>');
  if (!z.uuid().safeParse(caseId).success)
    throw new UsageError(`case id must be a UUID, got ${JSON.stringify(caseId)}`);
  const pool = new pg.Pool({ connectionString: requireEnv(env, 'DATABASE_URL'), max: 2 });
  const connection = await Connection.connect({
    address: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
  });
  try {
    const erasure = await eraseCase({ pool, temporal: new Client({ connection }) }, caseId);
    console.log(
      erasure.erasedNow
        ? `erased case ${caseId} at ${erasure.erasedAt}`
        : `case ${caseId} was already erased at ${erasure.erasedAt}`,
    );
    return 0;
  } catch (error) {
    if (error instanceof NotFoundError || error instanceof CaseStillOpenError)
      throw new UsageError(error.message);
    throw error;
  } finally {
    await connection.close();
    await pool.end();
  }
}
