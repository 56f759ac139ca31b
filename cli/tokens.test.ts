import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toBase64 } from '../ledger/bytes.ts';
import { agencyKeyName, formatSignerKey, signingKey } from '../ledger/keys.ts';
import { UsageError } from './args.ts';
import { runTokens } from './tokens.ts';

const dir = mkdtempSync(join(tmpdir(), 'onewindow-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const issuer = signingKey('tokens.onewindow', new Uint8Array(32).fill(3));
const keyFile = join(dir, 'issuer.key');
writeFileSync(keyFile, `${formatSignerKey(issuer)}\n`);

describe('onewindow tokens public-key', () => {
  it('prints the issuer public key the API is configured with', async () => {
    const lines: string[] = [];
    expect(await runTokens(['public-key', '--key', keyFile], {}, (l) => lines.push(l))).toBe(0);
    expect(lines).toEqual([toBase64(issuer.publicKey)]);
  });

  it('refuses a flag it does not use, naming it, before reading the key file', async () => {
    const missing = join(dir, 'missing.key');
    const refused = runTokens(['public-key', '--role', 'citizen', '--key', missing], {}, () => {});
    await expect(refused).rejects.toThrow(UsageError);
    await expect(refused).rejects.toThrow(/^public-key takes only --key, not --role\n/);
  });
});

describe('onewindow tokens', () => {
  it("refuses a key file that is not the token issuer's (an agency's), naming both names and how to make one", async () => {
    const agencyKeyFile = join(dir, 'water.key');
    writeFileSync(
      agencyKeyFile,
      `${formatSignerKey(signingKey(agencyKeyName('water'), new Uint8Array(32).fill(4)))}\n`,
    );
    const lines: string[] = [];
    for (const argv of [
      ['--key', agencyKeyFile, '--role', 'citizen', '--subject', 'c-1'],
      ['public-key', '--key', agencyKeyFile],
    ]) {
      const refused = runTokens(argv, {}, (l) => lines.push(l));
      await expect(refused).rejects.toThrow(UsageError);
      await expect(refused).rejects.toThrow(
        `key file ${agencyKeyFile} holds the key "water.agency.onewindow"; expected a key named "tokens.onewindow": make the issuer's key with onewindow keys generate --token-issuer --out <file>, and give the API the public key it prints (ONEWINDOW_TOKEN_PUBLIC_KEY)`,
      );
    }
    expect(lines).toEqual([]);
  });
});
