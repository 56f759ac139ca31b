import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toBase64 } from '../ledger/bytes.ts';
import { agencyKeyName, formatVerifierKey, signingKey } from '../ledger/keys.ts';
import type { TrustFile } from '../ledger/trust.ts';
import { UsageError } from './args.ts';
import { servedTrustFile } from './api.ts';

const dir = mkdtempSync(join(tmpdir(), 'onewindow-api-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Deterministic keys: seed = 32 copies of one byte.
const ORIGIN = 'test.onewindow/ledger';
const logKey = signingKey(ORIGIN, new Uint8Array(32).fill(0x10));
const water = signingKey(agencyKeyName('water'), new Uint8Array(32).fill(4));
/** The log the API appends to: its origin and the key it signs checkpoints with. */
const LOG = { origin: ORIGIN, key: logKey };
const trust: TrustFile = {
  origin: ORIGIN,
  logKeys: [formatVerifierKey(ORIGIN, logKey.publicKey)],
  witnesses: [],
  witnessThreshold: 0,
  agencyKeys: [
    {
      keyId: water.keyId,
      agency: 'water',
      publicKey: toBase64(water.publicKey),
      validFrom: '1970-01-01T00:00:00.000Z',
    },
  ],
};
const written = (content: TrustFile) => {
  const path = join(mkdtempSync(join(dir, 'trust-')), 'trust.json');
  writeFileSync(path, JSON.stringify(content));
  return path;
};

describe('the trust file the API serves the pages (ONEWINDOW_TRUST_FILE)', () => {
  it('is served as it is when it is a trust file of this log', () => {
    expect(servedTrustFile(written(trust), LOG)).toEqual(trust);
  });

  // Mutations the schema lets through and the verifiers' loadTrust refuses.
  it.each([
    [
      'a log key listed twice',
      { ...trust, logKeys: [trust.logKeys[0]!, trust.logKeys[0]!] },
      `logKeys: ${ORIGIN} is listed twice`,
    ],
    [
      'an agency key whose id is not its public key’s',
      {
        ...trust,
        agencyKeys: [{ ...trust.agencyKeys[0]!, publicKey: toBase64(logKey.publicKey) }],
      },
      `agency key ${water.keyId}: its id does not match its public key`,
    ],
  ])('is refused at start for %s, naming the file', (_, content, why) => {
    const path = written(content);
    expect(() => servedTrustFile(path, LOG)).toThrow(UsageError);
    expect(() => servedTrustFile(path, LOG)).toThrow(`ONEWINDOW_TRUST_FILE ${path}: ${why}`);
  });

  it("is refused at start when it is another log's, naming both origins", () => {
    const path = written(trust);
    expect(() => servedTrustFile(path, { ...LOG, origin: 'other.example/ledger' })).toThrow(
      new UsageError(
        `ONEWINDOW_TRUST_FILE ${path} is for the log "test.onewindow/ledger", not this API's "other.example/ledger" (ONEWINDOW_LOG_ORIGIN)`,
      ),
    );
  });

  it('is refused at start when it lists none of the keys the log signs with (a log made afresh under the same origin)', () => {
    const afresh = signingKey(ORIGIN, new Uint8Array(32).fill(0x11));
    const path = written(trust);
    expect(() => servedTrustFile(path, { origin: ORIGIN, key: afresh })).toThrow(
      `ONEWINDOW_TRUST_FILE ${path} lists none of the keys this log signs with (${formatVerifierKey(ORIGIN, afresh.publicKey)})`,
    );
    // The right key under another name is another key to the pages.
    const renamed = written({
      ...trust,
      logKeys: [formatVerifierKey('other.example/ledger', logKey.publicKey)],
    });
    expect(() => servedTrustFile(renamed, LOG)).toThrow(
      'lists none of the keys this log signs with',
    );
    // During a rotation either key will do.
    expect(servedTrustFile(path, { origin: ORIGIN, key: afresh, extraKeys: [logKey] })).toEqual(
      trust,
    );
  });
});

describe('onewindow api, as Node runs it', () => {
  // vitest resolves imports its own way: a named import of a CommonJS package (as
  // @temporalio/proto is) passes here and fails in Node's ESM loader, which the CLI runs in.
  it('loads every module it needs, and names the configuration missing with exit code 2', () => {
    const run = spawnSync(process.execPath, ['bin/onewindow.mjs', 'api'], {
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toMatch(/^onewindow: DATABASE_URL is not set/);
    expect(run.status).toBe(2);
  }, 60_000);
});
