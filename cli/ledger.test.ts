import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { STATEMENT_TYPE } from '../domain/statement.ts';
import { fromUtf8, toBase64, utf8 } from '../ledger/bytes.ts';
import { signCheckpoint } from '../ledger/checkpoint.ts';
import { chainEntries } from '../ledger/entry.ts';
import { agencyKeyName, formatVerifierKey, signingKey } from '../ledger/keys.ts';
import { rootFromLeafHashes } from '../ledger/proof.ts';
import { hashLeaf } from '../ledger/rfc9162.ts';
import { signStatement } from '../ledger/statement.ts';
import type { Receipt, TrustFile } from '../ledger/trust.ts';
import { runLedger } from './ledger.ts';

// Deterministic keys: seed = 32 copies of one byte.
const ORIGIN = 'test.onewindow/ledger';
const logKey = signingKey(ORIGIN, new Uint8Array(32).fill(0x10));
const water = signingKey(agencyKeyName('water'), new Uint8Array(32).fill(4));

/** The entry of a one-entry log: water's statement issued at `issuedAt`. */
function entryIssuedAt(issuedAt: string): Uint8Array {
  const signed = signStatement(
    {
      type: STATEMENT_TYPE,
      statementId: 'case-1/a',
      caseId: 'case-1',
      stepId: 'a',
      agency: 'water',
      outcome: 'approved',
      commitment: toBase64(new Uint8Array(32).fill(7)),
      facts: {},
      issuedAt,
      keyId: water.keyId,
    },
    water,
  );
  return chainEntries([signed], 0, new Uint8Array(32), issuedAt)[0]!.bytes;
}

/**
 * Writes a receipt for `entry` as the only entry of a log, and a trust file holding water's
 * key for January 2026 only; runs verify-receipt on them and returns its exit code and output.
 */
async function verifyReceipt(entry: Uint8Array) {
  const dir = mkdtempSync(join(tmpdir(), 'onewindow-receipt-'));
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
        validFrom: '2026-01-01T00:00:00Z',
        validUntil: '2026-02-01T00:00:00Z',
      },
    ],
  };
  const checkpoint = { origin: ORIGIN, size: 1, rootHash: rootFromLeafHashes([hashLeaf(entry)]) };
  const receipt: Receipt = {
    type: 'onewindow.receipt/v1',
    origin: ORIGIN,
    index: 0,
    size: 1,
    entry: toBase64(entry),
    inclusionProof: [],
    checkpoint: signCheckpoint({ ...checkpoint, extensions: [] }, logKey),
  };
  writeFileSync(join(dir, 'trust.json'), JSON.stringify(trust));
  writeFileSync(join(dir, 'receipt.json'), JSON.stringify(receipt));
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  const code = await runLedger([
    'verify-receipt',
    join(dir, 'receipt.json'),
    '--trust',
    join(dir, 'trust.json'),
  ]);
  const lines = (spy: typeof log) => spy.mock.calls.map((call) => String(call[0])).join('\n');
  return { code, stdout: lines(log), stderr: lines(error) };
}

describe('onewindow ledger verify-receipt', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('verifies a statement its key signed within the key’s validity window', async () => {
    const result = await verifyReceipt(entryIssuedAt('2026-01-10T09:00:00Z'));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('receipt verified: entry 0');
  });

  // The reviewer's receipt: water's key is trusted until February 2026, the statement says 2030.
  it('fails a statement issued after its key expired, as verify-bundle does', async () => {
    const result = await verifyReceipt(entryIssuedAt('2030-06-01T00:00:00Z'));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `FAILED: entry 0: key ${water.keyId} was not valid at 2030-06-01T00:00:00Z: it expired at 2026-02-01T00:00:00Z`,
    );
  });

  it('fails an entry that is not RFC 8785 canonical JSON, even under a valid proof', async () => {
    const entry = fromUtf8(entryIssuedAt('2026-01-10T09:00:00Z'));
    const result = await verifyReceipt(utf8(entry.replace('"index":0,', '"index":0,"index":0,')));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^FAILED: entry 0: entry is not RFC 8785 canonical JSON: /);
  });
});
