import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onewindow, writeTrustFile } from './cli.ts';
import { freePort } from '../../infra/ports.ts';
import { toBase64 } from '../../ledger/bytes.ts';
import { signCheckpoint } from '../../ledger/checkpoint.ts';
import { generateSigningKey } from '../../ledger/keys.ts';
import { startStack, type Stack, appendStatements, TEST_LOG_ORIGIN } from './stack.ts';

let stack: Stack;
let url: string;
let dir: string;
let trust: string;

const appendMany = (n: number) => appendStatements(stack, n, 'water', 'precheck.water');
/** `onewindow ledger prove <index>` against the served log, the receipt to `out` or stdout. */
const prove = (index: number, out?: string) =>
  onewindow([
    'ledger',
    'prove',
    String(index),
    '--url',
    url,
    '--trust',
    trust,
    ...(out ? ['--out', out] : []),
  ]);
/** `onewindow ledger verify` of the served log, keeping what it saw in `state`. */
const verifyWith = (state: string) =>
  onewindow(['ledger', 'verify', '--url', url, '--trust', trust, '--state', state]);

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
    const first = await verifyWith(state);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('first checkpoint seen from this log');
    await appendMany(30);
    const second = await verifyWith(state);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/consistent with size \d+ verified at/);
  });

  it("fails against a state another log of the same origin left, and says it may be another log's", async () => {
    // What a demo started afresh leaves: a state saved from a log under the same origin and
    // another key, here of size 3 with some other tree.
    const otherLogKey = generateSigningKey(TEST_LOG_ORIGIN);
    const otherRoot = new Uint8Array(32).fill(7);
    const state = join(dir, 'other-log-state.json');
    writeFileSync(
      state,
      JSON.stringify({
        origin: TEST_LOG_ORIGIN,
        size: 3,
        rootHash: toBase64(otherRoot),
        checkpoint: signCheckpoint(
          { origin: TEST_LOG_ORIGIN, size: 3, rootHash: otherRoot, extensions: [] },
          otherLogKey,
        ),
        verifiedAt: '2026-12-01T00:00:00.000Z',
      }),
    );
    const args = ['ledger', 'verify', '--url', url, '--trust', trust, '--state', state];
    const refused = await onewindow(args);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('is not consistent with size 3 verified at 2026-12-01');
    expect(refused.stderr).toContain(`(state file ${state})`);
    expect(refused.stderr).toContain(
      'that state was saved from a checkpoint no log key in the trust file signed',
    );
    // The same state, signed by the trusted log key: a fork of this log, with no such hint.
    const saved = JSON.parse(readFileSync(state, 'utf8')) as Record<string, unknown>;
    saved.checkpoint = signCheckpoint(
      { origin: TEST_LOG_ORIGIN, size: 3, rootHash: otherRoot, extensions: [] },
      stack.logKey,
    );
    writeFileSync(state, JSON.stringify(saved));
    const forked = await onewindow(args);
    expect(forked.code).toBe(1);
    expect(forked.stderr).toContain('is not consistent with size 3 verified at 2026-12-01');
    expect(forked.stderr).not.toContain('no log key in the trust file signed');
  });

  it('writes an offline receipt that verify-receipt accepts, and refuses it once altered', async () => {
    const receipt = join(dir, 'receipt.json');
    const proved = await prove(7, receipt);
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
      /<index> must be a whole number/,
    ],
    [['ledger', 'frobnicate'], /unknown ledger command "frobnicate"/],
    [['ledger', 'verify', '--bogus'], /Unknown option '--bogus'/],
  ])('answers bad input %j with exit code 2 and a clear message', async (args, message) => {
    const result = await onewindow(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('says the log could not be read, with exit code 3, when nothing answers or an export lacks a file', async () => {
    // A port just free, so nothing listens there.
    const closed = `http://127.0.0.1:${await freePort()}/ledger`;
    const unreachable = await onewindow(['ledger', 'verify', '--url', closed, '--trust', trust]);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain(
      `onewindow: cannot read the log: GET ${closed}/checkpoint: connect ECONNREFUSED`,
    );
    const empty = mkdtempSync(join(tmpdir(), 'onewindow-empty-export-'));
    const missing = await onewindow(['ledger', 'audit', '--dir', empty, '--trust', trust]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`cannot read the log: ${empty}/checkpoint is missing`);
    const neither = await onewindow(['ledger', 'verify', '--trust', trust]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('give the log with --url <address>/ledger or --dir');
  });

  it('says the log could not be read (exit 3), not that it forked, when an export lacks a tile the consistency proof needs', async () => {
    const before = join(dir, 'export-before-growth');
    expect((await onewindow(['ledger', 'export', '--url', url, '--dir', before])).code).toBe(0);
    const state = join(dir, 'export-state.json');
    const verifyExport = (exported: string) =>
      onewindow(['ledger', 'verify', '--dir', exported, '--trust', trust, '--state', state]);
    const seen = await verifyExport(before);
    expect(seen.code).toBe(0);
    await appendMany(10);
    const after = join(dir, 'export-after-growth');
    expect((await onewindow(['ledger', 'export', '--url', url, '--dir', after])).code).toBe(0);
    rmSync(join(after, 'tile'), { recursive: true });
    const result = await verifyExport(after);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('cannot read the log');
    expect(result.stderr).not.toContain('not consistent');
    // The state is kept as it was: the next verify, with the tiles, checks consistency again.
    const complete = join(dir, 'export-after-growth-complete');
    expect((await onewindow(['ledger', 'export', '--url', url, '--dir', complete])).code).toBe(0);
    const again = await verifyExport(complete);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/consistent with size \d+ verified at/);
  });

  it('answers a local file it cannot use with exit code 2 and one line naming it, not as a finding about the log', async () => {
    const corrupt = join(dir, 'corrupt-state.json');
    writeFileSync(corrupt, '{');
    const garbled = await verifyWith(corrupt);
    expect(garbled.code).toBe(2);
    expect(garbled.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^onewindow: state file .*corrupt-state\.json is not JSON: /) as string,
    ]);
    const wrongShape = join(dir, 'wrong-state.json');
    writeFileSync(wrongShape, JSON.stringify({ origin: TEST_LOG_ORIGIN, size: 'ten' }));
    const shape = await verifyWith(wrongShape);
    expect(shape.code).toBe(2);
    expect(shape.stderr).toMatch(
      /is not a verify state \(restore it, or give another --state\): size /,
    );

    // Beneath a file, nothing can be written: the receipt and the export fail there.
    const underFile = join(trust, 'receipt.json');
    const unwritable = await prove(3, underFile);
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr.trim().split('\n')).toEqual([
      `onewindow: ENOTDIR: not a directory, open '${underFile}'`,
    ]);
    const exported = await onewindow([
      'ledger',
      'export',
      '--url',
      url,
      '--dir',
      join(trust, 'export'),
    ]);
    expect(exported.code).toBe(2);
    expect(exported.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^onewindow: ENOTDIR: not a directory, mkdir '.*trust\.json\/export'$/,
      ) as string,
    ]);

    // Under /proc mkdir(2) answers ENOENT, which Node's recursive mkdir retried for ever.
    const procExport = await onewindow([
      'ledger',
      'export',
      '--url',
      url,
      '--dir',
      '/proc/onewindow-export',
    ]);
    expect(procExport.code).toBe(2);
    expect(procExport.stderr).toMatch(/^onewindow: ENOENT: .*mkdir '\/proc\/onewindow-export'/);

    const receipt = join(dir, 'not-base64-receipt.json');
    const proved = await prove(3);
    const valid = JSON.parse(proved.stdout) as Record<string, unknown>;
    writeFileSync(receipt, JSON.stringify({ ...valid, entry: '!!' }));
    const notReceipt = await onewindow(['ledger', 'verify-receipt', receipt, '--trust', trust]);
    expect(notReceipt.code).toBe(2);
    expect(notReceipt.stderr).toMatch(/is not a receipt: .*must be standard base64/);
  });

  it('refuses a trust file with a malformed key, naming the field', async () => {
    const bad = join(dir, 'bad-trust.json');
    writeFileSync(bad, JSON.stringify({ ...JSON.parse(readFileSync(trust, 'utf8')), logKeys: [] }));
    const result = await onewindow(['ledger', 'verify', '--url', url, '--trust', bad]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('trust file: logKeys: must name at least one log verifier key');
  });
});
