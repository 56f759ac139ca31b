// `onewindow api`: the HTTP API and the web pages on their own, as deployed.
//   TEMPORAL_ADDRESS, DATABASE_URL, ONEWINDOW_PAYLOAD_KEY      as for the workers
//   ONEWINDOW_TOKEN_PUBLIC_KEY   the token issuer's Ed25519 public key (base64, 32 bytes)
//   ONEWINDOW_KEY_FILE           the operator's statement key: signs the access-audit entries
//   ONEWINDOW_LOG_KEY_FILE, ONEWINDOW_LOG_ORIGIN, ONEWINDOW_WITNESSES, ONEWINDOW_WITNESS_THRESHOLD
//                                the log those entries are appended to (as for the orchestrator)
//   ONEWINDOW_TRUST_FILE         optional: the trust file served at /ledger/trust for the pages
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { ledgerAccessRecorder } from '../api/access.ts';
import { buildApp } from '../api/app.ts';
import { tokenVerifier, type VerifyToken } from '../api/auth.ts';
import { fromBase64 } from '../ledger/bytes.ts';
import { TrustFile } from '../ledger/trust.ts';
import { clientDataConverter } from '../infra/payloadCodec.ts';
import { intOption, parse, payloadKeyFrom, requireEnv, UsageError } from './args.ts';
import { keyOption, readKeyFile } from './keys.ts';
import { witnessPolicy } from './witnessConfig.ts';
import { createLedgerWriter, DEFAULT_LOG_ORIGIN } from './workers.ts';

/** The token checker for ONEWINDOW_TOKEN_PUBLIC_KEY, or a UsageError naming what is wrong. */
export function tokenVerifierFrom(env: NodeJS.ProcessEnv): VerifyToken {
  const text = requireEnv(env, 'ONEWINDOW_TOKEN_PUBLIC_KEY');
  let key: Uint8Array;
  try {
    key = fromBase64(text.trim());
  } catch {
    throw new UsageError('ONEWINDOW_TOKEN_PUBLIC_KEY must be base64');
  }
  if (key.length !== 32)
    throw new UsageError(`ONEWINDOW_TOKEN_PUBLIC_KEY must be 32 bytes, got ${key.length}`);
  return tokenVerifier(key);
}

/** The trust file named by ONEWINDOW_TRUST_FILE, if any. */
export function trustFileFrom(env: NodeJS.ProcessEnv): TrustFile | undefined {
  const path = env.ONEWINDOW_TRUST_FILE;
  if (!path) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`ONEWINDOW_TRUST_FILE ${path}: ${(error as Error).message}`);
  }
  const trust = TrustFile.safeParse(json);
  if (!trust.success)
    throw new UsageError(
      `ONEWINDOW_TRUST_FILE ${path}: ${trust.error.issues[0]?.path.join('.')} ${trust.error.issues[0]?.message}`,
    );
  return trust.data;
}

export async function runApi(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { values } = parse(argv, { port: { type: 'string' }, host: { type: 'string' } });
  const port = intOption(values.port ?? env.PORT, 'port', 3000, 1);
  const verifyToken = tokenVerifierFrom(env);
  const trust = trustFileFrom(env);
  const payloadKey = payloadKeyFrom(env);
  const key = keyOption(
    undefined,
    env,
    'ONEWINDOW_KEY_FILE',
    'the API signs the access-audit entries with the operator key',
  );
  const log = {
    origin: env.ONEWINDOW_LOG_ORIGIN ?? DEFAULT_LOG_ORIGIN,
    key: readKeyFile(requireEnv(env, 'ONEWINDOW_LOG_KEY_FILE')),
  };
  const witnesses = witnessPolicy(env);
  const pool = new pg.Pool({ connectionString: requireEnv(env, 'DATABASE_URL'), max: 16 });
  const connection = await Connection.connect({
    address: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
  });
  const writer = createLedgerWriter({ pool, log, witnesses, verifyThreads: 1 });
  const app = await buildApp({
    temporal: new Client({ connection, dataConverter: clientDataConverter(payloadKey) }),
    pool,
    logger: true,
    verifyToken,
    recordAccess: ledgerAccessRecorder({ key, append: (s) => writer.sequencer.append(s) }),
    ...(trust ? { trust } : {}),
  });
  await app.listen({ port, host: values.host ?? env.HOST ?? '127.0.0.1' });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await app.close();
  await writer.publisher.idle();
  await writer.close();
  await connection.close();
  await pool.end();
  return 0;
}
