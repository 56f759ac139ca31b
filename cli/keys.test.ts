import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { formatSignerKey, generateSigningKey, parseSignerKey } from '../ledger/keys.ts';
import { generatePayloadKey } from '../infra/payloadCodec.ts';
import { UsageError } from './args.ts';
import { ensureKeyFile, KeyNameError, keyOption, runKeys, witnessKeyName } from './keys.ts';

const dir = mkdtempSync(join(tmpdir(), 'onewindow-keys-'));
const keyFile = (name: string) => {
  const path = join(dir, `${name}.key`);
  writeFileSync(path, `${formatSignerKey(generateSigningKey(name))}\n`, { mode: 0o600 });
  return path;
};
const taxKey = keyFile('tax.agency.onewindow');
const taxWitnessKey = keyFile(witnessKeyName('tax'));

describe("a command given another agency's key", () => {
  it('is refused by keyOption, naming the key it holds and the one expected', () => {
    expect(() =>
      keyOption(taxKey, {}, 'ONEWINDOW_KEY_FILE', 'why', 'water.agency.onewindow'),
    ).toThrow(
      new KeyNameError(
        `key file ${taxKey} holds the key "tax.agency.onewindow"; expected a key named "water.agency.onewindow"`,
      ),
    );
    expect(keyOption(taxKey, {}, 'ONEWINDOW_KEY_FILE', 'why', 'tax.agency.onewindow').name).toBe(
      'tax.agency.onewindow',
    );
  });

  it('stops an agency worker before it connects anywhere', async () => {
    const { runWorker } = await import('./worker.ts');
    const env = {
      ONEWINDOW_PAYLOAD_KEY: generatePayloadKey('k1'),
      TEMPORAL_ADDRESS: '127.0.0.1:1',
    };
    await expect(runWorker(['--agency', 'water', '--key', taxKey], env)).rejects.toThrow(
      /expected a key named "water\.agency\.onewindow"$/,
    );
    await expect(
      runWorker(['--orchestrator', '--key', taxKey], {
        ...env,
        DATABASE_URL: 'postgres://a:b@127.0.0.1:1/x',
      }),
    ).rejects.toThrow(/expected a key named "orchestrator\.agency\.onewindow"$/);
  });

  it('stops a witness before it listens', async () => {
    const { runWitness } = await import('./witness.ts');
    const log = generateSigningKey('onewindow.example.gov/ledger');
    const { formatVerifierKey } = await import('../ledger/keys.ts');
    await expect(
      runWitness(['--agency', 'water', '--key', taxWitnessKey], {
        DATABASE_URL: 'postgres://a:b@127.0.0.1:1/x',
        ONEWINDOW_LOG_PUBLIC_KEY: formatVerifierKey(log.name, log.publicKey),
      }),
    ).rejects.toThrow(/expected a key named "water\.witness\.onewindow"$/);
  });

  it("stops a witness given the log key of another origin than its log's, naming both", async () => {
    const { runWitness } = await import('./witness.ts');
    const { formatVerifierKey } = await import('../ledger/keys.ts');
    const log = generateSigningKey('onewindow.example.gov/ledger');
    const env = {
      DATABASE_URL: 'postgres://a:b@127.0.0.1:1/x',
      ONEWINDOW_LOG_PUBLIC_KEY: formatVerifierKey(log.name, log.publicKey),
    };
    const argv = ['--agency', 'tax', '--key', taxWitnessKey];
    await expect(runWitness(argv, env)).rejects.toThrow(
      new UsageError(
        'ONEWINDOW_LOG_PUBLIC_KEY holds the key of "onewindow.example.gov/ledger", not of this log\'s origin "onewindow.dev/ledger" (ONEWINDOW_LOG_ORIGIN, unset: the default)',
      ),
    );
    await expect(
      runWitness(argv, { ...env, ONEWINDOW_LOG_ORIGIN: 'onewindow.example.gov/ledgr' }),
    ).rejects.toThrow(
      new UsageError(
        'ONEWINDOW_LOG_PUBLIC_KEY holds the key of "onewindow.example.gov/ledger", not of this log\'s origin "onewindow.example.gov/ledgr" (ONEWINDOW_LOG_ORIGIN)',
      ),
    );
  });

  it('refuses an empty --key rather than reading it as none given', () => {
    expect(() =>
      keyOption('', { ONEWINDOW_KEY_FILE: taxKey }, 'ONEWINDOW_KEY_FILE', 'why'),
    ).toThrow(new UsageError('--key must name a key file, got ""'));
  });

  it.each([
    ['worker', ['--agency', 'tax', 'extra']],
    ['witness', ['--agency', 'tax', 'extra']],
  ])('%s refuses an extra argument', async (command, argv) => {
    const run =
      command === 'worker'
        ? (await import('./worker.ts')).runWorker
        : (await import('./witness.ts')).runWitness;
    await expect(run(argv, {})).rejects.toThrow(
      new UsageError(
        "Unexpected argument 'extra'. This command does not take positional arguments",
      ),
    );
  });
});

describe('keys generate', () => {
  it('refuses an extra argument', () => {
    const out = join(dir, 'extra.key');
    expect(() => runKeys(['generate', 'extra', '--agency', 'tax', '--out', out])).toThrow(
      UsageError,
    );
    expect(readdirSync(dir)).not.toContain('extra.key');
  });

  it('refuses, with one line and no stack, an --out whose folder is a file', () => {
    const out = join(taxKey, 'new.key');
    expect(() => runKeys(['generate', '--agency', 'tax', '--out', out])).toThrow(UsageError);
    expect(() => runKeys(['generate', '--agency', 'tax', '--out', out])).toThrow(
      `cannot write key file ${out}: `,
    );
  });

  it('writes the key whole, readable by its owner only, and leaves no temporary file', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const out = join(dir, 'fresh', 'water.key');
    expect(runKeys(['generate', '--agency', 'water', '--out', out])).toBe(0);
    log.mockRestore();
    expect(parseSignerKey(readFileSync(out, 'utf8')).name).toBe('water.agency.onewindow');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'fresh'))).toEqual(['water.key']);
  });

  it('keeps a key that is there already', () => {
    const existing = readFileSync(taxKey, 'utf8');
    expect(ensureKeyFile(taxKey, 'tax.agency.onewindow').name).toBe('tax.agency.onewindow');
    expect(readFileSync(taxKey, 'utf8')).toBe(existing);
  });
});

describe('a key file there already', () => {
  it('is refused when it holds a key of another name than the one asked for, and left as it was', () => {
    const existing = readFileSync(taxKey, 'utf8');
    expect(() => ensureKeyFile(taxKey, 'water.agency.onewindow')).toThrow(UsageError);
    expect(() => ensureKeyFile(taxKey, 'water.agency.onewindow')).toThrow(
      new KeyNameError(
        `key file ${taxKey} holds the key "tax.agency.onewindow"; expected a key named "water.agency.onewindow"`,
      ),
    );
    expect(readFileSync(taxKey, 'utf8')).toBe(existing);
  });
});

describe('keys rotate', () => {
  it('refuses an empty --out, before it touches the ledger', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const code = await runKeys(['rotate', '--agency', 'tax', '--key', taxKey, '--out', ''], {});
      expect(code).toBe(2);
      expect(errors).toHaveBeenCalledWith('onewindow: --out must name a file, got ""');
    } finally {
      errors.mockRestore();
    }
  });
});

describe('keys revoke', () => {
  it('refuses a revocation dated in the future, before it touches the ledger', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const code = await runKeys(
        [
          'revoke',
          '--key-id',
          'tax.agency.onewindow+0123abcd',
          '--key',
          taxKey,
          '--at',
          '2999-01-01T00:00:00Z',
        ],
        {},
      );
      expect(code).toBe(2);
      expect(errors).toHaveBeenCalledWith(expect.stringMatching(/--at .* is in the future/));
    } finally {
      errors.mockRestore();
    }
  });
});
