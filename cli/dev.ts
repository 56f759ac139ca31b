// `onewindow dev`: the whole system on embedded defaults in one process tree: embedded
// PostgreSQL, the Temporal dev server (with its web UI), one worker process per agency and
// the orchestrator's, and the API; `--demo N` submits N sample cases and prints them.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { buildApp, SCRIPTED_CALLER_LIMITS } from '../api/app.ts';
import { configFields, devConfig, loadConfig, type DevConfig } from '../infra/config.ts';
import {
  clientDataConverter,
  generatePayloadKey,
  parsePayloadKeys,
  type PayloadKey,
} from '../infra/payloadCodec.ts';
import {
  ensureDatabase,
  startEmbeddedPostgres,
  prepareDatabase,
  survivePostgresRestarts,
} from '../infra/postgres.ts';
import {
  createMetrics,
  instrumentAppends,
  pgLedgerSources,
  temporalCaseSources,
} from '../infra/metrics.ts';
import { freePort } from '../infra/ports.ts';
import { resolveTemporalCli, temporalCliVersion } from '../infra/temporalCli.ts';
import { startDevServer, type DevServer } from '../infra/temporalDevServer.ts';
import { intOption, parse, UsageError } from './args.ts';
import { ChildExitedError, supervisedChildren } from './children.ts';
import { lockDataDir } from './dataDirLock.ts';
import { endLeftoverDemoCases, runDemo } from './demo.ts';
import {
  earlierAnchors,
  ensureKeyFile,
  ensureRegisteredKey,
  readKeyFile,
  readTrustFile,
  TOKEN_ISSUER_KEY_NAME,
  witnessKeyName,
} from './keys.ts';
import { writeFileWhole } from './files.ts';
import { AGENCIES_WITH_WORKERS, createLedgerWriter, DEFAULT_LOG_ORIGIN } from './workers.ts';
import { witnessPolicy } from './witnessConfig.ts';
import { ledgerAccessRecorder } from '../api/access.ts';
import { issueToken, tokenVerifier } from '../api/auth.ts';
import { formatVerifierKey, type SigningKey } from '../ledger/keys.ts';
import { formatCosignerVerifierKey } from '../ledger/cosignature.ts';
import type { TrustFile } from '../ledger/trust.ts';
import { makeDirectorySync } from '../infra/directories.ts';

/**
 * Awaits two servers starting side by side. Whichever started is stopped at shutdown even if
 * the other failed (else a failed start left, e.g., the Temporal server running and the
 * command hanging); then the first failure is thrown.
 */
async function bothStarted<
  A extends { stop(): Promise<unknown> },
  B extends { stop(): Promise<unknown> },
>(a: Promise<A>, b: Promise<B>, cleanups: (() => Promise<unknown>)[]): Promise<[A, B]> {
  const [first, second] = await Promise.allSettled([a, b]);
  if (first.status === 'fulfilled') cleanups.push(() => first.value.stop());
  if (second.status === 'fulfilled') cleanups.push(() => second.value.stop());
  if (first.status === 'rejected') throw first.reason;
  if (second.status === 'rejected') throw second.reason;
  return [first.value, second.value];
}

/** In the demo one law-day passes in ten seconds, so a case runs in seconds yet keeps its order. */
const DEMO_TIME_SCALE = 10 / 86_400;

const BIN = fileURLToPath(new URL('../bin/onewindow.mjs', import.meta.url));

export interface DevOptions {
  port: number;
  /** Absent: 8233 when free, else any free port. */
  uiPort: number | undefined;
  demo: number;
  once: boolean;
  dataDir: string;
  config: DevConfig;
}

/**
 * The flags and environment of `onewindow dev`, all checked before anything starts.
 * @throws UsageError (a ConfigError for the environment) naming what is wrong.
 */
export function devOptions(argv: string[], env: NodeJS.ProcessEnv): DevOptions {
  const { values } = parse(
    argv,
    {
      port: { type: 'string' },
      'ui-port': { type: 'string' },
      demo: { type: 'string' },
      once: { type: 'boolean' },
      'data-dir': { type: 'string' },
    },
    { positionals: false },
  );
  const port = intOption(values.port, 'port', 3000, 1);
  const uiPort =
    values['ui-port'] === undefined ? undefined : intOption(values['ui-port'], 'ui-port', 8233, 1);
  const demo = intOption(values.demo, 'demo', 0, 0, 1000);
  if (values['data-dir'] === '') throw new UsageError('--data-dir must name a folder, got ""');
  const config = loadConfig(devConfig, env);
  const dataDir = resolve(values['data-dir'] ?? config.ONEWINDOW_DATA_DIR ?? '.onewindow/dev');
  return { port, uiPort, demo, once: values.once === true, dataDir, config };
}

/**
 * The environment the children start from: this one without any variable a OneWindow process
 * reads (infra/config.ts), so each child gets only the configuration dev gives it (one
 * ONEWINDOW_OPS_ADDRESS for seven workers would have them fight over one port).
 */
export function childBaseEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !(name in configFields)));
}

export async function runDev(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { port, uiPort, demo, once, dataDir, config } = devOptions(argv, env);
  makeDirectorySync(dataDir, 0o755);
  const say = (line: string) => console.log(line);

  const cleanups: (() => Promise<unknown>)[] = [];
  const shutdown = shutdownOf(cleanups, (e) => console.error(`shutdown: ${String(e)}`));
  const children = supervisedChildren();
  // Each child stops should dev die without stopping it (cli/main.ts stopWithParent).
  const spawnChild = (args: string[], childEnv: NodeJS.ProcessEnv, label: string) =>
    children.spawn(
      process.execPath,
      [BIN, ...args],
      { ...childEnv, ONEWINDOW_PARENT_PID: String(process.pid) },
      label,
    );
  // A signal once everything is up stops it all. One during startup stops startup at its next
  // step, whose catch stops what was started: stopping from here while a step still starts
  // something (a server, a child) would leave that running, and free the data directory's
  // lock under it.
  let up = false;
  let signalled = false;
  // Stops a Temporal CLI build under way: go itself catches SIGINT and exits with a code.
  const aborted = new AbortController();
  const going = () => {
    if (signalled) throw new StartupStoppedError();
  };
  const stopped = new Promise<void>((done) => {
    const onSignal = () => {
      signalled = true;
      aborted.abort();
      say('\nstopping…');
      if (up) void shutdown().then(done);
      else done();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });

  try {
    const unlock = lockDataDir(dataDir);
    cleanups.push(() => Promise.resolve(unlock()));
    // Read before anything starts: a trust file that cannot be read stops dev with its reason.
    const trustFile = join(dataDir, 'trust.json');
    const earlierTrust = earlierTrustFile(trustFile);
    // So are the data directory's own keys (made at a first start): one that cannot be used (a
    // log of another origin, a payload key cut short) stops dev before it writes the trust file
    // or starts anything.
    const logKeyFile = join(dataDir, 'keys', 'log.key');
    const logKey = dataDirLogKey(logKeyFile, config.ONEWINDOW_LOG_ORIGIN);
    // A log's key is named after its origin (C2SP), and dataDirLogKey holds it to this one.
    const origin = logKey.name;
    const logPublicKey = formatVerifierKey(logKey.name, logKey.publicKey);
    // The demo's identity provider: a token key whose public half the API trusts.
    const tokenKey = ensureKeyFile(join(dataDir, 'keys', 'tokens.key'), TOKEN_ISSUER_KEY_NAME);
    const payloadKey = ensurePayloadKeyFile(join(dataDir, 'keys', 'payload.key'));
    const cliPath = await resolveTemporalCli({ env, log: say, signal: aborted.signal });
    going();
    say(`temporal: ${temporalCliVersion(cliPath).split('\n')[0]}`);
    const [database, server] = await bothStarted(
      config.DATABASE_URL
        ? Promise.resolve({ adminUrl: config.DATABASE_URL, stop: () => Promise.resolve() })
        : startEmbeddedPostgres({ dataDir: join(dataDir, 'pg'), log: say, stopLeftover: true }),
      startDevServer({
        cliPath,
        dbFilename: join(dataDir, 'temporal.db'),
        uiPort: uiPort ?? (await preferredPort(8233)),
      }),
      cleanups,
    );
    going();
    const appUrl = await prepareDatabase(database.adminUrl);
    going();

    // Each agency holds its own statement key and witness key; the registry and the trust
    // file learn only the public halves.
    const admin = new pg.Pool({ connectionString: database.adminUrl, max: 1 });
    const keyFiles: Record<string, string> = {};
    const agencyKeys: TrustFile['agencyKeys'] = [];
    const orchestratorKeyFile = join(dataDir, 'keys', 'orchestrator.key');
    let orchestratorKey: Awaited<ReturnType<typeof ensureRegisteredKey>>['key'];
    // Closed however this ends: a key file refused stops dev here.
    try {
      for (const agency of AGENCIES_WITH_WORKERS) {
        keyFiles[agency] = join(dataDir, 'keys', `${agency}.key`);
        agencyKeys.push((await ensureRegisteredKey(admin, keyFiles[agency], agency)).trusted);
      }
      const orchestrator = await ensureRegisteredKey(admin, orchestratorKeyFile, 'orchestrator');
      orchestratorKey = orchestrator.key;
      agencyKeys.push(orchestrator.trusted);
      const anchors = await earlierAnchors(admin, earlierTrust, agencyKeys);
      agencyKeys.push(...anchors.kept);
      for (const { keyId, why } of anchors.dropped)
        say(`trust.json: no longer lists ${keyId}, which it listed before: ${why}`);
    } finally {
      await admin.end();
    }
    going();

    const baseEnv = {
      ...childBaseEnv(env),
      DATABASE_URL: appUrl,
      ONEWINDOW_LOG_ORIGIN: origin,
      ONEWINDOW_LOG_PUBLIC_KEY: logPublicKey,
    };
    // Every child is stopped at shutdown from the moment it is spawned, so a failure while
    // its siblings start (a key file, a port) leaves none running.
    cleanups.push(() => children.stopAll());
    const witnesses = await Promise.all(
      AGENCIES_WITH_WORKERS.map(async (agency) => {
        const file = join(dataDir, 'keys', `${agency}.witness.key`);
        const key = ensureKeyFile(file, witnessKeyName(agency));
        const witnessPort = await freePort();
        // On the embedded server, each witness keeps its state in a database of its own, as
        // an agency would; on a server DATABASE_URL names, in the log's (it may not allow
        // creating databases).
        const ownDatabase = config.DATABASE_URL
          ? undefined
          : await ensureDatabase(database.adminUrl, `onewindow_witness_${agency}`);
        spawnChild(
          ['witness', '--agency', agency, '--key', file, '--port', String(witnessPort)],
          ownDatabase ? { ...baseEnv, ONEWINDOW_WITNESS_DATABASE_URL: ownDatabase } : baseEnv,
          `${agency} witness`,
        );
        return {
          vkey: formatCosignerVerifierKey(key.name, key.publicKey),
          url: `http://127.0.0.1:${witnessPort}`,
        };
      }),
    );
    going();
    const threshold = Math.floor(witnesses.length / 2) + 1;
    const trust: TrustFile = {
      origin,
      logKeys: [logPublicKey],
      witnesses: witnesses.map((w) => w.vkey),
      witnessThreshold: threshold,
      agencyKeys,
    };
    writeTrustFile(trustFile, trust);

    const childEnv = {
      ...baseEnv,
      ONEWINDOW_PAYLOAD_KEY: payloadKey.text,
      // Retried activity failures (the gas inspection) are expected here; show errors only.
      ONEWINDOW_LOG_LEVEL: config.ONEWINDOW_LOG_LEVEL ?? 'ERROR',
      TEMPORAL_ADDRESS: server.address,
      ONEWINDOW_LOG_KEY_FILE: logKeyFile,
      ONEWINDOW_WITNESSES: witnesses.map((w) => `${w.vkey}@${w.url}`).join(' '),
      ONEWINDOW_WITNESS_THRESHOLD: String(threshold),
      ...(config.ONEWINDOW_WORKFLOW_STACK_TRACES && {
        ONEWINDOW_WORKFLOW_STACK_TRACES: config.ONEWINDOW_WORKFLOW_STACK_TRACES,
      }),
    };
    spawnChild(
      ['worker', '--orchestrator', '--key', orchestratorKeyFile],
      childEnv,
      'orchestrator worker',
    );
    for (const agency of AGENCIES_WITH_WORKERS)
      spawnChild(
        ['worker', '--agency', agency, '--key', keyFiles[agency]!],
        childEnv,
        `${agency} worker`,
      );

    const pool = survivePostgresRestarts(new pg.Pool({ connectionString: appUrl, max: 8 }));
    cleanups.push(() => pool.end());
    const connection = await Connection.connect({ address: server.address });
    cleanups.push(() => connection.close());
    going();
    // The API appends its access-audit entries to the same log (the sequencer's lock keeps
    // it single) and signs them with the operator's key.
    const writer = createLedgerWriter({
      pool,
      log: { origin, key: logKey },
      witnesses: witnessPolicy(childEnv),
      verifyThreads: 1,
    });
    const temporal = new Client({
      connection,
      dataConverter: clientDataConverter(payloadKey.key),
    });
    const metrics = createMetrics({ ...temporalCaseSources(temporal), ...pgLedgerSources(pool) });
    instrumentAppends(writer.sequencer, metrics);
    const app = await buildApp({
      temporal,
      metrics,
      pool,
      timeScale: DEMO_TIME_SCALE,
      // The demo plays one citizen and one officer of each kind on up to 1,000 cases.
      callerLimits: SCRIPTED_CALLER_LIMITS,
      verifyToken: tokenVerifier(tokenKey.publicKey),
      recordAccess: ledgerAccessRecorder({
        key: orchestratorKey,
        append: (signed) => writer.sequencer.append(signed),
        pool,
      }),
      trust,
    });
    cleanups.push(
      () => writer.close(),
      () => writer.publisher.idle(),
      // Requests still in flight get 5 s; then their connections are cut, or a client that
      // keeps its connections busy (the demo polling) holds the stop for ever.
      async () => {
        const cut = setTimeout(() => app.server.closeAllConnections(), 5000);
        await app.close().finally(() => clearTimeout(cut));
      },
    );
    try {
      await app.listen({ port, host: '127.0.0.1' });
    } catch (error) {
      throw new UsageError(
        `cannot listen on port ${port} (${(error as Error).message}); choose another with --port`,
      );
    }
    going();
    up = true;
    const apiUrl = `http://127.0.0.1:${port}`;
    printAddresses(say, apiUrl, server);
    const day = 24 * 3600;
    const tokens = {
      citizen: await issueToken(tokenKey.seed, { role: 'citizen', sub: 'citizen-demo' }, day),
      registryOfficer: await issueToken(
        tokenKey.seed,
        { role: 'officer', sub: 'officer-registry-1', agency: 'registry' },
        day,
      ),
      gasOfficer: await issueToken(
        tokenKey.seed,
        { role: 'officer', sub: 'officer-gas-1', agency: 'gas' },
        day,
      ),
      supervisor: await issueToken(tokenKey.seed, { role: 'supervisor', sub: 'supervisor-1' }, day),
    };
    say('');
    say('Pages (each link, once you confirm, signs you in as a demo person for a day):');
    say(`  citizen      ${apiUrl}/citizen#token=${tokens.citizen}`);
    say(`  officer      ${apiUrl}/officer#token=${tokens.registryOfficer}`);
    say(`  gas officer  ${apiUrl}/officer#token=${tokens.gasOfficer}`);
    say(`  supervisor   ${apiUrl}/supervisor#token=${tokens.supervisor}`);
    say(`  explorer     ${apiUrl}/explorer`);
    say(`  API docs     ${apiUrl}/docs`);
    say(
      `More tokens: node bin/onewindow.mjs tokens --key ${shellQuote(join(dataDir, 'keys', 'tokens.key'))} --role officer --subject o-2 --agency registry`,
    );

    if (demo > 0) {
      // A child that exits now (a worker crashed) ends the run (see the catch); the demo
      // then fails against the stopped API, which is no longer news.
      await endLeftoverDemoCases(temporal, demo, say);
      const played = runDemo({ apiUrl, count: demo, tokens, say, signal: aborted.signal });
      played.catch(() => undefined);
      await Promise.race([played, children.failed]);
    }
    say('');
    say('Verify the ledger yourself, with nothing but the public keys in the trust file:');
    // The verifier's memory of this log lives with it: a demo started afresh is a new log
    // under the same origin, which a shared state file would take for a fork.
    say(
      `  node bin/onewindow.mjs ledger verify --url ${apiUrl}/ledger --trust ${shellQuote(trustFile)} --state ${shellQuote(join(dataDir, 'verify-state.json'))}`,
    );
    say(
      `  node bin/onewindow.mjs ledger audit  --url ${apiUrl}/ledger --trust ${shellQuote(trustFile)}`,
    );
    say('');
    children.check();
    if (once) {
      await shutdown();
      return 0;
    }
    say('running; press Ctrl-C to stop');
    await Promise.race([stopped, children.failed]);
    return 0;
  } catch (error) {
    await shutdown();
    // Stopped by a signal: during startup, or during the demo, whose calls then fail.
    if (signalled) {
      say('stopped');
      return 130;
    }
    if (error instanceof ChildExitedError) {
      console.error(`onewindow: ${error.message}; stopped everything`);
      return 1;
    }
    throw error;
  }
}

function printAddresses(say: (line: string) => void, apiUrl: string, server: DevServer): void {
  say('');
  say(`  API          ${apiUrl}  (OpenAPI at /openapi.json, docs at /docs)`);
  say(`  Temporal     ${server.address}`);
  if (server.uiAddress) say(`  Temporal UI  ${server.uiAddress}`);
  say('');
}

async function preferredPort(port: number): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => void freePort().then(resolve));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(port)));
  });
}

/** The trust file an earlier start wrote in the data directory, or undefined for a first start. */
export function earlierTrustFile(path: string): TrustFile | undefined {
  // One that is there but no trust file stops dev: its anchors must not be dropped unseen.
  return existsSync(path) ? readTrustFile(path, 'the trust file of an earlier start,') : undefined;
}

/** A signal came while dev was starting: startup goes no further. */
class StartupStoppedError extends Error {
  override name = 'StartupStoppedError';
}

/**
 * The shutdown of `cleanups`: last-in first-out, each once, including any registered while
 * shutting down; one that fails is reported and the next runs. Every call shares the run under
 * way and resolves when it ends: a signal during the demo and the demo's failure both shut
 * down, and two runs side by side would close the pools under requests still being served,
 * and free the data directory's lock while servers still stop.
 */
export function shutdownOf(
  cleanups: (() => Promise<unknown>)[],
  report: (error: unknown) => void,
): () => Promise<void> {
  const run = async () => {
    for (let cleanup = cleanups.pop(); cleanup; cleanup = cleanups.pop())
      await cleanup().catch(report);
  };
  let running: Promise<void> | undefined;
  // After the run under way, any cleanup registered once it ended: none is left undone.
  return () => (running = running ? running.then(run) : run());
}

/**
 * The log key in the data directory's `file`, made there at a first start for the origin
 * ONEWINDOW_LOG_ORIGIN gives (`configured`; unset, the default).
 * @throws UsageError when the data directory is the log of another origin (C2SP names a log's
 *   key after it): dev would write a trust file and start witnesses for a log it is not.
 */
export function dataDirLogKey(file: string, configured: string | undefined): SigningKey {
  const origin = configured ?? DEFAULT_LOG_ORIGIN;
  const held = existsSync(file) ? readKeyFile(file).name : origin;
  if (held !== origin)
    throw new UsageError(
      `the data directory's log is ${JSON.stringify(held)} (its key ${file}), not ${JSON.stringify(origin)} (ONEWINDOW_LOG_ORIGIN${configured === undefined ? ', unset: the default' : ''}): ${held === DEFAULT_LOG_ORIGIN ? 'unset ONEWINDOW_LOG_ORIGIN' : `set ONEWINDOW_LOG_ORIGIN=${held}`} to run it, or give another --data-dir for a log of ${JSON.stringify(origin)}`,
    );
  return ensureKeyFile(file, origin);
}

/**
 * The payload key in the data directory's `file` (made there, mode 0600, if there is none):
 * its text, as the children get it in ONEWINDOW_PAYLOAD_KEY, and the key it holds.
 * @throws UsageError naming the file when it holds no payload key (empty, cut short, edited)
 *   or cannot be read or written.
 */
export function ensurePayloadKeyFile(path: string): { text: string; key: PayloadKey } {
  if (!existsSync(path)) {
    try {
      makeDirectorySync(dirname(path));
      // Whole and durable before any child encrypts with it: a key lost is history unreadable.
      writeFileWhole(path, `${generatePayloadKey()}\n`, { mode: 0o600, exclusive: true });
    } catch (error) {
      // EEXIST: made meanwhile (never over a key there), and read below like any other.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new UsageError(`cannot write payload key file ${path}: ${(error as Error).message}`);
    }
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new UsageError(`payload key file ${path}: ${(error as Error).message}`);
  }
  if (text === '')
    throw new UsageError(
      `payload key file ${path} is empty: restore it, or remove it to have a new key made (cases encrypted under a lost key cannot be read)`,
    );
  try {
    return { text, key: parsePayloadKeys(text) };
  } catch (error) {
    // Said of the file: the children's variable is dev's own business here.
    const why = (error as Error).message.replace(/^ONEWINDOW_PAYLOAD_KEY /, '');
    throw new UsageError(`payload key file ${path} ${why}`);
  }
}

/** Writes the trust file, replacing an earlier start's whole: never half of one on disk. */
export function writeTrustFile(path: string, trust: TrustFile): void {
  writeFileWhole(path, `${JSON.stringify(trust, null, 2)}\n`);
}

/**
 * `word` as one POSIX shell word, for a command printed to be pasted: as it is when it holds
 * only characters no shell treats specially, else in single quotes, each ' as '\''.
 */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
