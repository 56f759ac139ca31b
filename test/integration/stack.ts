// Wires the real pieces for an integration test: the shared Temporal dev server and
// PostgreSQL from globalSetup, an orchestrator worker, one worker per agency with its own
// freshly generated key (registered in the key registry), and the API.
import { Client, Connection } from '@temporalio/client';
import {
  NativeConnection,
  type ActivityInboundCallsInterceptor,
  type Worker,
} from '@temporalio/worker';
import { activityInfo } from '@temporalio/activity';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { STATEMENT_TYPE, type SignedStatement, type Statement } from '../../domain/statement.ts';
import { toBase64 } from '../../ledger/bytes.ts';
import { signStatement } from '../../ledger/statement.ts';
import { Agency } from '../../domain/agency.ts';
import { buildApp, SCRIPTED_CALLER_LIMITS } from '../../api/app.ts';
import { generateRegisteredKeys } from '../../cli/keys.ts';
import {
  bundleWorkflows,
  createAgencyWorker,
  createOrchestratorWorker,
  installRuntime,
} from '../../cli/workers.ts';
import {
  agencyKeyName,
  formatVerifierKey,
  generateSigningKey,
  parseVerifierKey,
  type SigningKey,
} from '../../ledger/keys.ts';
import type { Sequencer } from '../../ledger/pg/sequencer.ts';
import { addAgencyKey, revokeAgencyKey } from '../../ledger/pg/keyRegistry.ts';
import type { CheckpointPublisher } from '../../ledger/pg/publisher.ts';
import { buildWitnessApp } from '../../api/witnessApp.ts';
import { prepareDatabase } from '../../infra/postgres.ts';
import { clientDataConverter, parsePayloadKey, type PayloadKey } from '../../infra/payloadCodec.ts';
import { cosignerKeyOf, formatCosignerVerifierKey } from '../../ledger/cosignature.ts';
import type { TrustFile } from '../../ledger/trust.ts';
import { ledgerAccessRecorder } from '../../api/access.ts';
import { issueToken, tokenVerifier, type Principal, type VerifyToken } from '../../api/auth.ts';

/**
 * A database of its own on the shared server, for a test that needs a log no other test
 * file appends to (e.g. one that expects exact tile shapes).
 */
export async function freshDatabase(): Promise<{ adminUrl: string; appUrl: string }> {
  const name = `onewindow_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Pool({ connectionString: inject('adminDatabaseUrl'), max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(inject('adminDatabaseUrl'));
  url.pathname = `/${name}`;
  // Roles are cluster-wide: keep the application role's password the other tests use.
  const appPassword = decodeURIComponent(new URL(inject('databaseUrl')).password);
  return { adminUrl: url.toString(), appUrl: await prepareDatabase(url.toString(), appPassword) };
}

/**
 * A fixed, test-only payload key: the recorded histories in test/histories are encrypted
 * with it, so the replay test can decode them. It protects nothing real.
 */
export const TEST_PAYLOAD_KEY = 'test:b25ld2luZG93LXRlc3Qtb25seS1wYXlsb2FkLWtleSE=';

export const TEST_LOG_ORIGIN = 'test.onewindow/ledger';
export const WITNESS_AGENCIES = ['housing', 'tax', 'water'] as const;

export interface ReceivedInput {
  agency: Agency;
  activity: string;
  args: unknown[];
}

export interface Stack {
  app: FastifyInstance;
  /** Checks the tokens `as` issues: for another app on the stack (other caller limits). */
  verifyToken: VerifyToken;
  client: Client;
  pool: pg.Pool;
  /** The application role's URL of the stack's database, for a CLI run against it. */
  databaseUrl: string;
  adminPool: pg.Pool;
  keys: Record<string, SigningKey>;
  payloadKey: PayloadKey;
  received: ReceivedInput[];
  logKey: SigningKey;
  witnessKeys: SigningKey[];
  witnessUrls: string[];
  sequencer: Sequencer;
  publisher: CheckpointPublisher;
  /**
   * Authorization headers for any caller, signed by the stack's token issuer; `token` sets
   * when it was issued and how long it lives (an expired token: a past `now`).
   */
  as(principal: Principal, token?: { now?: Date; seconds?: number }): Promise<Headers>;
  /** The applicant of every sample case (sub `citizen-1`). */
  citizen: Headers;
  supervisor: Headers;
  /** One officer per agency, as the agency's own systems sign in. */
  officer: Record<Agency, Headers>;
  /**
   * Shuts the orchestrator's worker down and starts another that signs with `key`, as a
   * restart after `keys rotate` does. Its sequencer is its own; `sequencer` stays the first.
   */
  replaceOrchestrator(key: SigningKey): Promise<void>;
  /**
   * Shuts the orchestrator's worker down (the cases' workflow tasks wait on the server);
   * the function returned starts another with the orchestrator's current key.
   */
  pauseOrchestrator(): Promise<() => Promise<void>>;
  stop(): Promise<void>;
}

export type Headers = { authorization: string };

export async function startStack(
  agencies: readonly Agency[],
  options: { timeScale?: number; freshDatabase?: boolean } = {},
): Promise<Stack> {
  installRuntime('WARN');
  const database = options.freshDatabase
    ? await freshDatabase()
    : { adminUrl: inject('adminDatabaseUrl'), appUrl: inject('databaseUrl') };
  const pool = new pg.Pool({ connectionString: database.appUrl, max: 8 });
  const adminPool = new pg.Pool({ connectionString: database.adminUrl, max: 2 });
  const keys = await generateRegisteredKeys(adminPool, [
    'housing',
    'tax',
    'registry',
    'electricity',
    'water',
    'gas',
    'orchestrator',
  ]);
  const address = inject('temporalAddress');
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const payloadKey = parsePayloadKey(TEST_PAYLOAD_KEY);
  const client = new Client({ connection, dataConverter: clientDataConverter(payloadKey) });
  const logKey = generateSigningKey(TEST_LOG_ORIGIN);
  // Three agencies witness the log; two cosignatures publish a checkpoint.
  const witnessKeys = WITNESS_AGENCIES.map((agency) =>
    generateSigningKey(`${agency}.witness.test`),
  );
  const logs = new Map([
    [TEST_LOG_ORIGIN, [parseVerifierKey(formatVerifierKey(logKey.name, logKey.publicKey))]],
  ]);
  const witnessApps = witnessKeys.map((key) => buildWitnessApp({ pool, config: { key, logs } }));
  const witnessUrls = await Promise.all(
    witnessApps.map((w) => w.listen({ port: 0, host: '127.0.0.1' })),
  );
  const orchestratorOptions = {
    connection: nativeConnection,
    pool,
    workflowBundle: await bundleWorkflows(),
    log: { origin: TEST_LOG_ORIGIN, key: logKey },
    payloadKey,
    witnesses: {
      witnesses: witnessKeys.map((key, i) => ({ url: witnessUrls[i]!, key: cosignerKeyOf(key) })),
      threshold: 2,
    },
  };
  const {
    worker: orchestrator,
    sequencer,
    publisher,
    close: closeOrchestrator,
  } = await createOrchestratorWorker({ ...orchestratorOptions, key: keys.orchestrator });
  // Every orchestrator this stack ran (replaceOrchestrator starts another): closed at stop.
  const ledgerWriters = [{ publisher, close: closeOrchestrator }];
  // What each agency's worker received, exactly as delivered: the data-minimisation proof.
  const received: ReceivedInput[] = [];
  const recorder = (agency: Agency): ActivityInboundCallsInterceptor => ({
    execute(input, next) {
      received.push({ agency, activity: activityInfo().activityType, args: input.args });
      return next(input);
    },
  });
  const workers: Worker[] = [orchestrator];
  for (const agency of agencies) {
    workers.push(
      await createAgencyWorker({
        connection: nativeConnection,
        agency,
        key: keys[agency],
        payloadKey,
        interceptors: { activity: [() => ({ inbound: recorder(agency) })] },
      }),
    );
  }
  const running = workers.map((w) => w.run());
  let orchestratorAt = 0;
  let orchestratorKey = keys.orchestrator;
  const shutDown = new Set<Worker>();
  const pauseOrchestrator = async () => {
    const current = workers[orchestratorAt]!;
    shutDown.add(current);
    current.shutdown();
    await running[orchestratorAt];
    return async () => {
      const next = await createOrchestratorWorker({ ...orchestratorOptions, key: orchestratorKey });
      ledgerWriters.push(next);
      workers.push(next.worker);
      running.push(next.worker.run());
      orchestratorAt = workers.length - 1;
    };
  };
  const tokenKey = generateSigningKey('tokens.test');
  const verifyToken = tokenVerifier(tokenKey.publicKey);
  const app = await buildApp({
    temporal: client,
    pool,
    ...(options.timeScale ? { timeScale: options.timeScale } : {}),
    verifyToken,
    // A test file's cases are citizen-1's; api/caseRoutes.test.ts tests the limits.
    callerLimits: SCRIPTED_CALLER_LIMITS,
    recordAccess: ledgerAccessRecorder({
      key: keys.orchestrator,
      append: (signed) => sequencer.append(signed),
      pool,
    }),
    // Every agency key the shared database holds: other test files append with their own keys.
    trust: () => registeredTrust(pool, logKey, witnessKeys),
  });
  const as = async (
    principal: Principal,
    token: { now?: Date; seconds?: number } = {},
  ): Promise<Headers> => ({
    authorization: `Bearer ${await issueToken(tokenKey.seed, principal, token.seconds ?? 3600, token.now)}`,
  });
  const officer = {} as Record<Agency, Headers>;
  for (const agency of Agency.options)
    officer[agency] = await as({ role: 'officer', sub: `officer-${agency}`, agency });
  return {
    app,
    verifyToken,
    client,
    pool,
    databaseUrl: database.appUrl,
    adminPool,
    keys,
    payloadKey,
    received,
    logKey,
    witnessKeys,
    witnessUrls,
    sequencer,
    publisher,
    as,
    citizen: await as({ role: 'citizen', sub: 'citizen-1' }),
    supervisor: await as({ role: 'supervisor', sub: 'supervisor-1' }),
    officer,
    async replaceOrchestrator(key) {
      const resume = await pauseOrchestrator();
      orchestratorKey = key;
      await resume();
    },
    pauseOrchestrator,
    async stop() {
      await app.close();
      for (const w of workers) if (!shutDown.has(w)) w.shutdown();
      await Promise.all(running);
      for (const writer of ledgerWriters) {
        await writer.publisher.idle();
        await writer.close();
      }
      await Promise.all(witnessApps.map((w) => w.close()));
      await nativeConnection.close();
      await connection.close();
      await pool.end();
      await adminPool.end();
    },
  };
}

/** The trust file of the test stack: its log and witness keys, and every registered agency key. */
export async function registeredTrust(
  pool: pg.Pool,
  logKey: SigningKey,
  witnessKeys: readonly SigningKey[],
): Promise<TrustFile> {
  const { rows } = await pool.query<{ key_id: string; agency: string; public_key: Buffer }>(
    'SELECT key_id, agency, public_key FROM agency_keys',
  );
  return {
    origin: TEST_LOG_ORIGIN,
    logKeys: [formatVerifierKey(logKey.name, logKey.publicKey)],
    witnesses: witnessKeys.map((k) => formatCosignerVerifierKey(k.name, k.publicKey)),
    witnessThreshold: 2,
    agencyKeys: rows.map((row) => ({
      keyId: row.key_id,
      agency: row.agency,
      publicKey: toBase64(new Uint8Array(row.public_key)),
      validFrom: new Date(0).toISOString(),
    })),
  };
}

let unitCounter = 0;

/** A valid application for a fresh unit: each test applies for a property no other test uses. */
export function sampleApplication(overrides: Record<string, unknown> = {}) {
  unitCounter++;
  return {
    unitId: `U-${Date.now().toString(36).toUpperCase()}-${unitCounter}`,
    address: '12 Harbour Lane, Apt 4B',
    priceCents: 42_500_000,
    areaSqm: 84.5,
    // Every sale has its own filing: a filing cancelled or used by one case stays so.
    contractFilingNumber: `HF-${Date.now().toString(36).toUpperCase()}-${unitCounter}`,
    buyer: { name: 'Mina Park', idNumber: 'B1234567' },
    seller: { name: 'Jon Lee', idNumber: 'S7654321' },
    utilities: ['electricity'],
    consent: true,
    ...overrides,
  };
}

export interface Timeline {
  caseId: string;
  unitId: string;
  runId: string;
  phase: string | null;
  workflowStatus: string;
  overdue: boolean;
  reason: string | null;
  steps: {
    stepId: string;
    status: string;
    agency: string;
    outcome?: string;
    /** The decider's reason, from the decision's opening (never on the ledger). */
    reason?: string;
    ledgerIndex?: number;
    overdue?: boolean;
    amountDueCents?: number;
    deadlineAt?: string | null;
  }[];
  records: {
    stepId: string;
    agency: string;
    outcome: string;
    statementId: string;
    ledgerIndex: number;
  }[];
  escalations: {
    stepId: string;
    reason: string;
    at: string;
    resolved: boolean;
    resolution?: string;
    retryOnly?: true;
  }[];
  notifications: { party: string; kind: string; stepId: string; message: string }[];
  entries: {
    index: number;
    prevLeafHash: string;
    leafHash: string;
    signature: string;
    sequencedAt: string;
    statement: {
      agency: string;
      keyId: string;
      statementId: string;
      caseId: string;
      stepId: string;
      outcome: string;
      facts: Record<string, string | number | boolean | null>;
    };
  }[];
}

/**
 * Appends `n` statements signed by `agency` (one case each) and waits for the newest
 * checkpoint to be published: a quick way to give the log a known size.
 */
export async function appendStatements(
  stack: Stack,
  n: number,
  agency: string,
  stepId: string,
): Promise<void> {
  const key = stack.keys[agency]!;
  await Promise.all(
    Array.from({ length: n }, () => {
      const caseId = randomUUID();
      return stack.sequencer.append(
        signStatement(
          {
            type: STATEMENT_TYPE,
            statementId: `${caseId}/${stepId}`,
            caseId,
            stepId,
            agency: agency as Statement['agency'],
            outcome: 'passed',
            commitment: toBase64(new Uint8Array(32).fill(5)),
            facts: {},
            issuedAt: new Date().toISOString(),
            keyId: key.keyId,
          },
          key,
        ),
      );
    }),
  );
  await stack.publisher.request();
}

/** Runs `work` as the database superuser with the append-only triggers switched off (tamper tests). */
export async function asDatabaseSuperuser(
  stack: Stack,
  work: (client: pg.PoolClient) => Promise<unknown>,
): Promise<void> {
  const client = await stack.adminPool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL session_replication_role = replica');
    await work(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/**
 * A rotation of the orchestrator's key done in the wrong order: the new key is added (a key.add
 * `current` signs) and `current` revoked (a key.revoke the new key signs) while the worker still
 * signs with `current`. Returns the new key, which the worker does not hold yet.
 */
export async function rotateOrchestratorKeyTooEarly(
  stack: Stack,
  current: SigningKey,
): Promise<SigningKey> {
  const append = (signed: SignedStatement) => stack.sequencer.append(signed);
  const next = generateSigningKey(agencyKeyName('orchestrator'));
  await addAgencyKey(stack.pool, append, {
    newKey: { keyId: next.keyId, agency: 'orchestrator', publicKey: next.publicKey },
    signingKey: current,
    validFrom: new Date(Date.now() - 1000),
  });
  await revokeAgencyKey(stack.pool, append, {
    keyId: current.keyId,
    signingKey: next,
    revokedAt: new Date(),
  });
  return next;
}
