// `onewindow keys generate`: an agency's Ed25519 statement key in the C2SP signer format.
// `onewindow keys rotate|revoke`: key changes, appended to the ledger as key events
// (ledger/keyEvents.ts) and then recorded in the key registry.
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import pg from 'pg';
import { z } from 'zod';
import { Agency, Signer } from '../domain/agency.ts';
import { LedgerError, UnknownKeyError } from '../domain/errors.ts';
import { KeyId } from '../domain/statement.ts';
import { toBase64 } from '../ledger/bytes.ts';
import { formatCosignerVerifierKey } from '../ledger/cosignature.ts';
import {
  agencyKeyName,
  assertKeyName,
  formatSignerKey,
  formatVerifierKey,
  generateSigningKey,
  parseSignerKey,
  type SigningKey,
} from '../ledger/keys.ts';
import {
  addAgencyKey,
  KeyRegistry,
  registerAgencyKey,
  DisownedSignerError,
  revokeAgencyKey,
} from '../ledger/pg/keyRegistry.ts';
import { TrustFile } from '../ledger/trust.ts';
import { Sequencer, type LogIdentity } from '../ledger/pg/sequencer.ts';
import { isFileSystemError, parse, refuseEmpty, requireEnv, UsageError } from './args.ts';
import { writeFileWhole } from './files.ts';
import { makeDirectorySync } from '../infra/directories.ts';

/** Parses `--agency`, or throws a UsageError listing the agencies (and what else may stand instead). */
export function agencyOption(value: string | undefined, alternative = ''): Agency {
  const agency = Agency.safeParse(value);
  if (!agency.success)
    throw new UsageError(`--agency must be one of ${Agency.options.join(', ')}${alternative}`);
  return agency.data;
}

/** The key name of an agency's witness (cosigning) key. */
export function witnessKeyName(agency: string): string {
  return `${agency}.witness.onewindow`;
}

/** The key name of the token issuer (`keys generate --token-issuer`), whose tokens the API takes. */
export const TOKEN_ISSUER_KEY_NAME = 'tokens.onewindow';

/** A key file holds a key of another name than the one asked for (another agency's, say). */
export class KeyNameError extends UsageError {
  override name = 'KeyNameError';
}

/** The key in `file`, or a KeyNameError naming both names when it is not named `expected`. */
function readNamedKeyFile(file: string, expected: string): SigningKey {
  const key = readKeyFile(file);
  if (key.name !== expected)
    throw new KeyNameError(
      `key file ${file} holds the key ${JSON.stringify(key.name)}; expected a key named ${JSON.stringify(expected)}`,
    );
  return key;
}

/**
 * The signing key named by `--key` or, failing that, the environment variable `envName`;
 * with `expectedName`, a key of another name (another agency's) is refused as bad input.
 */
export function keyOption(
  value: string | undefined,
  env: NodeJS.ProcessEnv,
  envName: string,
  why: string,
  expectedName?: string,
): SigningKey {
  if (value === '') throw new UsageError('--key must name a key file, got ""');
  const file = value ?? env[envName];
  if (!file) throw new UsageError(`--key <file> (or ${envName}) is required: ${why}`);
  return expectedName === undefined ? readKeyFile(file) : readNamedKeyFile(file, expectedName);
}

/**
 * The log's identity from its key files. C2SP names a log's key after its origin: a key of
 * another name (another log's, or an origin mistyped in one process) would sign checkpoints
 * no verifier of this log accepts, into a table that keeps them for good. Refused at start.
 * @throws UsageError naming the file and both names.
 */
export function logIdentity(origin: string, keyFile: string, nextKeyFile?: string): LogIdentity {
  const named = (file: string) => {
    const key = readKeyFile(file);
    if (key.name !== origin)
      throw new UsageError(
        `log key file ${file} holds the key of ${JSON.stringify(key.name)}, not of this log's origin ${JSON.stringify(origin)} (ONEWINDOW_LOG_ORIGIN)`,
      );
    return key;
  };
  return {
    origin,
    key: named(keyFile),
    ...(nextKeyFile ? { extraKeys: [named(nextKeyFile)] } : {}),
  };
}

/** Reads a signer key file, or throws a UsageError saying which file and why. */
export function readKeyFile(path: string): SigningKey {
  if (!existsSync(path)) throw new UsageError(`key file ${path} does not exist`);
  try {
    return parseSignerKey(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`key file ${path}: ${(error as Error).message}`);
  }
}

/**
 * Writes a new key named `name` to `path` (mode 0600) unless one is there; returns the key.
 * Written whole and durably, never over a file that appeared meanwhile (`writeFileWhole`).
 * One that is there must hold a key named `name`: another's (a log of another origin, another
 * agency's) would sign what no verifier of this one accepts.
 * @throws UsageError for a key of another name, or a file that cannot be read or written
 *   (its folder is a file, not writable…).
 */
export function ensureKeyFile(path: string, name: string): SigningKey {
  if (existsSync(path)) return readNamedKeyFile(path, name);
  const key = generateSigningKey(name);
  try {
    makeDirectorySync(dirname(path));
    writeFileWhole(path, `${formatSignerKey(key)}\n`, { mode: 0o600, exclusive: true });
  } catch (error) {
    // Another start made it meanwhile (two `dev`s, a worker beside `keys generate`): theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readNamedKeyFile(path, name);
    throw new UsageError(`cannot write key file ${path}: ${(error as Error).message}`);
  }
  return key;
}

/**
 * The statement key of `signer` in `file` (made there if missing), registered as valid from the
 * epoch unless it is registered already, with the line a trust file lists it by: how a fresh
 * system on one host starts. The line gives the window the registry holds, so a key registered
 * before with another window (one a rotation added, its file then put in place of this one) is
 * trusted from when its row says, not from the epoch. Such a swap no longer lists the first
 * key here: `earlierAnchors` keeps it in the trust file.
 */
export async function ensureRegisteredKey(
  admin: pg.Pool,
  file: string,
  signer: Signer,
): Promise<{ key: SigningKey; trusted: TrustFile['agencyKeys'][number] }> {
  const key = ensureKeyFile(file, agencyKeyName(signer));
  const registered = await registerAgencyKey(admin, {
    keyId: key.keyId,
    agency: signer,
    publicKey: key.publicKey,
    validFrom: new Date(0),
  });
  return {
    key,
    trusted: {
      keyId: key.keyId,
      agency: signer,
      publicKey: toBase64(key.publicKey),
      validFrom: registered.validFrom.toISOString(),
      ...(registered.validUntil ? { validUntil: registered.validUntil.toISOString() } : {}),
    },
  };
}

/** The trust file at `path`, or a UsageError naming it (as `what`) and what is wrong with it. */
export function readTrustFile(path: string, what: string): TrustFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`${what} ${path}: ${(error as Error).message}`);
  }
  const trust = TrustFile.safeParse(json);
  if (!trust.success)
    throw new UsageError(
      `${what} ${path}: ${trust.error.issues[0]?.path.join('.')} ${trust.error.issues[0]?.message}`,
    );
  return trust.data;
}

/**
 * The agency keys an earlier trust file (`earlier`) listed beside `current` that the registry
 * still holds for the same agency with the same public key, each with the window the registry
 * holds: a key once handed to verifiers as an anchor stays one. Otherwise a key file swapped for
 * its rotated successor drops the first key, by which verifiers check that key's entries and the
 * key.add of its successor. A line the registry does not hold so (a key of another database, or
 * of one made afresh) is never trusted: it is `dropped`, with why, for the caller to say.
 */
export async function earlierAnchors(
  admin: pg.Pool,
  earlier: TrustFile | undefined,
  current: readonly { keyId: string }[],
): Promise<{ kept: TrustFile['agencyKeys']; dropped: { keyId: string; why: string }[] }> {
  const listed = new Set(current.map((k) => k.keyId));
  const registry = new KeyRegistry(admin);
  const kept: TrustFile['agencyKeys'] = [];
  const dropped: { keyId: string; why: string }[] = [];
  for (const line of earlier?.agencyKeys ?? []) {
    if (listed.has(line.keyId)) continue;
    if (!KeyId.safeParse(line.keyId).success) {
      dropped.push({ keyId: line.keyId, why: 'not a key id' });
      continue;
    }
    const row = await registry.get(line.keyId).catch((error: unknown) => {
      if (error instanceof UnknownKeyError) return undefined;
      throw error;
    });
    if (!row) {
      dropped.push({ keyId: line.keyId, why: 'the registry holds no such key' });
      continue;
    }
    const why =
      row.agency !== line.agency
        ? `the registry holds it for ${row.agency}, not ${line.agency}`
        : toBase64(row.publicKey) !== line.publicKey
          ? 'the registry holds it with another public key'
          : undefined;
    if (why) {
      dropped.push({ keyId: line.keyId, why });
      continue;
    }
    listed.add(line.keyId);
    kept.push({
      keyId: row.keyId,
      agency: row.agency,
      publicKey: line.publicKey,
      validFrom: row.validFrom.toISOString(),
      ...(row.validUntil ? { validUntil: row.validUntil.toISOString() } : {}),
    });
  }
  return { kept, dropped };
}

/** A fresh statement key for each of `signers`, registered as valid from the epoch: for tests and benchmarks. */
export async function generateRegisteredKeys<S extends Signer>(
  admin: pg.Pool,
  signers: readonly S[],
): Promise<Record<S, SigningKey>> {
  const keys = {} as Record<S, SigningKey>;
  for (const signer of signers) {
    keys[signer] = generateSigningKey(agencyKeyName(signer));
    await registerAgencyKey(admin, {
      keyId: keys[signer].keyId,
      agency: signer,
      publicKey: keys[signer].publicKey,
      validFrom: new Date(0),
    });
  }
  return keys;
}

const USAGE = `usage: onewindow keys <generate|rotate|revoke> …
  generate --agency <id> | --orchestrator | --log <origin> | --witness <agency> | --token-issuer
           --out <file>   a new Ed25519 key; prints its verifier key (the issuer: its public key)
  rotate   --agency <id> --key <current key file> --out <new key file> [--valid-from <RFC 3339>]
  revoke   --key-id <id> --key <signing key file> [--at <RFC 3339, not in the future>]
           the key signs nothing logged after the revocation; --at says when its use ended
rotate and revoke need DATABASE_URL, ONEWINDOW_LOG_ORIGIN and ONEWINDOW_LOG_KEY_FILE.`;

export function runKeys(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): number | Promise<number> {
  // main.ts returns this without awaiting it inside its try: map the async errors here.
  if (argv[0] === 'rotate') return exitCode(runRotate(argv.slice(1), env));
  if (argv[0] === 'revoke') return exitCode(runRevoke(argv.slice(1), env));
  const { values, positionals } = parse(argv, {
    agency: { type: 'string' },
    orchestrator: { type: 'boolean' },
    log: { type: 'string' },
    witness: { type: 'string' },
    'token-issuer': { type: 'boolean' },
    out: { type: 'string' },
  });
  if (positionals[0] !== 'generate' || positionals.length > 1) throw new UsageError(USAGE);
  refuseEmpty(values, { out: 'a file' });
  const kinds = [
    values.agency !== undefined,
    values.orchestrator === true,
    values.log !== undefined,
    values.witness !== undefined,
    values['token-issuer'] === true,
  ].filter(Boolean).length;
  if (kinds !== 1)
    throw new UsageError(
      'name exactly one kind of key: --agency <id>, --orchestrator, --log <origin>, --witness <agency> or --token-issuer',
    );
  if (!values.out) throw new UsageError('--out <file> is required');
  if (existsSync(values.out))
    throw new UsageError(`${values.out} exists; refusing to overwrite a key`);
  // What each key is named (C2SP key names) and what the caller needs printed: the verifier
  // key the registry, trust file or witness policy takes, or the token issuer's public key.
  if (values.witness !== undefined) {
    const agency = agencyOption(values.witness);
    const key = ensureKeyFile(values.out, witnessKeyName(agency));
    console.log(formatCosignerVerifierKey(key.name, key.publicKey));
  } else if (values.log !== undefined) {
    try {
      assertKeyName(values.log);
    } catch (error) {
      throw new UsageError(`--log must be the log's origin: ${(error as Error).message}`);
    }
    const key = ensureKeyFile(values.out, values.log);
    console.log(formatVerifierKey(key.name, key.publicKey));
  } else if (values['token-issuer']) {
    const key = ensureKeyFile(values.out, TOKEN_ISSUER_KEY_NAME);
    console.log(toBase64(key.publicKey));
  } else {
    const name = values.orchestrator
      ? agencyKeyName('orchestrator')
      : agencyKeyName(agencyOption(values.agency));
    const key = ensureKeyFile(values.out, name);
    console.log(formatVerifierKey(key.name, key.publicKey));
  }
  return 0;
}

async function exitCode(run: Promise<number>): Promise<number> {
  try {
    return await run;
  } catch (error) {
    // A new key file that cannot be written is the operator's to fix, as in main.ts.
    if (error instanceof UsageError || isFileSystemError(error)) {
      console.error(`onewindow: ${error.message}`);
      return 2;
    }
    console.error(`onewindow: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

const Rfc3339 = z.iso.datetime({ offset: true });

function timeOption(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  if (!Rfc3339.safeParse(value).success)
    throw new UsageError(
      `--${name} must be an RFC 3339 time such as 2026-07-01T00:00:00Z, got ${JSON.stringify(value)}`,
    );
  return new Date(value);
}

/** What rotate and revoke share: the database, the registry and a sequencer of the log. */
function openLedger(env: NodeJS.ProcessEnv) {
  const url = requireEnv(env, 'DATABASE_URL');
  const logKeyFile = requireEnv(env, 'ONEWINDOW_LOG_KEY_FILE');
  const nextLogKeyFile = env.ONEWINDOW_LOG_NEXT_KEY_FILE;
  // The origin required rather than defaulted: it must be exactly the log's (checkpoints name it).
  const log = logIdentity(requireEnv(env, 'ONEWINDOW_LOG_ORIGIN'), logKeyFile, nextLogKeyFile);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const registry = new KeyRegistry(pool);
  const sequencer = new Sequencer(pool, registry, log);
  return {
    pool,
    registry,
    append: (signed: Parameters<Sequencer['append']>[0]) => sequencer.append(signed),
  };
}

/** Refuses, as bad input, a signing key the registry would not accept for `agency` now. */
async function authorizeSigner(
  registry: KeyRegistry,
  path: string,
  key: SigningKey,
  agency: string,
  now: Date,
): Promise<void> {
  try {
    await registry.authorize(key.keyId, agency, now.toISOString());
  } catch (error) {
    if (error instanceof LedgerError)
      throw new UsageError(`--key ${path} cannot sign for ${agency} now: ${error.message}`);
    throw error;
  }
}

async function runRotate(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse(argv, {
    agency: { type: 'string' },
    key: { type: 'string' },
    out: { type: 'string' },
    'valid-from': { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(USAGE);
  refuseEmpty(values, { key: 'a key file', out: 'a file' });
  const agency = Signer.safeParse(values.agency);
  if (!agency.success)
    throw new UsageError(
      `--agency must be one of ${[...Agency.options, 'orchestrator'].join(', ')}`,
    );
  if (!values.key)
    throw new UsageError(
      '--key <current key file> is required: the key that introduces the new one',
    );
  if (!values.out) throw new UsageError('--out <new key file> is required');
  if (existsSync(values.out))
    throw new UsageError(`${values.out} exists; refusing to overwrite a key`);
  const current = readKeyFile(values.key);
  const now = new Date();
  const validFrom = timeOption(values['valid-from'], 'valid-from') ?? now;
  if (validFrom < now)
    throw new UsageError(
      '--valid-from must not be in the past: a key cannot be valid before the ledger entry that adds it',
    );
  const { pool, registry, append } = openLedger(env);
  try {
    await authorizeSigner(registry, values.key, current, agency.data, now);
    const key = generateSigningKey(agencyKeyName(agency.data));
    makeDirectorySync(dirname(values.out));
    // On disk for good before the ledger names it: a logged key whose private half a power
    // loss took is of use to nobody.
    writeFileWhole(values.out, `${formatSignerKey(key)}\n`, { mode: 0o600, exclusive: true });
    let added;
    try {
      added = await addAgencyKey(pool, append, {
        newKey: { keyId: key.keyId, agency: agency.data, publicKey: key.publicKey },
        signingKey: current,
        validFrom,
        now: () => now,
      });
    } catch (error) {
      // Refused by the ledger: nothing was appended, so the new key is of no use.
      if (error instanceof LedgerError) unlinkSync(values.out);
      else
        console.error(
          `onewindow: the new key stays in ${values.out}; it may already be in the ledger`,
        );
      throw error;
    }
    console.log(formatVerifierKey(key.name, key.publicKey));
    console.error(
      `added ${key.keyId} for ${agency.data}, valid from ${added.validFrom.toISOString()} (ledger statement ${added.statementId}, signed by ${current.keyId})`,
    );
    return 0;
  } finally {
    await pool.end();
  }
}

async function runRevoke(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse(argv, {
    'key-id': { type: 'string' },
    key: { type: 'string' },
    at: { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(USAGE);
  refuseEmpty(values, { key: 'a key file' });
  const keyId = KeyId.safeParse(values['key-id']);
  if (!keyId.success)
    throw new UsageError('--key-id <name>+<8 hex digits> is required: the key to revoke');
  if (!values.key)
    throw new UsageError('--key <signing key file> is required: a valid key of the same agency');
  const signer = readKeyFile(values.key);
  const now = new Date();
  const revokedAt = timeOption(values.at, 'at') ?? now;
  // A revoked key signs nothing logged after its revocation, whatever time it is given
  // (ledger/keyEvents.ts): a future --at would suggest a grace period there is none of.
  if (revokedAt > now)
    throw new UsageError(
      `--at ${revokedAt.toISOString()} is in the future: a revocation takes effect once logged; for a planned end, rotate the key (--valid-from)`,
    );
  const { pool, registry, append } = openLedger(env);
  try {
    let agency: string;
    try {
      agency = (await registry.get(keyId.data)).agency;
    } catch (error) {
      if (error instanceof LedgerError) throw new UsageError(`--key-id: ${error.message}`);
      throw error;
    }
    await authorizeSigner(registry, values.key, signer, agency, now);
    const { statementId, from, alsoRevoked, notRevoked } = await revokeAgencyKey(pool, append, {
      keyId: keyId.data,
      signingKey: signer,
      revokedAt,
      now: () => now,
    }).catch((error: unknown) => {
      if (error instanceof DisownedSignerError)
        throw new UsageError(`--key ${values.key}: ${error.message}`);
      throw error;
    });
    console.log(
      `revoked ${keyId.data} of ${agency} from ${from} (ledger statement ${statementId}, signed by ${signer.keyId})`,
    );
    for (const also of alsoRevoked)
      console.log(
        `revoked ${also.keyId} of ${agency} too, a key ${keyId.data} added after ${from} (ledger statement ${also.statementId})`,
      );
    // The revocation stands; what it could not finish is the operator's to finish.
    if (notRevoked.length > 0) {
      console.error(
        `onewindow keys: ${keyId.data} added ${notRevoked.join(', ')} after ${from}; verifiers disown them, but the ledger still takes them until they are revoked: run this again with --key of another valid ${agency} key (the same --at or none: it reaches back as far as the earliest revocation of ${keyId.data})`,
      );
      return 1;
    }
    return 0;
  } finally {
    await pool.end();
  }
}
