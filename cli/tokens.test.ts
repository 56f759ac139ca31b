import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toBase64 } from '../ledger/bytes.ts';
import { formatSignerKey, signingKey } from '../ledger/keys.ts';
import { UsageError } from './args.ts';
import { runTokens } from './tokens.ts';

const dir = mkdtempSync(join(tmpdir(), 'onewindow-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const issuer = signingKey('tokens.onewindow.test', new Uint8Array(32).fill(3));
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
