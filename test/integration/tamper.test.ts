// Tampering as the database superuser, who can switch the append-only triggers off: every
// change must be reported by `onewindow ledger audit` or `verify`, with the index and what
// is wrong. Each test restores what it changed, and the log audits clean again at the end.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATEMENT_TYPE } from '../../domain/statement.ts';
import { toBase64 } from '../../ledger/bytes.ts';
import { CorruptTreeError, LogReader } from '../../ledger/pg/logReader.ts';
import { onewindow, writeTrustFile } from './cli.ts';
import { startStack, type Stack, appendStatements, asDatabaseSuperuser } from './stack.ts';

let stack: Stack;
let url: string;
let trust: string;
let size: number;

const appendMany = (n: number) => appendStatements(stack, n, 'registry', 'checkTitle');

const asSuperuser = (work: (client: pg.PoolClient) => Promise<unknown>) =>
  asDatabaseSuperuser(stack, work);

const audit = () => onewindow(['ledger', 'audit', '--url', url, '--trust', trust]);

beforeAll(async () => {
  stack = await startStack([]);
  await appendMany(300);
  url = `${await stack.app.listen({ port: 0, host: '127.0.0.1' })}/ledger`;
  trust = join(mkdtempSync(join(tmpdir(), 'onewindow-tamper-')), 'trust.json');
  await writeTrustFile(stack, trust);
  const cp = await stack.app.inject({ method: 'GET', url: '/ledger/checkpoint' });
  size = Number(cp.body.split('\n')[1]);
});
afterAll(async () => {
  await stack?.stop();
});

describe('tampering with the stored ledger', () => {
  it('audits clean before anything is touched', async () => {
    const result = await audit();
    expect(result.stderr).not.toContain('FAILED');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/audit passed: \d+ entries re-hashed/);
  });

  it('reports one changed byte of an entry with its index', async () => {
    const k = size - 40;
    const { rows } = await stack.adminPool.query<{ entry: Buffer }>(
      'SELECT entry FROM ledger_entries WHERE idx = $1',
      [k],
    );
    const original = rows[0]!.entry;
    const changed = Buffer.from(
      original.toString('utf8').replace('"outcome":"passed"', '"outcome":"passee"'),
    );
    await asSuperuser((c) =>
      c
        .query('UPDATE ledger_entries SET entry = $2 WHERE idx = $1', [k, changed])
        .then(() => undefined),
    );
    const result = await audit();
    await asSuperuser((c) =>
      c
        .query('UPDATE ledger_entries SET entry = $2 WHERE idx = $1', [k, original])
        .then(() => undefined),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`entry ${k}: statement signature does not verify`);
    expect(result.stderr).toMatch(new RegExp(`entry ${k}: stored hash at tile level 0`));
  });

  it('reports a deleted entry where the gap is', async () => {
    const k = 77;
    const { rows } = await stack.adminPool.query('SELECT * FROM ledger_entries WHERE idx = $1', [
      k,
    ]);
    await asSuperuser((c) =>
      c.query('DELETE FROM ledger_entries WHERE idx = $1', [k]).then(() => undefined),
    );
    const result = await audit();
    const row = rows[0] as Record<string, unknown>;
    await asSuperuser((c) =>
      c
        .query(
          'INSERT INTO ledger_entries (idx, statement_id, case_id, entry, leaf_hash, sequenced_at) VALUES ($1, $2, $3, $4, $5, $6)',
          [row.idx, row.statement_id, row.case_id, row.entry, row.leaf_hash, row.sequenced_at],
        )
        .then(() => undefined),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`entry ${k}: entry at position ${k} says it is entry ${k + 1}`);
  });

  it('reports an entry inserted in the middle and every entry it displaced', async () => {
    const k = 120;
    const forgedCase = randomUUID();
    await asSuperuser(async (c) => {
      await c.query('UPDATE ledger_entries SET idx = idx + 1000000 WHERE idx >= $1', [k]);
      await c.query('UPDATE ledger_entries SET idx = idx - 999999 WHERE idx >= 1000000');
      const prev = await c.query<{ leaf_hash: Buffer }>(
        'SELECT leaf_hash FROM ledger_entries WHERE idx = $1',
        [k - 1],
      );
      const entry = JSON.stringify({
        index: k,
        prevLeafHash: prev.rows[0]!.leaf_hash.toString('base64'),
        sequencedAt: new Date().toISOString(),
        signature: toBase64(new Uint8Array(64)),
        statement: {
          agency: 'registry',
          caseId: forgedCase,
          commitment: toBase64(new Uint8Array(32)),
          facts: {},
          issuedAt: new Date().toISOString(),
          keyId: stack.keys.registry!.keyId,
          outcome: 'passed',
          statementId: `${forgedCase}/registerTransfer`,
          stepId: 'registerTransfer',
          type: STATEMENT_TYPE,
        },
      });
      await c.query(
        "INSERT INTO ledger_entries (idx, statement_id, case_id, entry, leaf_hash, sequenced_at) VALUES ($1, $2, $3, $4, sha256('\\x00'::bytea || $4), now())",
        [k, `${forgedCase}/registerTransfer`, forgedCase, Buffer.from(entry)],
      );
    });
    const result = await audit();
    await asSuperuser(async (c) => {
      await c.query('DELETE FROM ledger_entries WHERE idx = $1', [k]);
      await c.query('UPDATE ledger_entries SET idx = idx + 1000000 WHERE idx > $1', [k]);
      await c.query('UPDATE ledger_entries SET idx = idx - 1000001 WHERE idx >= 1000000');
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`entry ${k}: statement signature does not verify`);
    expect(result.stderr).toContain(
      `entry ${k + 1}: entry at position ${k + 1} says it is entry ${k}`,
    );
  });

  it('reports two swapped entries at both positions', async () => {
    const [i, j] = [10, 11];
    const swap = (c: pg.PoolClient) =>
      c
        .query(
          `UPDATE ledger_entries AS e SET entry = o.entry, leaf_hash = o.leaf_hash
           FROM ledger_entries AS o WHERE (e.idx, o.idx) IN (($1, $2), ($2, $1))`,
          [i, j],
        )
        .then(() => undefined);
    await asSuperuser(swap);
    const result = await audit();
    await asSuperuser(swap);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`entry ${i}: entry at position ${i} says it is entry ${j}`);
    expect(result.stderr).toContain(`entry ${j}: entry at position ${j} says it is entry ${i}`);
  });

  it('reports a changed stored node hash with its tile and position', async () => {
    const { rows } = await stack.adminPool.query<{ hash: Buffer }>(
      'SELECT hash FROM tree_nodes WHERE level = 8 AND idx = 0',
    );
    const original = rows[0]!.hash;
    await asSuperuser((c) =>
      c
        .query("UPDATE tree_nodes SET hash = sha256('x') WHERE level = 8 AND idx = 0")
        .then(() => undefined),
    );
    const result = await audit();
    await asSuperuser((c) =>
      c
        .query('UPDATE tree_nodes SET hash = $1 WHERE level = 8 AND idx = 0', [original])
        .then(() => undefined),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('stored hash at tile level 1, tile 0, position 0');
  });

  it('refuses to serve a proof through a changed stored node hash below the tile levels, and says which proof', async () => {
    // Node (level 1, index 1) hashes leaves 2 and 3: the inclusion proofs of entries 0 and 1
    // go through it. The tiles (levels 0, 8, 16) do not hold it, so the audit cannot see it.
    const { rows } = await stack.adminPool.query<{ hash: Buffer }>(
      'SELECT hash FROM tree_nodes WHERE level = 1 AND idx = 1',
    );
    const original = rows[0]!.hash;
    const reader = new LogReader(stack.pool);
    const checkpoint = (await reader.latestPublished())!;
    const leaf = await stack.adminPool.query<{ leaf_hash: Buffer }>(
      'SELECT leaf_hash FROM ledger_entries WHERE idx = 0',
    );
    const leafOf0 = new Uint8Array(leaf.rows[0]!.leaf_hash);
    await asSuperuser((c) =>
      c
        .query("UPDATE tree_nodes SET hash = sha256('x') WHERE level = 1 AND idx = 1")
        .then(() => undefined),
    );
    try {
      const response = await stack.app.inject({
        method: 'GET',
        url: '/ledger/proof/inclusion?index=0',
      });
      expect(response.statusCode).toBe(500);
      expect(response.json()).toMatchObject({ error: 'corrupt_log' });
      expect(response.json<{ reason: string }>().reason).toMatch(
        /^the stored tree hashes do not give the inclusion proof of entry 0 in the checkpoint of size \d+: a stored node hash is wrong/,
      );
      // A proof that does not go through the node is served as before.
      const far = await stack.app.inject({
        method: 'GET',
        url: '/ledger/proof/inclusion?index=5',
      });
      expect(far.statusCode).toBe(200);
      // The case timeline's proofs (several at once) are checked the same way.
      await expect(
        reader.inclusionProofs([{ index: 0, leafHash: leafOf0 }], checkpoint),
      ).rejects.toThrow(CorruptTreeError);
    } finally {
      await asSuperuser((c) =>
        c
          .query('UPDATE tree_nodes SET hash = $1 WHERE level = 1 AND idx = 1', [original])
          .then(() => undefined),
      );
    }
    // Once the store is put right, the same reader proves it again: no bad hash stays cached.
    const [proof] = await reader.inclusionProofs([{ index: 0, leafHash: leafOf0 }], checkpoint);
    expect(proof!.length).toBeGreaterThan(0);
  });

  it('reports a replaced checkpoint whose signature no longer verifies', async () => {
    const { rows } = await stack.adminPool.query<{ size: string; note: string }>(
      'SELECT size, note FROM published_checkpoints ORDER BY size DESC LIMIT 1',
    );
    const { size: latest, note } = rows[0]!;
    const replaced = note.replace(
      /^(.*\n\d+\n)[^\n]+\n/,
      `$1${toBase64(new Uint8Array(32).fill(1))}\n`,
    );
    await asSuperuser((c) =>
      c
        .query('UPDATE published_checkpoints SET note = $2 WHERE size = $1', [latest, replaced])
        .then(() => undefined),
    );
    const result = await onewindow([
      'ledger',
      'verify',
      '--url',
      url,
      '--trust',
      trust,
      '--state',
      `${trust}.state`,
    ]);
    await asSuperuser((c) =>
      c
        .query('UPDATE published_checkpoints SET note = $2 WHERE size = $1', [latest, note])
        .then(() => undefined),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/FAILED: checkpoint rejected: .*(signature|verif)/i);
  });

  it('reports a log rolled back to an older checkpoint after a newer one was verified', async () => {
    const state = `${trust}.rollback-state`;
    expect(
      (await onewindow(['ledger', 'verify', '--url', url, '--trust', trust, '--state', state]))
        .code,
    ).toBe(0);
    const newer = await stack.adminPool.query<{ size: string }>(
      'SELECT max(size) AS size FROM published_checkpoints',
    );
    const newest = newer.rows[0]!.size;
    const { rows } = await stack.adminPool.query(
      'SELECT * FROM published_checkpoints WHERE size = $1',
      [newest],
    );
    await asSuperuser((c) =>
      c.query('DELETE FROM published_checkpoints WHERE size = $1', [newest]).then(() => undefined),
    );
    const result = await onewindow([
      'ledger',
      'verify',
      '--url',
      url,
      '--trust',
      trust,
      '--state',
      state,
    ]);
    const row = rows[0] as { size: string; note: string; published_at: Date };
    await asSuperuser((c) =>
      c
        .query('INSERT INTO published_checkpoints (size, note, published_at) VALUES ($1, $2, $3)', [
          row.size,
          row.note,
          row.published_at,
        ])
        .then(() => undefined),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`FAILED: the log shrank`);
  });

  it('audits clean again once every change is undone', async () => {
    const result = await audit();
    expect(result.code).toBe(0);
  });
});
