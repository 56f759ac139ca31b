import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onewindow, writeTrustFile } from './cli.ts';
import { startStack, type Stack, appendStatements } from './stack.ts';

let stack: Stack;
let url: string;
let dir: string;
let trust: string;

const appendMany = (n: number) => appendStatements(stack, n, 'water', 'precheck.water');

beforeAll(async () => {
  stack = await startStack([]);
  await appendMany(50);
  url = `${await stack.app.listen({ port: 0, host: '127.0.0.1' })}/ledger`;
  dir = mkdtempSync(join(tmpdir(), 'onewindow-cli-'));
  trust = join(dir, 'trust.json');
  await writeTrustFile(stack, trust);
});
afterAll(async () => {
  await stack?.stop();
});

describe('the verifier commands, run as a user would', () => {
  it('verifies the cosigned checkpoint, then its consistency with the one seen before', async () => {
    const state = join(dir, 'state.json');
    const first = await onewindow([
      'ledger',
      'verify',
      '--url',
      url,
      '--trust',
      trust,
      '--state',
      state,
    ]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('first checkpoint seen from this log');
    await appendMany(30);
    const second = await onewindow([
      'ledger',
      'verify',
      '--url',
      url,
      '--trust',
      trust,
      '--state',
      state,
    ]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/consistent with size \d+ verified at/);
  });

  it('writes an offline receipt that verify-receipt accepts, and refuses it once altered', async () => {
    const receipt = join(dir, 'receipt.json');
    const proved = await onewindow([
      'ledger',
      'prove',
      '7',
      '--url',
      url,
      '--trust',
      trust,
      '--out',
      receipt,
    ]);
    expect(proved.code).toBe(0);
    const checked = await onewindow(['ledger', 'verify-receipt', receipt, '--trust', trust]);
    expect(checked.code).toBe(0);
    expect(checked.stdout).toContain('receipt verified: entry 7');

    const altered = JSON.parse(readFileSync(receipt, 'utf8')) as { index: number };
    writeFileSync(join(dir, 'altered.json'), JSON.stringify({ ...altered, index: 8 }));
    const refused = await onewindow([
      'ledger',
      'verify-receipt',
      join(dir, 'altered.json'),
      '--trust',
      trust,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('FAILED: entry 8 is not proven in the checkpoint');
  });

  it('audits an exported copy offline, from files alone', async () => {
    const exported = join(dir, 'export');
    expect((await onewindow(['ledger', 'export', '--url', url, '--dir', exported])).code).toBe(0);
    const result = await onewindow(['ledger', 'audit', '--dir', exported, '--trust', trust]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /audit passed: \d+ entries re-hashed, chain intact, \d+ statement signatures valid/,
    );
  });

  it.each([
    [['ledger', 'verify', '--url', 'http://127.0.0.1:1/ledger'], /--trust <file> is required/],
    [
      ['ledger', 'audit', '--trust', '/nonexistent/trust.json', '--url', 'http://x'],
      /trust file \/nonexistent\/trust.json does not exist/,
    ],
    [
      ['ledger', 'prove', 'seven', '--url', 'http://x', '--trust', '/dev/null'],
      /--index must be a whole number/,
    ],
    [['ledger', 'frobnicate'], /unknown ledger command "frobnicate"/],
    [['ledger', 'verify', '--bogus'], /Unknown option '--bogus'/],
  ])('answers bad input %j with exit code 2 and a clear message', async (args, message) => {
    const result = await onewindow(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('refuses a trust file with a malformed key, naming the field', async () => {
    const bad = join(dir, 'bad-trust.json');
    writeFileSync(bad, JSON.stringify({ ...JSON.parse(readFileSync(trust, 'utf8')), logKeys: [] }));
    const result = await onewindow(['ledger', 'verify', '--url', url, '--trust', bad]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('trust file: logKeys: must name at least one log verifier key');
  });
});
