import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../cli/args.ts';
import { formatCosignerVerifierKey } from '../ledger/cosignature.ts';
import { publicKeyOf } from '../ledger/ed25519.ts';
import {
  agencyKeyName,
  formatSignerKey,
  formatVerifierKey,
  generateSigningKey,
} from '../ledger/keys.ts';
import {
  apiConfig,
  caseConfig,
  ConfigError,
  devConfig,
  loadConfig,
  orchestratorConfig,
  setupConfig,
  witnessConfig,
  witnessPolicyOf,
  workerConfig,
} from './config.ts';
import { generatePayloadKey } from './payloadCodec.ts';

const dir = mkdtempSync(join(tmpdir(), 'onewindow-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const keyFile = join(dir, 'housing.key');
writeFileSync(keyFile, 'a key file; the configuration only checks that it exists\n');
const missingFile = join(dir, 'missing.key');

const payloadKey = generatePayloadKey('k1');
const logKey = generateSigningKey('onewindow.example.gov/ledger');
const witnessKeys = ['housing', 'tax'].map((a) => generateSigningKey(`${a}.witness.onewindow`));
const witnesses = witnessKeys
  .map((k, i) => `${formatCosignerVerifierKey(k.name, k.publicKey)}@http://witness-${i}:8080`)
  .join(' ');
const vkey = (name: string) => {
  const key = generateSigningKey(name);
  return formatVerifierKey(key.name, key.publicKey);
};

/** A valid environment for each process; each case below breaks one variable of it. */
const valid = {
  worker: { ONEWINDOW_PAYLOAD_KEY: payloadKey, ONEWINDOW_KEY_FILE: keyFile },
  orchestrator: {
    ONEWINDOW_PAYLOAD_KEY: payloadKey,
    DATABASE_URL: 'postgres://onewindow_app:secret@postgres:5432/onewindow',
    ONEWINDOW_WITNESSES: witnesses,
  },
  witness: {
    DATABASE_URL: 'postgres://onewindow_app:secret@postgres:5432/onewindow',
    ONEWINDOW_LOG_PUBLIC_KEY: formatVerifierKey(logKey.name, logKey.publicKey),
  },
  api: {
    DATABASE_URL: 'postgresql://onewindow_app:secret@postgres/onewindow',
    ONEWINDOW_PAYLOAD_KEY: payloadKey,
    ONEWINDOW_TOKEN_PUBLIC_KEY: Buffer.from(publicKeyOf(new Uint8Array(32).fill(7))).toString(
      'base64',
    ),
    ONEWINDOW_KEY_FILE: keyFile,
    ONEWINDOW_LOG_KEY_FILE: keyFile,
  },
  dev: {},
  case: {
    DATABASE_URL: 'postgres://onewindow_app:secret@postgres:5432/onewindow',
    ONEWINDOW_PAYLOAD_KEY: payloadKey,
  },
  setup: {
    ONEWINDOW_ADMIN_DATABASE_URL: 'postgres://postgres:secret@postgres:5432/onewindow',
    ONEWINDOW_DB_PASSWORD: 'a-long-url-safe-password',
    ONEWINDOW_AGENCY_KEYS: `${vkey(agencyKeyName('housing'))} ${vkey(agencyKeyName('orchestrator'))}`,
  },
} as const;

const schemas = {
  worker: workerConfig,
  orchestrator: orchestratorConfig,
  witness: witnessConfig,
  api: apiConfig,
  dev: devConfig,
  case: caseConfig,
  setup: setupConfig,
};
type Kind = keyof typeof schemas;

function messageOf(kind: Kind, env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(schemas[kind], env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`expected ${kind} to refuse ${JSON.stringify(env)}`);
}

describe('each process configuration', () => {
  it.each(Object.keys(schemas) as Kind[])('accepts a valid %s environment', (kind) => {
    expect(() => loadConfig(schemas[kind], valid[kind])).not.toThrow();
  });
});

// [process, variable, value (undefined: unset), what the message must say after the name]
const wrong: [Kind, string, string | undefined, RegExp][] = [
  ['worker', 'ONEWINDOW_PAYLOAD_KEY', undefined, /is not set: Temporal payloads are encrypted/],
  ['worker', 'ONEWINDOW_PAYLOAD_KEY', 'k1:c2hvcnQ=', /must be <key id>:<base64 of 32 random/],
  [
    'worker',
    'ONEWINDOW_PAYLOAD_KEY',
    `${generatePayloadKey('k1')} ${generatePayloadKey('k1')}`,
    /names one key id twice: each key of a rotation needs an id of its own/,
  ],
  [
    'worker',
    'TEMPORAL_ADDRESS',
    'temporal',
    /must be host:port such as temporal:7233 \(a port from 1 to 65535\), got "temporal"/,
  ],
  ['worker', 'TEMPORAL_ADDRESS', 'temporal:99999', /must be host:port/],
  [
    'worker',
    'TEMPORAL_ADDRESS',
    'temporal:0',
    /must be host:port such as temporal:7233 \(a port from 1 to 65535\), got "temporal:0"/,
  ],
  [
    'worker',
    'ONEWINDOW_PAYLOAD_KEY',
    `k1:${Buffer.alloc(32).toString('base64')}`,
    /^ONEWINDOW_PAYLOAD_KEY gives key "k1" 32 zero bytes, which anyone could decrypt with/,
  ],
  [
    'worker',
    'ONEWINDOW_PAYLOAD_KEY',
    // Node's decoder would skip the "!" and read 32 bytes.
    `${payloadKey.slice(0, 10)}!${payloadKey.slice(10)}`,
    /must be <key id>:<base64 of 32 random bytes> \(the id 1 to 64 letters/,
  ],
  [
    'worker',
    'ONEWINDOW_KEY_FILE',
    missingFile,
    /names ".*missing\.key", which is not an existing file/,
  ],
  ['worker', 'ONEWINDOW_KEY_FILE', dir, /which is not an existing file/],
  [
    'worker',
    'ONEWINDOW_LOG_LEVEL',
    'LOUD',
    /must be TRACE, DEBUG, INFO, WARN or ERROR, got "LOUD"/,
  ],
  ['worker', 'ONEWINDOW_OPS_ADDRESS', 'http://0.0.0.0:9464', /must be \[host:\]port/],
  ['worker', 'ONEWINDOW_OPS_ADDRESS', '0.0.0.0:0', /must be \[host:\]port/],
  ['orchestrator', 'DATABASE_URL', undefined, /is not set: the PostgreSQL URL/],
  [
    'orchestrator',
    'DATABASE_URL',
    'mysql://root:hunter2@db/x',
    /must be a URL such as postgres:\/\//,
  ],
  ['orchestrator', 'ONEWINDOW_WITNESSES', 'no-at-sign', /expected <verifier key>@<url>/],
  [
    'orchestrator',
    'ONEWINDOW_WITNESSES',
    `${witnesses.split('@')[0]}@ftp://w`,
    /must be http\(s\)/,
  ],
  ['orchestrator', 'ONEWINDOW_WITNESSES', 'bad+key@http://w:1', /cosigner key/],
  [
    'orchestrator',
    'ONEWINDOW_WITNESSES',
    `${witnesses} ${witnesses.split(' ')[0]!.replace('witness-0', 'witness-2')}`,
    /lists the witness "housing\.witness\.onewindow" twice/,
  ],
  [
    'orchestrator',
    'ONEWINDOW_WITNESSES',
    `${witnesses} ${formatCosignerVerifierKey('housing.witness.onewindow', generateSigningKey('x').publicKey)}@http://w:1`,
    /lists the witness "housing\.witness\.onewindow" twice/,
  ],
  [
    'orchestrator',
    'ONEWINDOW_WITNESSES',
    `${witnesses} ${formatCosignerVerifierKey('gas.witness.onewindow', witnessKeys[0]!.publicKey)}@http://w:1`,
    /lists one public key as both "housing\.witness\.onewindow" and "gas\.witness\.onewindow"/,
  ],
  ['orchestrator', 'ONEWINDOW_WITNESS_THRESHOLD', 'two', /must be a whole number, got "two"/],
  [
    'orchestrator',
    'ONEWINDOW_WITNESS_THRESHOLD',
    '3',
    /must be from 1 to the number of witnesses in ONEWINDOW_WITNESSES \(2\), got 3$/,
  ],
  [
    'orchestrator',
    'ONEWINDOW_WITNESS_THRESHOLD',
    '0',
    /must be from 1 to the number of witnesses in ONEWINDOW_WITNESSES \(2\), got 0: checkpoints would go out with no witness signature/,
  ],
  ['orchestrator', 'ONEWINDOW_LOG_ORIGIN', 'onewindow ledger', /must be a log origin/],
  ['orchestrator', 'ONEWINDOW_WORKFLOW_STACK_TRACES', 'yes', /must be on or off, got "yes"/],
  ['orchestrator', 'ONEWINDOW_LOG_KEY_FILE', missingFile, /which is not an existing file/],
  ['orchestrator', 'ONEWINDOW_LOG_NEXT_KEY_FILE', missingFile, /which is not an existing file/],
  ['witness', 'ONEWINDOW_LOG_PUBLIC_KEY', undefined, /is not set: the log verifier key/],
  [
    'witness',
    'ONEWINDOW_LOG_PUBLIC_KEY',
    'log+0000+AAAA',
    /verifier key id must be 8 lowercase hex digits/,
  ],
  ['witness', 'ONEWINDOW_WITNESS_KEY_FILE', missingFile, /which is not an existing file/],
  [
    'witness',
    'DATABASE_URL',
    undefined,
    /is not set: the PostgreSQL URL.*\(or ONEWINDOW_WITNESS_DATABASE_URL, the witness's own database\)/,
  ],
  [
    'witness',
    'ONEWINDOW_WITNESS_DATABASE_URL',
    'mysql://w:secret@db/witness',
    /must be a URL such as postgres:\/\/user:password@host:5432\/witness$/,
  ],
  [
    'witness',
    'ONEWINDOW_WITNESS_DATABASE_URL',
    'postgres://postgres:pass#word@witness-postgres:5432/witnesses',
    /a password in it may hold only letters, digits and \. _ ~ - unless percent-encoded \(docker-compose\.yml writes WITNESS_DB_PASSWORD into it as it is\)/,
  ],
  ['worker', 'TEMPORAL_TLS', 'yes', /must be on or off, got "yes"/],
  ['worker', 'TEMPORAL_TLS_CA_FILE', missingFile, /which is not an existing file/],
  ['api', 'TEMPORAL_TLS_CERT_FILE', missingFile, /which is not an existing file/],
  ['case', 'TEMPORAL_TLS_KEY_FILE', missingFile, /which is not an existing file/],
  [
    'orchestrator',
    'TEMPORAL_TLS_SERVER_NAME',
    'https://temporal',
    /must be a host name such as temporal\.example\.org, got "https:\/\/temporal"/,
  ],
  ['api', 'PORT', '0', /must be a whole number from 1 to 65535, got "0"/],
  ['api', 'PORT', 'http', /must be a whole number from 1 to 65535, got "http"/],
  ['api', 'HOST', 'a host', /must be an address such as 0\.0\.0\.0/],
  [
    'api',
    'ONEWINDOW_TRUSTED_PROXIES',
    '10.0.0.5, proxy.example',
    /must list proxy addresses or CIDR ranges \(such as 10\.0\.0\.5 or 10\.0\.0\.0\/8\), got "10\.0\.0\.5, proxy\.example"/,
  ],
  ['api', 'ONEWINDOW_TRUSTED_PROXIES', '10.0.0.0/33', /must list proxy addresses or CIDR ranges/],
  ['api', 'ONEWINDOW_TRUSTED_PROXIES', '0.0.0.0/0', /must list proxy addresses or CIDR ranges/],
  [
    'api',
    'ONEWINDOW_CALLER_REQUESTS_PER_MINUTE',
    '0',
    /must be a whole number from 1 to 1,000,000, got "0"/,
  ],
  ['api', 'ONEWINDOW_CITIZEN_CASES_PER_DAY', '2.5', /must be a whole number from 1 to 1,000,000/],
  ['api', 'ONEWINDOW_CITIZEN_CASES_PER_DAY', '10000000', /must be a whole number from 1/],
  ['api', 'ONEWINDOW_REFUSED_TOKENS_PER_MINUTE', '0', /must be a whole number from 1/],
  ['api', 'ONEWINDOW_TOKEN_PUBLIC_KEY', undefined, /is not set: the token issuer public key/],
  [
    'api',
    'ONEWINDOW_TOKEN_PUBLIC_KEY',
    'c2hvcnQ=',
    /must be the base64 of a 32-byte Ed25519 public key/,
  ],
  [
    'api',
    'ONEWINDOW_TOKEN_PUBLIC_KEY',
    `AQ${'A'.repeat(41)}=`, // the identity point: anyone could make a token verify
    /is no usable Ed25519 public key \(no curve point, or one of small order/,
  ],
  ['api', 'ONEWINDOW_KEY_FILE', undefined, /is not set: the operator statement key/],
  ['api', 'ONEWINDOW_LOG_KEY_FILE', missingFile, /which is not an existing file/],
  ['api', 'ONEWINDOW_TRUST_FILE', missingFile, /which is not an existing file/],
  ['dev', 'DATABASE_URL', 'not a url', /must be a URL such as postgres:\/\//],
  ['dev', 'ONEWINDOW_LOG_LEVEL', 'debug', /must be TRACE, DEBUG, INFO, WARN or ERROR/],
  ['dev', 'TEMPORAL_CLI_PATH', missingFile, /which is not an existing file/],
  ['case', 'DATABASE_URL', undefined, /is not set: the PostgreSQL URL/],
  ['case', 'TEMPORAL_ADDRESS', 'temporal', /must be host:port/],
  ['setup', 'ONEWINDOW_ADMIN_DATABASE_URL', undefined, /is not set: the database owner URL/],
  [
    'setup',
    'ONEWINDOW_ADMIN_DATABASE_URL',
    'postgres://postgres:pass/word@postgres:5432/onewindow',
    /writes POSTGRES_PASSWORD into it as it is/,
  ],
  ['setup', 'ONEWINDOW_DB_PASSWORD', 'short', /must be at least 16 URL-safe characters/],
  ['setup', 'ONEWINDOW_DB_PASSWORD', 'has/slash/and@at/sign', /must be at least 16 URL-safe/],
  [
    'setup',
    'ONEWINDOW_AGENCY_KEYS',
    vkey('housing.witness.onewindow'),
    /is not named <agency>\.agency\.onewindow/,
  ],
  [
    'setup',
    'ONEWINDOW_AGENCY_KEYS',
    vkey(agencyKeyName('bank')),
    /is not named <agency>\.agency\.onewindow/,
  ],
];

describe('a wrong or missing value', () => {
  it.each(wrong)('%s: %s=%s is refused, naming it', (kind, variable, value, reason) => {
    const env: NodeJS.ProcessEnv = { ...valid[kind], [variable]: value };
    if (value === undefined) delete env[variable];
    const message = messageOf(kind, env);
    expect(message.startsWith(`${variable} `)).toBe(true);
    expect(message).toMatch(reason);
    expect(message).not.toContain('\n');
  });

  it('never repeats a secret it refuses', () => {
    expect(
      messageOf('orchestrator', {
        ...valid.orchestrator,
        DATABASE_URL: 'mysql://root:hunter2@db/x',
      }),
    ).not.toContain('hunter2');
    const key = `k1:${Buffer.alloc(16, 1).toString('base64')}`;
    expect(messageOf('worker', { ONEWINDOW_PAYLOAD_KEY: key })).not.toContain(key.slice(3));
    expect(
      messageOf('setup', { ...valid.setup, ONEWINDOW_DB_PASSWORD: 'tiny-secret' }),
    ).not.toContain('tiny-secret');
  });

  it('is a UsageError, which onewindow prints as one line with exit code 2', () => {
    expect(new ConfigError('x')).toBeInstanceOf(UsageError);
    expect(new ConfigError('x').name).toBe('ConfigError');
  });

  it('names every wrong variable on the one line, in order', () => {
    const message = messageOf('api', { PORT: '70000', ONEWINDOW_KEY_FILE: keyFile });
    expect(message.split('; ').map((part) => part.split(' ')[0])).toEqual([
      'DATABASE_URL',
      'ONEWINDOW_PAYLOAD_KEY',
      'PORT',
      'ONEWINDOW_TOKEN_PUBLIC_KEY',
      'ONEWINDOW_LOG_KEY_FILE',
    ]);
  });

  it('counts an empty value as unset', () => {
    expect(messageOf('worker', { ONEWINDOW_PAYLOAD_KEY: '' })).toMatch(
      /^ONEWINDOW_PAYLOAD_KEY is not set/,
    );
    expect(loadConfig(apiConfig, { ...valid.api, PORT: '', HOST: '' })).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
    });
  });
});

describe('parsed values', () => {
  it('defaults the Temporal address and parses the payload key', () => {
    const config = loadConfig(workerConfig, valid.worker);
    expect(config.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(config.ONEWINDOW_PAYLOAD_KEY.id).toBe('k1');
    expect(config.ONEWINDOW_PAYLOAD_KEY.key).toHaveLength(32);
    expect(config.ONEWINDOW_OPS_ADDRESS).toBeUndefined();
  });

  it('reads the trusted proxies as a list of addresses and CIDR ranges, none when unset', () => {
    const proxies = (value?: string) =>
      loadConfig(apiConfig, { ...valid.api, ONEWINDOW_TRUSTED_PROXIES: value })
        .ONEWINDOW_TRUSTED_PROXIES;
    expect(proxies('10.0.0.5, 172.16.0.0/12 ::1')).toEqual(['10.0.0.5', '172.16.0.0/12', '::1']);
    expect(proxies('fd00::/8')).toEqual(['fd00::/8']);
    expect(proxies()).toBeUndefined();
    expect(proxies('')).toBeUndefined();
  });

  it("reads a caller's limits as numbers, unset when not given (the API's defaults then)", () => {
    const config = loadConfig(apiConfig, {
      ...valid.api,
      ONEWINDOW_CALLER_REQUESTS_PER_MINUTE: '1200',
      ONEWINDOW_CITIZEN_CASES_PER_DAY: '5',
      ONEWINDOW_REFUSED_TOKENS_PER_MINUTE: '30',
    });
    expect(config.ONEWINDOW_CALLER_REQUESTS_PER_MINUTE).toBe(1200);
    expect(config.ONEWINDOW_CITIZEN_CASES_PER_DAY).toBe(5);
    expect(config.ONEWINDOW_REFUSED_TOKENS_PER_MINUTE).toBe(30);
    const unset = loadConfig(apiConfig, valid.api);
    expect(unset.ONEWINDOW_CALLER_REQUESTS_PER_MINUTE).toBeUndefined();
    expect(unset.ONEWINDOW_CITIZEN_CASES_PER_DAY).toBeUndefined();
    expect(unset.ONEWINDOW_REFUSED_TOKENS_PER_MINUTE).toBeUndefined();
  });

  it('reads the operations address as [host:]port, loopback unless a host is given', () => {
    const at = (value: string) =>
      loadConfig(workerConfig, { ...valid.worker, ONEWINDOW_OPS_ADDRESS: value })
        .ONEWINDOW_OPS_ADDRESS;
    expect(at('9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(at('0.0.0.0:9464')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(at('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
  });

  it('reads whether the orchestrator and dev keep workflow stack traces: on, off or unset', () => {
    const read = (schema: typeof orchestratorConfig | typeof devConfig, value: string) =>
      loadConfig(schema, {
        ...(schema === devConfig ? {} : valid.orchestrator),
        ONEWINDOW_WORKFLOW_STACK_TRACES: value,
      }).ONEWINDOW_WORKFLOW_STACK_TRACES;
    for (const schema of [orchestratorConfig, devConfig]) {
      expect(read(schema, 'on')).toBe('on');
      expect(read(schema, 'off')).toBe('off');
      expect(read(schema, '')).toBeUndefined();
    }
  });

  it('takes a majority of the witnesses unless a threshold is set', () => {
    const majority = witnessPolicyOf(loadConfig(orchestratorConfig, valid.orchestrator));
    expect(majority.threshold).toBe(2);
    expect(majority.witnesses.map((w) => [w.key.name, w.url])).toEqual([
      ['housing.witness.onewindow', 'http://witness-0:8080/'],
      ['tax.witness.onewindow', 'http://witness-1:8080/'],
    ]);
    const one = loadConfig(orchestratorConfig, {
      ...valid.orchestrator,
      ONEWINDOW_WITNESS_THRESHOLD: '1',
    });
    expect(witnessPolicyOf(one).threshold).toBe(1);
    expect(
      witnessPolicyOf(
        loadConfig(orchestratorConfig, { ...valid.orchestrator, ONEWINDOW_WITNESSES: '' }),
      ),
    ).toEqual({
      witnesses: [],
      threshold: 0,
    });
  });

  it('takes a threshold of 0 only when no witness is listed', () => {
    const none = { ...valid.orchestrator, ONEWINDOW_WITNESSES: '' };
    const policy = witnessPolicyOf(
      loadConfig(orchestratorConfig, { ...none, ONEWINDOW_WITNESS_THRESHOLD: '0' }),
    );
    expect(policy.threshold).toBe(0);
    expect(messageOf('orchestrator', { ...none, ONEWINDOW_WITNESS_THRESHOLD: '1' })).toBe(
      'ONEWINDOW_WITNESS_THRESHOLD must be 0 or unset while ONEWINDOW_WITNESSES lists no witness, got 1',
    );
  });

  it('takes a Temporal host name with underscores, as Compose names containers', () => {
    const config = loadConfig(workerConfig, {
      ...valid.worker,
      TEMPORAL_ADDRESS: 'onewindow_temporal_1:7233',
    });
    expect(config.TEMPORAL_ADDRESS).toBe('onewindow_temporal_1:7233');
  });

  it('reads the agency keys a deployment starts from, with their agencies', () => {
    const keys = loadConfig(setupConfig, valid.setup).ONEWINDOW_AGENCY_KEYS;
    expect(keys.map((k) => k.agency)).toEqual(['housing', 'orchestrator']);
    expect(keys[0]!.keyId).toMatch(/^housing\.agency\.onewindow\+[0-9a-f]{8}$/);
    expect(keys[0]!.publicKey).toHaveLength(32);
  });

  it('reads one or more log verifier keys (a rotation names two)', () => {
    const next = generateSigningKey(logKey.name);
    const config = loadConfig(witnessConfig, {
      ...valid.witness,
      ONEWINDOW_LOG_PUBLIC_KEY: `${valid.witness.ONEWINDOW_LOG_PUBLIC_KEY}  ${formatVerifierKey(next.name, next.publicKey)}`,
    });
    expect(config.ONEWINDOW_LOG_PUBLIC_KEY.map((k) => k.name)).toEqual([logKey.name, logKey.name]);
  });

  it("lets a witness keep its state in a database of its own, without the log's", () => {
    const ownDatabase = 'postgres://witness:secret@witness-db:5432/witness';
    const config = loadConfig(witnessConfig, {
      ...valid.witness,
      DATABASE_URL: undefined,
      ONEWINDOW_WITNESS_DATABASE_URL: ownDatabase,
    });
    expect(config.ONEWINDOW_WITNESS_DATABASE_URL).toBe(ownDatabase);
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it('drops variables a process does not read', () => {
    expect(
      loadConfig(witnessConfig, { ...valid.witness, PORT: '1', UNRELATED: 'x' }),
    ).not.toHaveProperty('PORT');
  });
});

describe('the commands', () => {
  it('stop a worker on a wrong value before it connects anywhere', async () => {
    const { runWorker } = await import('../cli/worker.ts');
    await expect(
      runWorker(['--agency', 'housing'], { TEMPORAL_ADDRESS: 'nowhere' }),
    ).rejects.toThrow(/^TEMPORAL_ADDRESS must be host:port .*; ONEWINDOW_PAYLOAD_KEY is not set/);
    await expect(
      runWorker(['--orchestrator'], { ONEWINDOW_PAYLOAD_KEY: payloadKey }),
    ).rejects.toThrow(/^DATABASE_URL is not set/);
  });

  it('stop a case erasure on a wrong value before it connects anywhere', async () => {
    const { runCase } = await import('../cli/case.ts');
    const caseId = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
    await expect(
      runCase(['erase', caseId], { ...valid.case, TEMPORAL_ADDRESS: 'nowhere' }),
    ).rejects.toThrow(/^TEMPORAL_ADDRESS must be host:port/);
    await expect(runCase(['erase', caseId, 'extra'], valid.case)).rejects.toThrow(
      'usage: onewindow case erase <caseId>',
    );
  });

  it("stop the API and the orchestrator on another log's key or an agency's key in the operator's place, before they connect anywhere", async () => {
    const write = (name: string, key: ReturnType<typeof generateSigningKey>) => {
      const file = join(dir, name);
      writeFileSync(file, `${formatSignerKey(key)}\n`, { mode: 0o600 });
      return file;
    };
    const origin = 'onewindow.example.gov/ledger';
    const logFile = write('log.key', generateSigningKey(origin));
    const otherLogFile = write('other-log.key', generateSigningKey('elsewhere.example/log'));
    const operatorFile = write(
      'orchestrator.key',
      generateSigningKey(agencyKeyName('orchestrator')),
    );
    const agencyFile = write('housing-agency.key', generateSigningKey(agencyKeyName('housing')));
    const { runApi } = await import('../cli/api.ts');
    const api = (env: Record<string, string>) =>
      runApi([], {
        ...valid.api,
        TEMPORAL_ADDRESS: '127.0.0.1:1',
        ONEWINDOW_LOG_ORIGIN: origin,
        ONEWINDOW_LOG_KEY_FILE: logFile,
        ONEWINDOW_KEY_FILE: operatorFile,
        ...env,
      });
    await expect(api({ ONEWINDOW_LOG_KEY_FILE: otherLogFile })).rejects.toThrow(
      `log key file ${otherLogFile} holds the key of "elsewhere.example/log", not of this log's origin "${origin}" (ONEWINDOW_LOG_ORIGIN)`,
    );
    await expect(api({ ONEWINDOW_LOG_NEXT_KEY_FILE: otherLogFile })).rejects.toThrow(
      /not of this log's origin/,
    );
    await expect(api({ ONEWINDOW_KEY_FILE: agencyFile })).rejects.toThrow(
      `key file ${agencyFile} holds the key "housing.agency.onewindow"; expected a key named "orchestrator.agency.onewindow"`,
    );
    const { runWorker } = await import('../cli/worker.ts');
    await expect(
      runWorker(['--orchestrator', '--key', operatorFile, '--log-key', otherLogFile], {
        ...valid.orchestrator,
        ONEWINDOW_LOG_ORIGIN: origin,
      }),
    ).rejects.toThrow(/not of this log's origin/);
  });

  it('stop a witness on a wrong value before it listens', async () => {
    const { runWitness } = await import('../cli/witness.ts');
    // A real witness key: only ONEWINDOW_LOG_PUBLIC_KEY is wrong.
    const witnessKeyFile = join(dir, 'housing.witness.key');
    writeFileSync(witnessKeyFile, `${formatSignerKey(witnessKeys[0]!)}\n`, { mode: 0o600 });
    const refused = runWitness(['--agency', 'housing', '--key', witnessKeyFile], {
      ...valid.witness,
      ONEWINDOW_LOG_PUBLIC_KEY: 'x',
    });
    await expect(refused).rejects.toBeInstanceOf(UsageError);
    await expect(refused).rejects.toThrow(/^ONEWINDOW_LOG_PUBLIC_KEY /);
  });
});
