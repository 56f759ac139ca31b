// The deployment file: docker-compose.yml validates with Debian's docker-compose (which needs
// no Docker engine), runs a worker and a witness for every agency with its own key, gives
// every service a health check and a restart policy, sets only variables the code validates
// (and values it accepts), registers the workflows' search attributes, and its setup command
// prepares a real PostgreSQL.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Agency } from '../../domain/agency.ts';
import { SEARCH_ATTRIBUTES } from '../../domain/searchAttributes.ts';
import { toBase64 } from '../../ledger/bytes.ts';
import { agencyKeyName, formatVerifierKey, generateSigningKey } from '../../ledger/keys.ts';
import { MIGRATIONS } from '../../ledger/pg/migrations.ts';
import {
  apiShape,
  loadConfig,
  orchestratorConfig,
  orchestratorShape,
  setupConfig,
  setupShape,
  witnessConfig,
  witnessShape,
  workerConfig,
  workerShape,
  apiConfig,
} from '../../infra/config.ts';
import { ensureDebianPackage } from '../../infra/debianPackage.ts';
import { generatePayloadKey } from '../../infra/payloadCodec.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const ORIGIN = 'onewindow.example.gov/ledger';

interface Service {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  secrets?: { source: string; target?: string }[];
}
interface ComposeFile {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
}

let docker: string;
let dir: string;
let env: NodeJS.ProcessEnv;
let resolved: ComposeFile;
const agencyKeys = [...Agency.options, 'orchestrator'].map((agency) =>
  generateSigningKey(agencyKeyName(agency)),
);

function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; input?: string },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

const compose = (args: string[], extraEnv: NodeJS.ProcessEnv = env) =>
  run(docker, ['-f', join(dir, 'docker-compose.yml'), ...args], { cwd: dir, env: extraEnv });

const oneWindowServices = () =>
  Object.entries(resolved.services).filter(([, s]) => s.image?.startsWith('onewindow:'));

beforeAll(async () => {
  docker = await ensureDebianPackage('docker-compose', 'docker-compose');
  // A copy beside placeholder secret files: whatever compose version runs this, every file
  // the compose file names exists, and the repository gets no secrets/ folder.
  dir = mkdtempSync(join(tmpdir(), 'onewindow-compose-'));
  const text = readFileSync(COMPOSE_FILE, 'utf8');
  writeFileSync(join(dir, 'docker-compose.yml'), text);
  for (const [, file] of text.matchAll(/^\s+file: (\.\/secrets\/\S+)$/gm)) {
    mkdirSync(dirname(join(dir, file!)), { recursive: true });
    writeFileSync(join(dir, file!), 'placeholder\n');
  }
  // Real keys in the .env values, so the resolved environments must also pass the schemas.
  const logKey = generateSigningKey(ORIGIN);
  const witnessKeys = Object.fromEntries(
    Agency.options.map((agency) => {
      const key = generateSigningKey(`${agency}.witness.onewindow`);
      return [`WITNESS_KEY_${agency.toUpperCase()}`, formatVerifierKey(key.name, key.publicKey)];
    }),
  );
  env = {
    PATH: process.env.PATH,
    POSTGRES_PASSWORD: 'postgres-password-for-the-test',
    WITNESS_DB_PASSWORD: 'witness-password-for-the-test',
    ONEWINDOW_DB_PASSWORD: 'app-password-for-the-test',
    ONEWINDOW_LOG_ORIGIN: ORIGIN,
    ONEWINDOW_LOG_PUBLIC_KEY: formatVerifierKey(logKey.name, logKey.publicKey),
    ONEWINDOW_PAYLOAD_KEY: generatePayloadKey('k1'),
    ONEWINDOW_TOKEN_PUBLIC_KEY: toBase64(generateSigningKey('tokens').publicKey),
    ONEWINDOW_AGENCY_KEYS: agencyKeys.map((k) => formatVerifierKey(k.name, k.publicKey)).join(' '),
    ...witnessKeys,
  };
  const config = await compose(['config']);
  expect(config.stderr).toBe('');
  expect(config.code).toBe(0);
  // docker-compose 1.29 prints YAML only; parse it with the PyYAML it runs on.
  const json = await run(
    'python3',
    ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
    { cwd: dir, env, input: config.stdout },
  );
  expect(json.stderr).toBe('');
  resolved = JSON.parse(json.stdout) as ComposeFile;
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('docker-compose.yml', () => {
  it('validates with docker-compose config -q', async () => {
    const result = await compose(['config', '-q']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('refuses to resolve without a required value, naming it', async () => {
    const partial = { ...env };
    delete partial.ONEWINDOW_PAYLOAD_KEY;
    const result = await compose(['config', '-q'], partial);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/set ONEWINDOW_PAYLOAD_KEY in \.env/);
  });

  it('runs a worker and a witness for every agency, each with a key of its own', () => {
    const secretFiles = new Set<string>();
    for (const agency of Agency.options) {
      const worker = resolved.services[`worker-${agency}`];
      const witness = resolved.services[`witness-${agency}`];
      expect(worker?.command).toEqual(['worker', '--agency', agency]);
      expect(witness?.command?.slice(0, 3)).toEqual(['witness', '--agency', agency]);
      expect(worker?.secrets?.map((s) => s.source)).toEqual([`${agency}-key`]);
      expect(witness?.secrets?.map((s) => s.source)).toEqual([`${agency}-witness-key`]);
      secretFiles.add(resolved.secrets[`${agency}-key`]!.file);
      secretFiles.add(resolved.secrets[`${agency}-witness-key`]!.file);
    }
    expect(secretFiles.size).toBe(2 * Agency.options.length);
    expect(resolved.services.orchestrator?.command).toEqual(['worker', '--orchestrator']);
    expect(resolved.services.api?.command).toEqual(['api']);
  });

  it('gives every service a health check, or a dependency on a healthy one', () => {
    const healthy = (name: string) => {
      const check = resolved.services[name]?.healthcheck;
      return check !== undefined && check.disable !== true && check.test?.[0] !== 'NONE';
    };
    for (const [name, service] of Object.entries(resolved.services)) {
      const dependsOnHealthy = Object.entries(service.depends_on ?? {}).some(
        ([dependency, { condition }]) => condition === 'service_healthy' && healthy(dependency),
      );
      expect(healthy(name) || dependsOnHealthy, name).toBe(true);
      for (const dependency of Object.keys(service.depends_on ?? {}))
        expect(resolved.services[dependency], `${name} depends on ${dependency}`).toBeDefined();
    }
  });

  it('restarts long-running services unless stopped, and one-shot setup on failure only', () => {
    const oneShot = new Set(
      Object.values(resolved.services).flatMap((s) =>
        Object.entries(s.depends_on ?? {})
          .filter(([, d]) => d.condition === 'service_completed_successfully')
          .map(([name]) => name),
      ),
    );
    expect([...oneShot].sort()).toEqual(['onewindow-setup', 'temporal-setup']);
    for (const [name, service] of Object.entries(resolved.services))
      expect(service.restart, name).toBe(oneShot.has(name) ? 'on-failure' : 'unless-stopped');
  });

  it('sets only variables the code reads, with values its configuration schemas accept', () => {
    const services = oneWindowServices();
    // Every OneWindow process is among those checked: none is left out by the image filter.
    expect(services.map(([name]) => name).sort()).toEqual(
      [
        'api',
        'onewindow-setup',
        'orchestrator',
        ...Agency.options.flatMap((a) => [`worker-${a}`, `witness-${a}`]),
      ].sort(),
    );
    const schemasUsed = new Set<unknown>();
    for (const [name, service] of services) {
      const [command, ...args] = service.command ?? [];
      const [shape, schema] = service.entrypoint?.includes('-e')
        ? [setupShape, setupConfig]
        : command === 'api'
          ? [apiShape, apiConfig]
          : command === 'witness'
            ? [witnessShape, witnessConfig]
            : args.includes('--orchestrator')
              ? [orchestratorShape, orchestratorConfig]
              : [workerShape, workerConfig];
      const environment = service.environment ?? {};
      expect(
        Object.keys(environment).filter((v) => !(v in shape)),
        name,
      ).toEqual([]);
      // Secrets are files under /run/secrets; each must be one this service mounts.
      const mounted = new Set(service.secrets?.map((s) => s.target ?? s.source));
      const local = Object.fromEntries(
        Object.entries(environment).map(([variable, value]) => {
          const secret = /^\/run\/secrets\/(.+)$/.exec(value)?.[1];
          if (secret === undefined) return [variable, value];
          expect(mounted.has(secret), `${name} mounts ${secret}`).toBe(true);
          return [variable, resolved.secrets[secret]!.file];
        }),
      );
      expect(() => loadConfig(schema, local), name).not.toThrow();
      schemasUsed.add(schema);
    }
    // setup, api, witness, orchestrator and worker: each schema checked some service.
    expect(schemasUsed.size).toBe(5);
  });

  it('registers every search attribute the workflows set', () => {
    const setup = resolved.services['temporal-setup']!.command!.join('\n');
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES))
      expect(setup).toContain(`${name}=${type}`);
  });

  it('prepares a fresh database with its setup command: migrations, role and agency keys', async () => {
    const setup = resolved.services['onewindow-setup']!;
    const [node, ...nodeArgs] = setup.entrypoint!;
    expect(node).toBe('node');
    const script = setup.command![0]!;
    const adminUrl = inject('adminDatabaseUrl');
    // The application role is cluster-wide: keep the password the other tests connect with.
    const appPassword = decodeURIComponent(new URL(inject('databaseUrl')).password);
    const database = `compose_setup_${process.pid}`;
    const admin = new pg.Pool({ connectionString: adminUrl, max: 1 });
    await admin.query(`CREATE DATABASE ${database}`);
    try {
      const url = new URL(adminUrl);
      url.pathname = `/${database}`;
      const setupEnv = {
        PATH: process.env.PATH,
        ONEWINDOW_ADMIN_DATABASE_URL: url.toString(),
        ONEWINDOW_DB_PASSWORD: appPassword,
        ONEWINDOW_AGENCY_KEYS: env.ONEWINDOW_AGENCY_KEYS,
      };
      const refused = await run(process.execPath, [...nodeArgs, script], {
        cwd: ROOT,
        env: { ...setupEnv, ONEWINDOW_AGENCY_KEYS: 'not-a-key' },
      });
      expect(refused.code).toBe(2);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toMatch(/^onewindow-setup: ONEWINDOW_AGENCY_KEYS /);

      // Twice: every `docker compose up` runs it again.
      for (let round = 0; round < 2; round++) {
        const result = await run(process.execPath, [...nodeArgs, script], {
          cwd: ROOT,
          env: setupEnv,
        });
        expect(result.stderr).toMatch(/database migrated, 7 agency keys registered/);
        expect(result.code).toBe(0);
      }
      // One client each, ended (its connection closed) before the DROP … WITH (FORCE) below:
      // a pool's end() resolves before its clients' connections have closed, and the DROP
      // then cut one that was still closing (an unhandled FATAL 57P01 in a CI run).
      const connect = async (connectionString: string) => {
        const client = new pg.Client({ connectionString });
        client.on('error', () => undefined);
        await client.connect();
        return client;
      };
      const fresh = await connect(url.toString());
      try {
        const migrations = await fresh.query('SELECT version FROM schema_migrations');
        expect(migrations.rowCount).toBe(MIGRATIONS.length);
        const keys = await fresh.query<{ key_id: string; agency: string }>(
          'SELECT key_id, agency FROM agency_keys ORDER BY agency',
        );
        expect(keys.rows.map((r) => r.key_id).sort()).toEqual(
          agencyKeys.map((k) => k.keyId).sort(),
        );
        expect(keys.rows.map((r) => r.agency).sort()).toEqual(
          [...Agency.options, 'orchestrator'].sort(),
        );
      } finally {
        await fresh.end();
      }
      // The application role reads the ledger there, as DATABASE_URL in the compose file does.
      const appUrl = new URL(url);
      appUrl.username = 'onewindow_app';
      appUrl.password = appPassword;
      const app = await connect(appUrl.toString());
      try {
        const { rowCount } = await app.query('SELECT 1 FROM agency_keys');
        expect(rowCount).toBe(7);
      } finally {
        await app.end();
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    }
  });
});
