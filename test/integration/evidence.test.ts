// The supervisor's evidence bundle end to end: a real case on the real stack, the bundle
// built from PostgreSQL, and the real `onewindow ledger verify-bundle` checking it offline
// with nothing but the file and a trust file. A tampered copy must fail, naming the entry.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { NotFoundError, NotYetPublishedError } from '../../domain/errors.ts';
import { fromUtf8, utf8 } from '../../ledger/bytes.ts';
import type { EvidenceBundle } from '../../ledger/evidence.ts';
import { buildEvidenceBundle } from '../../ledger/pg/evidence.ts';
import { addAgencyKey } from '../../ledger/pg/keyRegistry.ts';
import { agencyKeyName, generateSigningKey } from '../../ledger/keys.ts';
import { TrustFile } from '../../ledger/trust.ts';
import { decide, signedDecision, waitForClosed, waitForStep, submit } from './caseDriver.ts';
import { onewindow, writeTrustFile } from './cli.ts';
import { sampleApplication, startStack, type Stack, type Timeline } from './stack.ts';

let stack: Stack;
let dir: string;
let trustPath: string;
let trust: TrustFile;
let caseId: string;
let closed: Timeline;
let bundle: EvidenceBundle;

/** The bundle of `caseId`, once a published checkpoint covers all its entries. */
async function publishedBundle(id: string): Promise<EvidenceBundle> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await buildEvidenceBundle(stack.pool, id, trust);
    } catch (error) {
      if (!(error instanceof NotYetPublishedError) || Date.now() > deadline) throw error;
      await stack.publisher.request();
    }
  }
}

function writeBundle(name: string, content: EvidenceBundle): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(content, null, 2));
  return path;
}

beforeAll(async () => {
  stack = await startStack(['housing', 'tax', 'registry', 'electricity']);
  // A key event of this file's own, before the case: gas adds a key (no gas worker runs here).
  const gasNext = generateSigningKey(agencyKeyName('gas'));
  await addAgencyKey(stack.pool, (signed) => stack.sequencer.append(signed), {
    newKey: { keyId: gasNext.keyId, agency: 'gas', publicKey: gasNext.publicKey },
    signingKey: stack.keys.gas!,
    validFrom: new Date(),
  });
  dir = mkdtempSync(join(tmpdir(), 'onewindow-evidence-'));
  trustPath = join(dir, 'trust.json');
  await writeTrustFile(stack, trustPath);
  trust = TrustFile.parse(JSON.parse(readFileSync(trustPath, 'utf8')));

  // A case run to completion, as in the walking skeleton: pay the duty, approve the review.
  caseId = await submit(stack, sampleApplication({ utilities: ['electricity'] }));
  await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
  const paid = signedDecision(stack.keys.tax!, 'tax', caseId, 'confirmPayment', 'paid');
  expect((await decide(stack, caseId, 'confirmPayment', paid)).statusCode).toBe(200);
  await waitForStep(stack, caseId, 'review', 'waiting');
  const approved = signedDecision(stack.keys.registry!, 'registry', caseId, 'review', 'approved');
  expect((await decide(stack, caseId, 'review', approved)).statusCode).toBe(200);
  closed = await waitForClosed(stack, caseId);
  expect(closed.workflowStatus).toBe('COMPLETED');
  bundle = await publishedBundle(caseId);
});
afterAll(async () => {
  await stack?.stop();
});

describe('the evidence bundle of a completed case', () => {
  it('holds every ledger entry of the case, in log order, bound to one published checkpoint', () => {
    expect(bundle.caseId).toBe(caseId);
    expect(bundle.entries.map((e) => e.index)).toEqual(closed.entries.map((e) => e.index));
    const statements = bundle.entries.map(
      (e) => (JSON.parse(e.entry) as { statement: { statementId: string } }).statement.statementId,
    );
    expect(statements).toEqual(closed.entries.map((e) => e.statement.statementId));
    expect(statements.at(-1)).toBe(`${caseId}/close`);
    expect(bundle.size).toBeGreaterThan(bundle.entries.at(-1)!.index);
    expect(bundle.checkpoint.split('\n')[1]).toBe(String(bundle.size));
  });

  it("carries every key event logged before its checkpoint, for the verifier's key timeline", async () => {
    const { rows } = await stack.pool.query<{ idx: string }>(
      "SELECT idx FROM ledger_entries WHERE case_id LIKE 'keys-%' AND idx < $1 ORDER BY idx",
      [bundle.size],
    );
    // Gas's key.add above among them, and whatever other test files logged on this database.
    expect(rows.length).toBeGreaterThan(0);
    expect(bundle.keyEvents!.map((e) => e.index)).toEqual(rows.map((r) => Number(r.idx)));
  });

  it('is accepted by `onewindow ledger verify-bundle` with the trust file alone', async () => {
    const result = await onewindow([
      'ledger',
      'verify-bundle',
      writeBundle('good.json', bundle),
      '--trust',
      trustPath,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `evidence bundle verified: case ${caseId}, ${bundle.entries.length} entries of test.onewindow/ledger`,
    );
    expect(result.stdout).toMatch(/cosigned by [23] of 3 witnesses .*, policy 2/);
  });

  it('is refused once one byte of one entry is changed, naming that entry', async () => {
    const position = 2;
    const target = bundle.entries[position]!;
    // One byte: the first letter of the signed outcome becomes another lowercase letter.
    const bytes = utf8(target.entry);
    const at = utf8(target.entry.slice(0, target.entry.indexOf('"outcome":"'))).length + 11;
    bytes[at] = bytes[at] === 0x78 ? 0x79 : 0x78; // "x", or "y" if it was "x"
    const tampered = structuredClone(bundle);
    tampered.entries[position]!.entry = fromUtf8(bytes);
    const result = await onewindow([
      'ledger',
      'verify-bundle',
      writeBundle('byte.json', tampered),
      '--trust',
      trustPath,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `entry ${target.index} (entries[${position}]): inclusion: entry bytes (leaf hash `,
    );
    expect(result.stderr).toContain(
      `entry ${target.index} (entries[${position}]): signature: statement signature does not verify`,
    );
    expect(result.stderr).toContain(`FAILED: evidence bundle for case ${caseId}:`);
  });

  it('is refused once its checkpoint keeps fewer cosignatures than the witness policy needs', async () => {
    const witnessNames = new Set(stack.witnessKeys.map((k) => k.name));
    let kept = 0;
    // Keep the log's signature and one witness's cosignature; drop the others.
    const checkpoint = bundle.checkpoint
      .split('\n')
      .filter((line) => {
        const name = line.startsWith('— ') ? line.split(' ')[1]! : undefined;
        return name === undefined || !witnessNames.has(name) || kept++ === 0;
      })
      .join('\n');
    expect(checkpoint.length).toBeLessThan(bundle.checkpoint.length);
    const result = await onewindow([
      'ledger',
      'verify-bundle',
      writeBundle('cosignatures.json', { ...bundle, checkpoint }),
      '--trust',
      trustPath,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /bundle: witnesses: checkpoint witness policy not met: checkpoint needs cosignatures from 2 distinct witnesses, found 1 /,
    );
  });

  it('requires --trust, because the keys inside the bundle are the exporter’s word', async () => {
    const result = await onewindow([
      'ledger',
      'verify-bundle',
      writeBundle('no-trust.json', bundle),
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /--trust <file> is required: the keys inside a bundle come from whoever exported it/,
    );
  });

  it('is what `onewindow ledger export-bundle` writes from the database', async () => {
    const out = join(dir, 'exported.json');
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = inject('databaseUrl');
    try {
      const result = await onewindow([
        'ledger',
        'export-bundle',
        '--case',
        caseId,
        '--trust',
        trustPath,
        '--out',
        out,
      ]);
      expect(result.stderr).toContain(`evidence bundle for case ${caseId}`);
      expect(result.code).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
    const exported = JSON.parse(readFileSync(out, 'utf8')) as EvidenceBundle;
    // The same entries; the checkpoint may be a newer one, as other tests append.
    expect(exported.entries.map((e) => e.entry)).toEqual(bundle.entries.map((e) => e.entry));
    expect((await onewindow(['ledger', 'verify-bundle', out, '--trust', trustPath])).code).toBe(0);
  });

  it('cannot be built for a case with no ledger entries', async () => {
    await expect(buildEvidenceBundle(stack.pool, randomUUID(), trust)).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });
});
