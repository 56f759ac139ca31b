// `onewindow keys generate`: an agency's Ed25519 statement key in the C2SP signer format.
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Agency } from '../domain/agency.ts';
import {
  agencyKeyName,
  formatSignerKey,
  formatVerifierKey,
  generateSigningKey,
  parseSignerKey,
  type SigningKey,
} from '../ledger/keys.ts';
import { parse, UsageError } from './args.ts';

/** Reads a signer key file, or throws a UsageError saying which file and why. */
export function readKeyFile(path: string): SigningKey {
  if (!existsSync(path)) throw new UsageError(`key file ${path} does not exist`);
  try {
    return parseSignerKey(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`key file ${path}: ${(error as Error).message}`);
  }
}

/** Writes a new key named `name` to `path` (mode 0600) unless one is there; returns the key. */
export function ensureKeyFile(path: string, name: string): SigningKey {
  if (existsSync(path)) return readKeyFile(path);
  const key = generateSigningKey(name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${formatSignerKey(key)}\n`, { mode: 0o600 });
  return key;
}

export function runKeys(argv: string[]): number {
  const { values, positionals } = parse(argv, {
    agency: { type: 'string' },
    out: { type: 'string' },
  });
  if (positionals[0] !== 'generate')
    throw new UsageError('usage: onewindow keys generate --agency <id> --out <file>');
  const agency = Agency.safeParse(values.agency);
  if (!agency.success) throw new UsageError(`--agency must be one of ${Agency.options.join(', ')}`);
  if (!values.out) throw new UsageError('--out <file> is required');
  if (existsSync(values.out))
    throw new UsageError(`${values.out} exists; refusing to overwrite a key`);
  const key = ensureKeyFile(values.out, agencyKeyName(agency.data));
  console.log(formatVerifierKey(key.name, key.publicKey));
  return 0;
}
