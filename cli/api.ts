// `onewindow api`: the HTTP API and the web pages on their own, as deployed. Configuration
// comes from the environment, validated at start by infra/config.ts `apiConfig`:
//   TEMPORAL_ADDRESS, DATABASE_URL, ONEWINDOW_PAYLOAD_KEY      as for the workers
//   ONEWINDOW_TOKEN_PUBLIC_KEY   the token issuer's Ed25519 public key (base64, 32 bytes)
//   ONEWINDOW_KEY_FILE           the operator's statement key: signs the access-audit entries
//   ONEWINDOW_LOG_KEY_FILE, ONEWINDOW_LOG_ORIGIN, ONEWINDOW_WITNESSES, ONEWINDOW_WITNESS_THRESHOLD
//                                the log those entries are appended to (as for the orchestrator)
//   ONEWINDOW_TRUST_FILE         optional: the trust file served at /ledger/trust for the pages
//   PORT, HOST                   where to listen
//   ONEWINDOW_CALLER_REQUESTS_PER_MINUTE, ONEWINDOW_CITIZEN_CASES_PER_DAY,
//   ONEWINDOW_REFUSED_TOKENS_PER_MINUTE
//                                optional: one signed-in caller's limits and one address's
//                                refused tokens (api/app.ts CALLER_LIMITS)
import { hkdfSync } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { ledgerAccessRecorder } from '../api/access.ts';
import { buildApp, CALLER_LIMITS } from '../api/app.ts';
import { tokenVerifier } from '../api/auth.ts';
import { apiConfig, loadConfig, witnessPolicyOf } from '../infra/config.ts';
import {
  createMetrics,
  instrumentAppends,
  pgLedgerSources,
  temporalCaseSources,
} from '../infra/metrics.ts';
import { clientDataConverter } from '../infra/payloadCodec.ts';
import { survivePostgresRestarts } from '../infra/postgres.ts';
import { intOption, parse, UsageError } from './args.ts';
import { agencyKeyName, formatVerifierKey, parseVerifierKey } from '../ledger/keys.ts';
import type { LogIdentity } from '../ledger/pg/sequencer.ts';
import { loadTrust, type TrustFile } from '../ledger/trust.ts';
import { keyOption, logIdentity, readTrustFile } from './keys.ts';
import { hostOption } from './witnessConfig.ts';
import { createLedgerWriter, DEFAULT_LOG_ORIGIN } from './workers.ts';
import { temporalConnectionOptions } from '../infra/temporalTls.ts';

/**
 * The trust file the API serves the pages at /ledger/trust (ONEWINDOW_TRUST_FILE), checked as
 * the verifier commands check one (`loadTrust`: key formats, keys listed twice, key ids) and
 * for the log this API appends to: the pages would otherwise fail every checkpoint, at request
 * time, where the operator may never look.
 * @throws UsageError naming the file and what is wrong with it.
 */
export function servedTrustFile(path: string, log: LogIdentity): TrustFile {
  const { origin } = log;
  const trust = readTrustFile(path, 'ONEWINDOW_TRUST_FILE');
  try {
    loadTrust(trust);
  } catch (error) {
    throw new UsageError(
      `ONEWINDOW_TRUST_FILE ${path}: ${(error as Error).message.replace(/^trust file: /, '')}`,
    );
  }
  if (trust.origin !== origin)
    throw new UsageError(
      `ONEWINDOW_TRUST_FILE ${path} is for the log ${JSON.stringify(trust.origin)}, not this API's ${JSON.stringify(origin)} (ONEWINDOW_LOG_ORIGIN)`,
    );
  // A log of the same origin made afresh (another key) is another log to the pages, which
  // would fail every checkpoint it signs: one of the keys it signs with must be listed.
  // By name and key, as the pages match a checkpoint's signature lines.
  const listed = new Set(
    trust.logKeys.map((text) => {
      const key = parseVerifierKey(text);
      return formatVerifierKey(key.name, key.publicKey);
    }),
  );
  const signers = [log.key, ...(log.extraKeys ?? [])];
  if (!signers.some((key) => listed.has(formatVerifierKey(key.name, key.publicKey))))
    throw new UsageError(
      `ONEWINDOW_TRUST_FILE ${path} lists none of the keys this log signs with (${signers.map((key) => formatVerifierKey(key.name, key.publicKey)).join(', ')})`,
    );
  return trust;
}

/** A 32-byte key for one purpose, from a shared secret (RFC 5869 HKDF-SHA256). */
function derivedKey(secret: Uint8Array, purpose: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), purpose, 32));
}

export async function runApi(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { values } = parse(
    argv,
    { port: { type: 'string' }, host: { type: 'string' } },
    { positionals: false },
  );
  const host = hostOption(values.host);
  const config = loadConfig(apiConfig, env);
  // Read and checked before anything starts, as the configuration is.
  const temporalOptions = temporalConnectionOptions(config);
  const port = intOption(values.port, 'port', config.PORT, 1);
  const log = logIdentity(
    config.ONEWINDOW_LOG_ORIGIN ?? DEFAULT_LOG_ORIGIN,
    config.ONEWINDOW_LOG_KEY_FILE,
    config.ONEWINDOW_LOG_NEXT_KEY_FILE,
  );
  const trust = config.ONEWINDOW_TRUST_FILE
    ? servedTrustFile(config.ONEWINDOW_TRUST_FILE, log)
    : undefined;
  // The access-audit entries are the operator's, signed with the orchestrator's key: an
  // agency's key here would have every audited read refused by the ledger, at request time.
  const key = keyOption(
    undefined,
    env,
    'ONEWINDOW_KEY_FILE',
    'the operator statement key signs the access audit',
    agencyKeyName('orchestrator'),
  );
  const pool = survivePostgresRestarts(
    new pg.Pool({ connectionString: config.DATABASE_URL, max: 16 }),
  );
  const connection = await Connection.connect(temporalOptions);
  const temporal = new Client({
    connection,
    dataConverter: clientDataConverter(config.ONEWINDOW_PAYLOAD_KEY),
  });
  const writer = createLedgerWriter({
    pool,
    log,
    witnesses: witnessPolicyOf(config),
    verifyThreads: 1,
  });
  const metrics = createMetrics({ ...temporalCaseSources(temporal), ...pgLedgerSources(pool) });
  instrumentAppends(writer.sequencer, metrics);
  const app = await buildApp({
    temporal,
    pool,
    logger: true,
    verifyToken: tokenVerifier(config.ONEWINDOW_TOKEN_PUBLIC_KEY),
    recordAccess: ledgerAccessRecorder({ key, append: (s) => writer.sequencer.append(s), pool }),
    metrics,
    // Every API process derives the same page-token key from the shared payload key, so a
    // page token from one process is good at any other behind the same load balancer.
    pageTokenKey: derivedKey(config.ONEWINDOW_PAYLOAD_KEY.key, 'onewindow/page-tokens'),
    ...(config.ONEWINDOW_TRUSTED_PROXIES
      ? { trustedProxies: config.ONEWINDOW_TRUSTED_PROXIES }
      : {}),
    ...(trust ? { trust } : {}),
    callerLimits: {
      requestsPerMinute:
        config.ONEWINDOW_CALLER_REQUESTS_PER_MINUTE ?? CALLER_LIMITS.requestsPerMinute,
      casesPerDay: config.ONEWINDOW_CITIZEN_CASES_PER_DAY ?? CALLER_LIMITS.casesPerDay,
      refusedTokensPerMinute:
        config.ONEWINDOW_REFUSED_TOKENS_PER_MINUTE ?? CALLER_LIMITS.refusedTokensPerMinute,
    },
  });
  await app.listen({ port, host: host ?? config.HOST });
  // As the orchestrator's worker does: a checkpoint of access entries whose witnesses were
  // away when it was made gets published once they are back, not at the next read.
  const stopRetrying = writer.publisher.every(2000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // Graceful: stop taking requests and finish those in flight, then let the sequencer's last
  // batch commit and the publisher send its last checkpoint before closing the pools.
  await app.close();
  stopRetrying();
  await writer.publisher.idle();
  await writer.close();
  await connection.close();
  await pool.end();
  return 0;
}
