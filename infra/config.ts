// Configuration from the environment, one zod schema per process kind (worker, orchestrator,
// witness, api, dev, case, setup). A process validates all of it at start, so a wrong or missing
// value stops it before it connects anywhere, with one line naming the variable and why.
// Keys of the parsed config are the variable names (grep finds both ends); values are parsed
// (a payload key, verifier keys, witness endpoints), so no caller re-parses a string.
import { existsSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { UsageError } from '../cli/args.ts';
import { Agency, Signer } from '../domain/agency.ts';
import { fromBase64 } from '../ledger/bytes.ts';
import { parseCosignerVerifierKey } from '../ledger/cosignature.ts';
import { isUnusablePublicKey, UNUSABLE_KEY } from '../ledger/ed25519.ts';
import { assertKeyName, keyIdOf, parseVerifierKey, type VerifierKey } from '../ledger/keys.ts';
import type { WitnessEndpoint, WitnessPolicyConfig } from '../ledger/pg/publisher.ts';
import { parsePayloadKeys, type PayloadKey, type PayloadKeyError } from './payloadCodec.ts';

/**
 * A configuration value is wrong or missing. A UsageError, so `cli/main.ts` prints it as one
 * line and exits 2, as for a bad flag: both are the operator's to fix, not a crash.
 */
export class ConfigError extends UsageError {
  override name = 'ConfigError';
}

/** Compose and shells write `NAME=` for "no value": treat an empty string as unset. */
function variable<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === '' ? undefined : value), schema);
}

/** The entries of a comma- or space-separated list. */
function proxyList(value: string): string[] {
  return value.split(/[\s,]+/).filter(Boolean);
}

/** An IPv4 or IPv6 address, or one with a CIDR prefix length that fits it. */
function isAddressOrRange(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  // At least one bit: /0 would trust every address (and Fastify's proxy-addr refuses it).
  return /^\d{1,3}$/.test(bits) && Number(bits) >= 1 && Number(bits) <= (version === 4 ? 32 : 128);
}

/** Quotes what the operator wrote, short, on one line (never used for secrets). */
function shown(value: unknown): string {
  const text = JSON.stringify(String(value));
  return text.length > 80 ? `${text.slice(0, 77)}…"` : text;
}

function text(missing: string) {
  return z.string({
    error: (issue) => (issue.input === undefined ? `is not set: ${missing}` : 'must be text'),
  });
}

function port(min: number) {
  return z
    .string()
    .refine((value) => /^\d{1,5}$/.test(value) && Number(value) >= min && Number(value) <= 65_535, {
      error: (issue) => `must be a whole number from ${min} to 65535, got ${shown(issue.input)}`,
    })
    .transform(Number);
}

/** A whole number from `min` to `max`, written in digits. */
function wholeNumber(min: number, max: number) {
  return z
    .string()
    .refine((value) => /^\d{1,7}$/.test(value) && Number(value) >= min && Number(value) <= max, {
      error: (issue) =>
        `must be a whole number from ${min} to ${max.toLocaleString('en')}, got ${shown(issue.input)}`,
    })
    .transform(Number);
}

/**
 * A PostgreSQL connection URL. Never echoed: it carries the password. docker-compose.yml
 * writes `composeVariable` into it as it is, so a password with `/`, `#` or `?` breaks the URL.
 */
function postgresUrl(missing: string, example: string, composeVariable: string) {
  return text(`${missing}, ${example}`).superRefine((value, ctx) => {
    let protocol: string | undefined;
    try {
      protocol = new URL(value).protocol;
    } catch {
      protocol = undefined;
    }
    if (protocol === undefined)
      ctx.addIssue({
        code: 'custom',
        input: '(hidden)',
        message: `must be a URL such as ${example}; a password in it may hold only letters, digits and . _ ~ - unless percent-encoded (docker-compose.yml writes ${composeVariable} into it as it is)`,
      });
    else if (!['postgres:', 'postgresql:'].includes(protocol))
      ctx.addIssue({
        code: 'custom',
        input: '(hidden)',
        message: `must be a URL such as ${example}`,
      });
  });
}

/** A path that must name an existing file (a key, a trust file). */
function file(missing: string) {
  return text(missing).refine((path) => existsSync(path) && statSync(path).isFile(), {
    error: (issue) => `names ${shown(issue.input)}, which is not an existing file`,
  });
}

/** Every variable any process reads, each with its own rule and its own message. */
export const configFields = {
  DATABASE_URL: variable(
    postgresUrl(
      'the PostgreSQL URL',
      'postgres://user:password@host:5432/onewindow',
      'ONEWINDOW_DB_PASSWORD',
    ),
  ),
  /**
   * `onewindow witness`: a database of the agency's own for the witness's state, out of the
   * log operator's reach (ledger/pg/witnessSchema.ts); absent, the state is kept in the log's.
   */
  ONEWINDOW_WITNESS_DATABASE_URL: variable(
    postgresUrl(
      "the witness's own PostgreSQL URL",
      'postgres://user:password@host:5432/witness',
      'WITNESS_DB_PASSWORD',
    ).optional(),
  ),
  TEMPORAL_ADDRESS: variable(
    z
      .string()
      .refine(
        (value) => {
          // Underscores too: Compose names containers and their hosts like project_temporal_1.
          const port = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(value)?.[1];
          return Number(port) >= 1 && Number(port) <= 65_535;
        },
        {
          error: (issue) =>
            `must be host:port such as temporal:7233 (a port from 1 to 65535), got ${shown(issue.input)}`,
        },
      )
      .default('127.0.0.1:7233'),
  ),
  /**
   * TLS to Temporal's frontend (infra/temporalTls.ts): `on` checks the server's certificate
   * against the system's CAs, or TEMPORAL_TLS_CA_FILE's; on whenever a TEMPORAL_TLS_* file is
   * given. Off by default, as the dev server and Compose's Temporal have no TLS.
   */
  TEMPORAL_TLS: variable(
    z
      .enum(['on', 'off'], { error: (issue) => `must be on or off, got ${shown(issue.input)}` })
      .optional(),
  ),
  /** The CA (PEM) that issued the Temporal frontend's certificate. */
  TEMPORAL_TLS_CA_FILE: variable(file('the Temporal CA file').optional()),
  /** This process's client certificate (PEM) for mTLS, with TEMPORAL_TLS_KEY_FILE. */
  TEMPORAL_TLS_CERT_FILE: variable(file('the Temporal client certificate file').optional()),
  /** The private key (PEM) of TEMPORAL_TLS_CERT_FILE. */
  TEMPORAL_TLS_KEY_FILE: variable(file('the Temporal client key file').optional()),
  /** The name the frontend's certificate holds, when not TEMPORAL_ADDRESS's host. */
  TEMPORAL_TLS_SERVER_NAME: variable(
    z
      .string()
      .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, {
        error: (issue) =>
          `must be a host name such as temporal.example.org, got ${shown(issue.input)}`,
      })
      .optional(),
  ),
  ONEWINDOW_PAYLOAD_KEY: variable(
    text(
      'Temporal payloads are encrypted with it (<key id>:<base64 of 32 random bytes>, during a rotation the new key and then the old ones)',
    ).transform((value, ctx): PayloadKey => {
      try {
        return parsePayloadKeys(value);
      } catch (error) {
        // Not echoed: it is the key. parsePayloadKeys says what is wrong without it, after the
        // variable's name, which loadConfig puts first.
        const why = (error as PayloadKeyError).message.replace(/^ONEWINDOW_PAYLOAD_KEY /, '');
        ctx.issues.push({
          code: 'custom',
          input: '(hidden)',
          message:
            why === 'names one key id twice'
              ? 'names one key id twice: each key of a rotation needs an id of its own'
              : why,
        });
        return z.NEVER;
      }
    }),
  ),
  /** The process's own statement key (`--key` takes precedence). */
  ONEWINDOW_KEY_FILE: variable(file('the statement key file').optional()),
  /** The log's checkpoint signing key (orchestrator; `--log-key` takes precedence). */
  ONEWINDOW_LOG_KEY_FILE: variable(file('the log key file').optional()),
  /** During a log key rotation, the next key signs every checkpoint too. */
  ONEWINDOW_LOG_NEXT_KEY_FILE: variable(file('the next log key file').optional()),
  /** A witness's cosigning key (`--key` takes precedence). */
  ONEWINDOW_WITNESS_KEY_FILE: variable(file('the witness key file').optional()),
  /** Absent: each command's default (cli/workers.ts DEFAULT_LOG_ORIGIN). */
  ONEWINDOW_LOG_ORIGIN: variable(
    z
      .string()
      .refine(
        (value) => {
          try {
            // The log's key is named after its origin (signed-note key name rules).
            assertKeyName(value);
            return true;
          } catch {
            return false;
          }
        },
        {
          error: (issue) =>
            `must be a log origin such as onewindow.example.gov/ledger (no spaces, no '+'), got ${shown(issue.input)}`,
        },
      )
      .optional(),
  ),
  ONEWINDOW_LOG_PUBLIC_KEY: variable(
    text('the log verifier key(s), <name>+<hex id>+<base64 key>, space-separated').transform(
      (value, ctx): VerifierKey[] => {
        const keys: VerifierKey[] = [];
        for (const key of value.trim().split(/\s+/)) {
          try {
            keys.push(parseVerifierKey(key));
          } catch (error) {
            ctx.issues.push({ code: 'custom', input: value, message: (error as Error).message });
            return z.NEVER;
          }
        }
        return keys;
      },
    ),
  ),
  /**
   * Space-separated `<cosigner verifier key>@<add-checkpoint URL prefix>`; absent: none. Each
   * witness at most once, by name and by key: k of n must be k different witnesses.
   */
  ONEWINDOW_WITNESSES: variable(
    z
      .string()
      .default('')
      .transform((value, ctx): WitnessEndpoint[] => {
        const endpoints: WitnessEndpoint[] = [];
        for (const entry of value.trim().split(/\s+/).filter(Boolean)) {
          const at = entry.indexOf('@');
          try {
            if (at < 0) throw new Error(`expected <verifier key>@<url>, got ${shown(entry)}`);
            const url = new URL(entry.slice(at + 1));
            if (!['http:', 'https:'].includes(url.protocol))
              throw new Error(`a witness URL must be http(s), got ${shown(url.toString())}`);
            const key = parseCosignerVerifierKey(entry.slice(0, at));
            const twin = endpoints.find(
              (e) =>
                e.key.name === key.name ||
                Buffer.from(e.key.publicKey).equals(Buffer.from(key.publicKey)),
            );
            if (twin)
              throw new Error(
                twin.key.name === key.name
                  ? `lists the witness ${shown(key.name)} twice: each witness counts once towards the threshold`
                  : `lists one public key as both ${shown(twin.key.name)} and ${shown(key.name)}: each witness counts once towards the threshold`,
              );
            endpoints.push({ key, url: url.toString() });
          } catch (error) {
            ctx.issues.push({ code: 'custom', input: entry, message: (error as Error).message });
            return z.NEVER;
          }
        }
        return endpoints;
      }),
  ),
  /** k of n; absent: a majority of the witnesses. Checked against n by `withWitnessCheck`. */
  ONEWINDOW_WITNESS_THRESHOLD: variable(
    z
      .string()
      .refine((value) => /^\d{1,4}$/.test(value), {
        error: (issue) => `must be a whole number, got ${shown(issue.input)}`,
      })
      .transform(Number)
      .optional(),
  ),
  /** Stack traces in the case's workflows (workflows/stackTraceLimit.ts): off unless `on`. */
  ONEWINDOW_WORKFLOW_STACK_TRACES: variable(
    z
      .enum(['on', 'off'], {
        error: (issue) => `must be on or off, got ${shown(issue.input)}`,
      })
      .optional(),
  ),
  ONEWINDOW_LOG_LEVEL: variable(
    z
      .enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'], {
        error: (issue) => `must be TRACE, DEBUG, INFO, WARN or ERROR, got ${shown(issue.input)}`,
      })
      .optional(),
  ),
  /** The API's port (`--port` takes precedence). */
  PORT: variable(port(1).default(3000)),
  /** The address to listen on; 0.0.0.0 in a container, loopback by default. */
  HOST: variable(
    z
      .string()
      .regex(/^[^\s/]+$/, {
        error: (issue) => `must be an address such as 0.0.0.0, got ${shown(issue.input)}`,
      })
      .default('127.0.0.1'),
  ),
  /**
   * The proxies in front of the API (addresses or CIDR ranges, comma- or space-separated)
   * whose X-Forwarded-For names the client: the public routes' rate limit and the request
   * log then count each client, not the proxy. None by default: a header anyone can send is
   * believed only from these.
   */
  ONEWINDOW_TRUSTED_PROXIES: variable(
    z
      .string()
      .refine((value) => proxyList(value).every(isAddressOrRange), {
        error: (issue) =>
          `must list proxy addresses or CIDR ranges (such as 10.0.0.5 or 10.0.0.0/8), got ${shown(issue.input)}`,
      })
      .transform(proxyList)
      .optional(),
  ),
  /** Requests a minute one signed-in caller may send to an API process (default 600). */
  ONEWINDOW_CALLER_REQUESTS_PER_MINUTE: variable(wholeNumber(1, 1_000_000).optional()),
  /** Cases one citizen may apply for in any 24 hours, counted in the case store (default 20). */
  ONEWINDOW_CITIZEN_CASES_PER_DAY: variable(wholeNumber(1, 1_000_000).optional()),
  /** Tokens refused a minute to one client before its new ones are refused unchecked, 429 (default 60). */
  ONEWINDOW_REFUSED_TOKENS_PER_MINUTE: variable(wholeNumber(1, 1_000_000).optional()),
  /** The token issuer's Ed25519 public key (base64 of 32 bytes): the API checks bearer tokens with it. */
  ONEWINDOW_TOKEN_PUBLIC_KEY: variable(
    text('the token issuer public key (onewindow tokens public-key prints it)').transform(
      (value, ctx): Uint8Array => {
        let key: Uint8Array | undefined;
        try {
          key = fromBase64(value.trim());
        } catch {
          key = undefined;
        }
        if (key?.length !== 32 || isUnusablePublicKey(key)) {
          ctx.issues.push({
            code: 'custom',
            input: value,
            message:
              key?.length === 32
                ? UNUSABLE_KEY
                : 'must be the base64 of a 32-byte Ed25519 public key',
          });
          return z.NEVER;
        }
        return key;
      },
    ),
  ),
  /** Optional: the trust file the API serves at /ledger/trust. */
  ONEWINDOW_TRUST_FILE: variable(file('the trust file').optional()),
  /**
   * Workers: where to serve /healthz and /metrics, `[host:]port` (host default 127.0.0.1;
   * 0.0.0.0:9464 in a container for Prometheus). Unset: no such endpoint.
   */
  ONEWINDOW_OPS_ADDRESS: variable(
    z
      .string()
      .transform((value, ctx) => {
        const match = /^(?:([^\s:/]+|\[[0-9A-Fa-f:.]+\]):)?(\d{1,5})$/.exec(value);
        const port = Number(match?.[2]);
        if (!match || port < 1 || port > 65_535) {
          ctx.issues.push({
            code: 'custom',
            input: value,
            message: `must be [host:]port such as 0.0.0.0:9464, got ${shown(value)}`,
          });
          return z.NEVER;
        }
        return { host: (match[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port };
      })
      .optional(),
  ),
  /** `onewindow dev`: where its state lives. */
  ONEWINDOW_DATA_DIR: variable(z.string().optional()),
  /** `onewindow dev` and the tests: a `temporal` CLI to use instead of building one. */
  TEMPORAL_CLI_PATH: variable(file('the temporal CLI').optional()),
  /** `onewindow dev` and the tests: where the Temporal CLI build is cached. */
  ONEWINDOW_CACHE_DIR: variable(z.string().optional()),
  /** Setup: the database owner's URL (migrations and the application role). */
  ONEWINDOW_ADMIN_DATABASE_URL: variable(
    postgresUrl(
      'the database owner URL',
      'postgres://postgres:password@host:5432/onewindow',
      'POSTGRES_PASSWORD',
    ),
  ),
  /** Setup: the application role's password (the one in every process's DATABASE_URL). */
  ONEWINDOW_DB_PASSWORD: variable(
    text('the application role password, as in DATABASE_URL').refine(
      (value) => /^[A-Za-z0-9._~-]{16,}$/.test(value),
      // URL-safe, so it goes into DATABASE_URL as it is. Not echoed: a secret.
      { error: 'must be at least 16 URL-safe characters (letters, digits, . _ ~ -)' },
    ),
  ),
  /**
   * Setup: the statement verifier keys a deployment starts from (what `onewindow keys
   * generate` prints), space-separated; each key's name says its agency.
   */
  ONEWINDOW_AGENCY_KEYS: variable(
    text('the agency verifier keys that `onewindow keys generate` printed').transform(
      (value, ctx): AnchorKey[] => {
        const keys: AnchorKey[] = [];
        for (const entry of value.trim().split(/\s+/)) {
          try {
            const key = parseVerifierKey(entry);
            const agency = Signer.safeParse(key.name.replace(/\.agency\.onewindow$/, ''));
            if (!key.name.endsWith('.agency.onewindow') || !agency.success)
              throw new Error(
                `key ${shown(key.name)} is not named <agency>.agency.onewindow for one of ${[...Agency.options, 'orchestrator'].join(', ')}`,
              );
            keys.push({
              keyId: keyIdOf(key.name, key.publicKey),
              agency: agency.data,
              publicKey: key.publicKey,
            });
          } catch (error) {
            ctx.issues.push({ code: 'custom', input: entry, message: (error as Error).message });
            return z.NEVER;
          }
        }
        return keys;
      },
    ),
  ),
} as const;

/** A key the registry starts from (registered without a ledger entry, like `onewindow dev`). */
export interface AnchorKey {
  keyId: string;
  agency: Agency | 'orchestrator';
  publicKey: Uint8Array;
}

const f = configFields;

/**
 * Adds the check that the threshold is at least 1 and at most the number of witnesses (0 with
 * none), naming the threshold.
 */
export function withWitnessCheck<
  T extends z.ZodObject<{
    ONEWINDOW_WITNESSES: typeof f.ONEWINDOW_WITNESSES;
    ONEWINDOW_WITNESS_THRESHOLD: typeof f.ONEWINDOW_WITNESS_THRESHOLD;
  }>,
>(schema: T): T {
  return schema.superRefine((config, ctx) => {
    const { ONEWINDOW_WITNESSES: witnesses, ONEWINDOW_WITNESS_THRESHOLD: threshold } = config;
    if (threshold === undefined) return;
    const range =
      witnesses.length === 0
        ? 'must be 0 or unset while ONEWINDOW_WITNESSES lists no witness'
        : `must be from 1 to the number of witnesses in ONEWINDOW_WITNESSES (${witnesses.length})`;
    // 0 of n > 0 would publish checkpoints no witness signed, unnoticed.
    if (threshold > witnesses.length || (threshold === 0 && witnesses.length > 0))
      ctx.addIssue({
        code: 'custom',
        path: ['ONEWINDOW_WITNESS_THRESHOLD'],
        input: threshold,
        message: `${range}, got ${threshold}${threshold === 0 ? ': checkpoints would go out with no witness signature' : ''}`,
      });
  });
}

/** `onewindow worker --agency <id>`: Temporal only (agency workers touch no database). */
/** How a process reaches Temporal: its address, and TLS if any (infra/temporalTls.ts). */
export const temporalShape = {
  TEMPORAL_ADDRESS: f.TEMPORAL_ADDRESS,
  TEMPORAL_TLS: f.TEMPORAL_TLS,
  TEMPORAL_TLS_CA_FILE: f.TEMPORAL_TLS_CA_FILE,
  TEMPORAL_TLS_CERT_FILE: f.TEMPORAL_TLS_CERT_FILE,
  TEMPORAL_TLS_KEY_FILE: f.TEMPORAL_TLS_KEY_FILE,
  TEMPORAL_TLS_SERVER_NAME: f.TEMPORAL_TLS_SERVER_NAME,
};

/** What `temporalShape` reads, for infra/temporalTls.ts. */
export type TemporalConfig = z.output<z.ZodObject<typeof temporalShape>>;

export const workerShape = {
  ...temporalShape,
  ONEWINDOW_PAYLOAD_KEY: f.ONEWINDOW_PAYLOAD_KEY,
  ONEWINDOW_KEY_FILE: f.ONEWINDOW_KEY_FILE,
  ONEWINDOW_LOG_LEVEL: f.ONEWINDOW_LOG_LEVEL,
  ONEWINDOW_OPS_ADDRESS: f.ONEWINDOW_OPS_ADDRESS,
};
export const workerConfig = z.object(workerShape);
export type WorkerConfig = z.output<typeof workerConfig>;

/** `onewindow worker --orchestrator`: the workflows, the sequencer and the witness policy. */
export const orchestratorShape = {
  ...workerShape,
  DATABASE_URL: f.DATABASE_URL,
  ONEWINDOW_LOG_KEY_FILE: f.ONEWINDOW_LOG_KEY_FILE,
  ONEWINDOW_LOG_NEXT_KEY_FILE: f.ONEWINDOW_LOG_NEXT_KEY_FILE,
  ONEWINDOW_LOG_ORIGIN: f.ONEWINDOW_LOG_ORIGIN,
  ONEWINDOW_WITNESSES: f.ONEWINDOW_WITNESSES,
  ONEWINDOW_WITNESS_THRESHOLD: f.ONEWINDOW_WITNESS_THRESHOLD,
  ONEWINDOW_WORKFLOW_STACK_TRACES: f.ONEWINDOW_WORKFLOW_STACK_TRACES,
};
export const orchestratorConfig = withWitnessCheck(z.object(orchestratorShape));
export type OrchestratorConfig = z.output<typeof orchestratorConfig>;

/**
 * `onewindow witness`: its state in PostgreSQL (a database of its own, or the log's) and the
 * log it watches.
 */
export const witnessShape = {
  DATABASE_URL: variable(f.DATABASE_URL.optional()),
  ONEWINDOW_WITNESS_DATABASE_URL: f.ONEWINDOW_WITNESS_DATABASE_URL,
  ONEWINDOW_WITNESS_KEY_FILE: f.ONEWINDOW_WITNESS_KEY_FILE,
  ONEWINDOW_LOG_ORIGIN: f.ONEWINDOW_LOG_ORIGIN,
  ONEWINDOW_LOG_PUBLIC_KEY: f.ONEWINDOW_LOG_PUBLIC_KEY,
  // Where it listens comes from --host and --port only: `onewindow dev` passes its own
  // environment on, and a PORT or HOST meant for the API must not move the witnesses.
};
export const witnessConfig = z.object(witnessShape).superRefine((config, ctx) => {
  if (config.DATABASE_URL === undefined && config.ONEWINDOW_WITNESS_DATABASE_URL === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['DATABASE_URL'],
      input: undefined,
      message:
        "is not set: the PostgreSQL URL, postgres://user:password@host:5432/onewindow (or ONEWINDOW_WITNESS_DATABASE_URL, the witness's own database)",
    });
});
export type WitnessConfig = z.output<typeof witnessConfig>;

/**
 * `onewindow api`. Extend with `z.object({ ...apiShape, NEW_VARIABLE: … })` and wrap in
 * `withWitnessCheck` if the witness variables stay.
 */
export const apiShape = {
  DATABASE_URL: f.DATABASE_URL,
  ...temporalShape,
  ONEWINDOW_PAYLOAD_KEY: f.ONEWINDOW_PAYLOAD_KEY,
  PORT: f.PORT,
  HOST: f.HOST,
  ONEWINDOW_TRUSTED_PROXIES: f.ONEWINDOW_TRUSTED_PROXIES,
  ONEWINDOW_TOKEN_PUBLIC_KEY: f.ONEWINDOW_TOKEN_PUBLIC_KEY,
  ONEWINDOW_CALLER_REQUESTS_PER_MINUTE: f.ONEWINDOW_CALLER_REQUESTS_PER_MINUTE,
  ONEWINDOW_CITIZEN_CASES_PER_DAY: f.ONEWINDOW_CITIZEN_CASES_PER_DAY,
  ONEWINDOW_REFUSED_TOKENS_PER_MINUTE: f.ONEWINDOW_REFUSED_TOKENS_PER_MINUTE,
  // The operator key signs the access-audit entries; the API appends them to the log.
  ONEWINDOW_KEY_FILE: variable(file('the operator statement key signs the access audit')),
  ONEWINDOW_LOG_KEY_FILE: variable(file('the log key signs the checkpoints of the access audit')),
  ONEWINDOW_LOG_NEXT_KEY_FILE: f.ONEWINDOW_LOG_NEXT_KEY_FILE,
  ONEWINDOW_LOG_ORIGIN: f.ONEWINDOW_LOG_ORIGIN,
  ONEWINDOW_WITNESSES: f.ONEWINDOW_WITNESSES,
  ONEWINDOW_WITNESS_THRESHOLD: f.ONEWINDOW_WITNESS_THRESHOLD,
  ONEWINDOW_TRUST_FILE: f.ONEWINDOW_TRUST_FILE,
};
export const apiConfig = withWitnessCheck(z.object(apiShape));
export type ApiConfig = z.output<typeof apiConfig>;

/** `onewindow dev`: everything embedded unless DATABASE_URL points at a PostgreSQL. */
export const devShape = {
  DATABASE_URL: variable(f.DATABASE_URL.optional()),
  ONEWINDOW_DATA_DIR: f.ONEWINDOW_DATA_DIR,
  TEMPORAL_CLI_PATH: f.TEMPORAL_CLI_PATH,
  ONEWINDOW_CACHE_DIR: f.ONEWINDOW_CACHE_DIR,
  ONEWINDOW_LOG_ORIGIN: f.ONEWINDOW_LOG_ORIGIN,
  ONEWINDOW_LOG_LEVEL: f.ONEWINDOW_LOG_LEVEL,
  ONEWINDOW_WORKFLOW_STACK_TRACES: f.ONEWINDOW_WORKFLOW_STACK_TRACES,
};
export const devConfig = z.object(devShape);
export type DevConfig = z.output<typeof devConfig>;

/** `onewindow case erase`: the case rows and the Temporal history it erases. */
export const caseShape = {
  DATABASE_URL: f.DATABASE_URL,
  ...temporalShape,
  // The run's memo (who applied) is encrypted like every payload; describing the run to
  // check it has closed decodes it.
  ONEWINDOW_PAYLOAD_KEY: f.ONEWINDOW_PAYLOAD_KEY,
};
export const caseConfig = z.object(caseShape);
export type CaseConfig = z.output<typeof caseConfig>;

/** The one-shot setup of a deployment (docker-compose.yml `onewindow-setup`). */
export const setupShape = {
  ONEWINDOW_ADMIN_DATABASE_URL: f.ONEWINDOW_ADMIN_DATABASE_URL,
  ONEWINDOW_DB_PASSWORD: f.ONEWINDOW_DB_PASSWORD,
  ONEWINDOW_AGENCY_KEYS: f.ONEWINDOW_AGENCY_KEYS,
};
export const setupConfig = z.object(setupShape);
export type SetupConfig = z.output<typeof setupConfig>;

/** The witness policy: the endpoints and k (default: a majority of them). */
export function witnessPolicyOf(config: {
  ONEWINDOW_WITNESSES: WitnessEndpoint[];
  ONEWINDOW_WITNESS_THRESHOLD?: number | undefined;
}): WitnessPolicyConfig {
  const witnesses = config.ONEWINDOW_WITNESSES;
  const threshold =
    config.ONEWINDOW_WITNESS_THRESHOLD ??
    (witnesses.length === 0 ? 0 : Math.floor(witnesses.length / 2) + 1);
  return { witnesses, threshold };
}

/**
 * Parses the environment with `schema`.
 * @throws ConfigError with one line naming each wrong or missing variable and why, in schema order.
 * @example const config = loadConfig(workerConfig, process.env);
 */
export function loadConfig<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.output<T> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = issue.path.length > 0 ? issue.path.join('.') : 'configuration';
    return `${name} ${issue.message}`.replace(/\s*\n\s*/g, ' ');
  });
  throw new ConfigError(lines.join('; '));
}
