import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { STATEMENT_TYPE, type Statement } from '../../domain/statement.ts';
import { commitTo, signStatement, verifyStatementSignature } from '../../ledger/statement.ts';
import {
  agencyKeyName,
  formatVerifierKey,
  generateSigningKey,
  parseVerifierKey,
  type SigningKey,
} from '../../ledger/keys.ts';
import { openCheckpoint } from '../../ledger/checkpoint.ts';
import { toBase64 } from '../../ledger/bytes.ts';
import { KEY_EVENT_SALT, keyRevokeStatement } from '../../ledger/keyEvents.ts';
import { rootFromLeafHashes } from '../../ledger/proof.ts';
import { hashLeaf } from '../../ledger/rfc9162.ts';
import { LogReader } from '../../ledger/pg/logReader.ts';
import { KeyRegistry } from '../../ledger/pg/keyRegistry.ts';
import { Sequencer, type Appended, type BatchVerifier } from '../../ledger/pg/sequencer.ts';
import { VerifyPool } from '../../infra/verifyPool.ts';
import { CheckpointPublisher } from '../../ledger/pg/publisher.ts';
import { cosignerKeyOf } from '../../ledger/cosignature.ts';
import { decideAddCheckpoint } from '../../ledger/witness.ts';
import { ledgerSize } from '../../ledger/pg/reader.ts';
import { generateRegisteredKeys } from '../../cli/keys.ts';
import { freshDatabase, startStack, TEST_LOG_ORIGIN, type Stack } from './stack.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack([]);
});
afterAll(async () => {
  await stack?.stop();
});
// Also after a test that timed out, whose own `finally` never ran.
afterEach(() => {
  vi.unstubAllGlobals();
});

function statement(agency: string, keyId: string, stepId = 'checkTitle'): Statement {
  const caseId = randomUUID();
  return {
    type: STATEMENT_TYPE,
    statementId: `${caseId}/${stepId}`,
    caseId,
    stepId,
    agency: agency as Statement['agency'],
    outcome: 'passed',
    commitment: Buffer.alloc(32, 7).toString('base64'),
    facts: { seizure: false },
    issuedAt: new Date().toISOString(),
    keyId,
  };
}

/** A sequencer on a database of its own, with a registered registry key, closed afterwards. */
async function withFreshLog(
  run: (log: {
    pool: pg.Pool;
    admin: pg.Pool;
    registry: SigningKey;
    append: () => Promise<Appended>;
  }) => Promise<void>,
): Promise<void> {
  const database = await freshDatabase();
  const pool = new pg.Pool({ connectionString: database.appUrl, max: 4 });
  const admin = new pg.Pool({ connectionString: database.adminUrl, max: 1 });
  try {
    const { registry } = await generateRegisteredKeys(admin, ['registry']);
    const sequencer = new Sequencer(pool, new KeyRegistry(pool), {
      origin: TEST_LOG_ORIGIN,
      key: stack.logKey,
    });
    const append = () =>
      sequencer.append(signStatement(statement('registry', registry.keyId), registry));
    await run({ pool, admin, registry, append });
  } finally {
    await pool.end();
    await admin.end();
  }
}

/** As the database superuser: the log as a backup taken at `size` entries holds it. */
async function restoreTo(admin: pg.Pool, size: number): Promise<void> {
  await admin.query(`BEGIN;
    SET LOCAL session_replication_role = replica;
    DELETE FROM ledger_entries WHERE idx >= ${size};
    DELETE FROM tree_nodes WHERE (idx + 1) * (1::bigint << level) > ${size};
    DELETE FROM checkpoints WHERE size > ${size};
    COMMIT`);
}

/** The log holds `size` entries and its latest checkpoint is the root of exactly those. */
async function expectCheckpointOfEntries(pool: pg.Pool, size: number) {
  const { rows } = await pool.query<{ leaf_hash: Buffer }>(
    'SELECT leaf_hash FROM ledger_entries ORDER BY idx',
  );
  expect(rows).toHaveLength(size);
  const head = (await new LogReader(pool).latestSigned())!;
  expect(head.size).toBe(size);
  expect(toBase64(head.rootHash)).toBe(
    toBase64(rootFromLeafHashes(rows.map((r) => new Uint8Array(r.leaf_hash)))),
  );
  return rows;
}

describe('the ledger append path against PostgreSQL', () => {
  it('refuses a registry statement signed with the electricity key and appends nothing', async () => {
    const before = await ledgerSize(stack.pool);
    const electricity = stack.keys.electricity!;
    const signed = signStatement(statement('registry', electricity.keyId), electricity);
    await expect(stack.sequencer.append(signed)).rejects.toMatchObject({
      name: 'KeyNotAuthorizedError',
    });
    expect(await ledgerSize(stack.pool)).toBe(before);
  });

  it('refuses a statement naming the registry key but signed by an unregistered key', async () => {
    const before = await ledgerSize(stack.pool);
    const forger = generateSigningKey(agencyKeyName('registry'));
    const forged = signStatement({ ...statement('registry', forger.keyId) }, forger);
    const claimed = {
      ...forged,
      statement: { ...forged.statement, keyId: stack.keys.registry!.keyId },
    };
    await expect(stack.sequencer.append(claimed)).rejects.toMatchObject({
      name: 'BadSignatureError',
    });
    await expect(stack.sequencer.append(forged)).rejects.toMatchObject({ name: 'UnknownKeyError' });
    expect(await ledgerSize(stack.pool)).toBe(before);
  });

  it('appends a retried statement once and returns the first entry again', async () => {
    const registry = stack.keys.registry!;
    const original = statement('registry', registry.keyId);
    const first = await stack.sequencer.append(signStatement(original, registry));
    const retry = await stack.sequencer.append(
      signStatement({ ...original, issuedAt: new Date(Date.now() + 1000).toISOString() }, registry),
    );
    expect(first.created).toBe(true);
    expect(retry.created).toBe(false);
    expect(retry.entry).toEqual(first.entry);
    const rows = await stack.pool.query(
      'SELECT count(*)::int AS n FROM ledger_entries WHERE statement_id = $1',
      [original.statementId],
    );
    expect(rows.rows[0]).toEqual({ n: 1 });
  });

  it('gives concurrent appenders contiguous indices with no gaps or duplicates', async () => {
    const registry = stack.keys.registry!;
    const before = await ledgerSize(stack.pool);
    const results = await Promise.all(
      Array.from({ length: 200 }, () =>
        stack.sequencer.append(signStatement(statement('registry', registry.keyId), registry)),
      ),
    );
    const indices = results.map((r) => r.entry.index).sort((a, b) => a - b);
    expect(indices).toEqual(Array.from({ length: 200 }, (_, i) => before + i));
  });

  it('appends a retry that arrives in a batch with new statements once, and the new ones after it', async () => {
    const registry = stack.keys.registry!;
    const original = statement('registry', registry.keyId);
    const first = await stack.sequencer.append(signStatement(original, registry));
    // The sequencer made the last commit, so this batch takes its one-statement path first,
    // which the retried id refuses as a whole; the locked path then appends the rest.
    const before = await ledgerSize(stack.pool);
    const [retry, ...fresh] = await Promise.all([
      stack.sequencer.append(signStatement(original, registry)),
      ...Array.from({ length: 20 }, () =>
        stack.sequencer.append(signStatement(statement('registry', registry.keyId), registry)),
      ),
    ]);
    expect(retry).toMatchObject({ created: false, entry: first.entry });
    expect(fresh.every((r) => r.created)).toBe(true);
    expect(fresh.map((r) => r.entry.index).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => before + i),
    );
    expect(await ledgerSize(stack.pool)).toBe(before + 20);
  });

  it('keeps one chained log whose checkpoints match its entries when two sequencers (two processes) append at once', async () => {
    const registry = stack.keys.registry!;
    const otherPool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 4 });
    const other = new Sequencer(otherPool, new KeyRegistry(otherPool), {
      origin: TEST_LOG_ORIGIN,
      key: stack.logKey,
    });
    try {
      const before = await ledgerSize(stack.pool);
      // Rounds in which both append at once: each finds the other's entries since its own
      // last commit, so neither may chain from the head it remembers.
      for (let round = 0; round < 5; round++) {
        await Promise.all(
          [stack.sequencer, other].flatMap((sequencer) =>
            Array.from({ length: 15 }, () =>
              sequencer.append(signStatement(statement('registry', registry.keyId), registry)),
            ),
          ),
        );
      }
      const { rows } = await stack.pool.query<{ idx: string; entry: Buffer; leaf_hash: Buffer }>(
        'SELECT idx, entry, leaf_hash FROM ledger_entries ORDER BY idx',
      );
      expect(rows.length).toBe(before + 150);
      const leafHashes = rows.map((row, i) => {
        expect(Number(row.idx)).toBe(i);
        const leafHash = hashLeaf(new Uint8Array(row.entry));
        expect(toBase64(leafHash)).toBe(toBase64(new Uint8Array(row.leaf_hash)));
        const entry = JSON.parse(row.entry.toString('utf8')) as { prevLeafHash: string };
        if (i > 0)
          expect(entry.prevLeafHash).toBe(toBase64(new Uint8Array(rows[i - 1]!.leaf_hash)));
        return leafHash;
      });
      const head = (await new LogReader(stack.pool).latestSigned())!;
      expect(head.size).toBe(rows.length);
      expect(toBase64(head.rootHash)).toBe(toBase64(rootFromLeafHashes(leafHashes)));
    } finally {
      await otherPool.end();
    }
  });

  it('keeps one chained log when two sequencers append at once on a database whose default isolation is repeatable read', async () => {
    const database = await freshDatabase();
    const admin = new pg.Pool({ connectionString: database.adminUrl, max: 1 });
    const name = new URL(database.adminUrl).pathname.slice(1);
    await admin.query(
      `ALTER DATABASE ${name} SET default_transaction_isolation = 'repeatable read'`,
    );
    const pools = [0, 1].map(() => new pg.Pool({ connectionString: database.appUrl, max: 4 }));
    try {
      const { registry } = await generateRegisteredKeys(admin, ['registry']);
      const sequencers = pools.map(
        (pool) =>
          new Sequencer(pool, new KeyRegistry(pool), {
            origin: TEST_LOG_ORIGIN,
            key: stack.logKey,
          }),
      );
      const before = await ledgerSize(pools[0]!);
      for (let round = 0; round < 5; round++)
        await Promise.all(
          sequencers.flatMap((sequencer) =>
            Array.from({ length: 15 }, () =>
              sequencer.append(signStatement(statement('registry', registry.keyId), registry)),
            ),
          ),
        );
      const { rows } = await pools[0]!.query<{ idx: string; entry: Buffer; leaf_hash: Buffer }>(
        'SELECT idx, entry, leaf_hash FROM ledger_entries ORDER BY idx',
      );
      expect(rows.length).toBe(before + 150);
      rows.forEach((row, i) => {
        expect(Number(row.idx)).toBe(i);
        if (i > 0)
          expect(
            (JSON.parse(row.entry.toString('utf8')) as { prevLeafHash: string }).prevLeafHash,
          ).toBe(toBase64(new Uint8Array(rows[i - 1]!.leaf_hash)));
      });
      await expectCheckpointOfEntries(pools[0]!, rows.length);
    } finally {
      for (const pool of pools) await pool.end();
      await admin.end();
    }
  });

  it('appends right after the last entry the log holds, leaving no gap, when the log was restored from an older backup under it', async () => {
    await withFreshLog(async ({ pool, admin, append }) => {
      for (let i = 0; i < 10; i++) await append();
      // The log as a backup taken at 9 entries holds it; the sequencer remembers 10.
      await restoreTo(admin, 9);
      const { entry } = await append();
      expect(entry.index).toBe(9);
      const rows = await expectCheckpointOfEntries(pool, 10);
      expect(entry.prevLeafHash).toBe(toBase64(new Uint8Array(rows[8]!.leaf_hash)));
    });
  });

  it('rebuilds its tree from the log when a restore and another process left the log at the size it remembers but with other entries', async () => {
    await withFreshLog(async ({ pool, admin, append, registry }) => {
      for (let i = 0; i < 10; i++) await append();
      await restoreTo(admin, 8);
      const other = new Sequencer(pool, new KeyRegistry(pool), {
        origin: TEST_LOG_ORIGIN,
        key: stack.logKey,
      });
      for (let i = 0; i < 2; i++)
        await other.append(signStatement(statement('registry', registry.keyId), registry));
      // Ten entries again, as the first sequencer remembers, but entries 8 and 9 are others.
      const { entry } = await append();
      expect(entry.index).toBe(10);
      await expectCheckpointOfEntries(pool, 11);
    });
  });

  it('refuses a statement whose key id PostgreSQL cannot take on its own, and appends the ones checked with it', async () => {
    const registry = stack.keys.registry!;
    const before = await ledgerSize(stack.pool);
    // Sent together: the registry asks for the revocations of a whole tick's keys at once.
    // Refused before its signature is looked at: any signature will do.
    const signed = signStatement(statement('registry', registry.keyId), registry);
    const bad = { ...signed, statement: { ...signed.statement, keyId: 'registry\u0000+00000000' } };
    const good = Array.from({ length: 10 }, () =>
      signStatement(statement('registry', registry.keyId), registry),
    );
    const [refused, ...appended] = await Promise.allSettled(
      [bad, ...good].map((s) => stack.sequencer.append(s)),
    );
    expect(refused).toMatchObject({
      status: 'rejected',
      reason: { name: 'MalformedStatementError' },
    });
    expect((refused as PromiseRejectedResult).reason).toHaveProperty(
      'message',
      expect.stringMatching(
        /^statement\.keyId "registry\\u0000\+00000000" is not a key id/,
      ) as string,
    );
    expect(appended.map((r) => r.status)).toEqual(Array(10).fill('fulfilled'));
    expect(await ledgerSize(stack.pool)).toBe(before + 10);
  });

  // A revocation's key id and time go to PostgreSQL in the commit that logs it: one it cannot
  // take (a NUL, the year 0000) failed the whole batch, and each retry of it the next one.
  it('refuses a key event the audit would ignore, and appends the statements checked with it', async () => {
    const registry = stack.keys.registry!;
    const before = await ledgerSize(stack.pool);
    const revocation = keyRevokeStatement({
      agency: 'registry',
      keyId: generateSigningKey(agencyKeyName('registry')).keyId,
      signingKeyId: registry.keyId,
      revokedAt: new Date().toISOString(),
      issuedAt: new Date().toISOString(),
      sequence: 900,
    });
    /** The revocation with `facts`, committed to and signed as a key event must be. */
    const revoking = (facts: Record<string, string>, n: number) =>
      signStatement(
        {
          ...revocation,
          statementId: `keys-registry/key.revoke/${n}`,
          facts,
          commitment: commitTo(KEY_EVENT_SALT, facts),
        },
        registry,
      );
    const bad = [
      revoking({ ...revocation.facts, revokedAt: '0000-01-01T00:00:00Z' }, 901),
      revoking({ ...revocation.facts, keyId: 'registry\u0000+00000000' }, 902),
      signStatement({ ...revocation, commitment: toBase64(new Uint8Array(32)) }, registry),
    ];
    const good = Array.from({ length: 10 }, () =>
      signStatement(statement('registry', registry.keyId), registry),
    );
    const settled = await Promise.allSettled(
      [...bad, ...good].map((s) => stack.sequencer.append(s)),
    );
    expect(
      settled.slice(0, 3).map((r) => r.status === 'rejected' && (r.reason as Error).message),
    ).toEqual([
      expect.stringMatching(
        /^key event keys-registry\/key\.revoke\/901: facts: revokedAt: must not be before 1970/,
      ),
      expect.stringMatching(
        /^key event keys-registry\/key\.revoke\/902: facts: keyId: must be <key name>\+<8 hex digits>/,
      ),
      'key event keys-registry/key.revoke/900: commitment is not commitTo(KEY_EVENT_SALT, facts)',
    ]);
    expect(settled.slice(3).map((r) => r.status)).toEqual(Array(10).fill('fulfilled'));
    expect(await ledgerSize(stack.pool)).toBe(before + 10);
  });

  it('refuses a statement whose entry would not fit a tlog-tiles entry bundle, appending nothing', async () => {
    const before = await ledgerSize(stack.pool);
    const registry = stack.keys.registry!;
    const facts = Object.fromEntries(
      Array.from({ length: 300 }, (_, i) => [`f${i}`, 'x'.repeat(250)]),
    );
    const huge = signStatement({ ...statement('registry', registry.keyId), facts }, registry);
    await expect(stack.sequencer.append(huge)).rejects.toMatchObject({
      name: 'MalformedStatementError',
    });
    expect(await ledgerSize(stack.pool)).toBe(before);
  });

  it('keeps a field it does not know, so the entry holds exactly the statement that was signed', async () => {
    const registry = stack.keys.registry!;
    const extended = {
      ...statement('registry', registry.keyId),
      note: 'a field from a later version',
    };
    const appended = await stack.sequencer.append(signStatement(extended, registry));
    expect(appended.entry.statement).toMatchObject({ note: 'a field from a later version' });
    expect(verifyStatementSignature(appended.entry, registry.publicKey)).toBe(true);
  });

  it('checks a few statements on its own thread and a large batch on the verify pool, refusing a bad signature either way', async () => {
    const pool = new VerifyPool(2);
    const handed: number[] = [];
    const counting: BatchVerifier = {
      verifyBatch(items) {
        handed.push(items.length);
        return pool.verifyBatch(items);
      },
    };
    const sequencer = new Sequencer(
      stack.pool,
      new KeyRegistry(stack.pool),
      { origin: TEST_LOG_ORIGIN, key: stack.logKey },
      { verifyPool: counting },
    );
    const registry = stack.keys.registry!;
    const forger = generateSigningKey(agencyKeyName('registry'));
    const forged = (s: Statement) => ({
      ...signStatement({ ...s, keyId: forger.keyId }, forger),
      statement: s,
    });
    try {
      const before = await ledgerSize(stack.pool);
      await expect(
        sequencer.append(forged(statement('registry', registry.keyId))),
      ).rejects.toMatchObject({ name: 'BadSignatureError' });
      await sequencer.append(signStatement(statement('registry', registry.keyId), registry));
      expect(handed).toEqual([]);

      const batch = Array.from({ length: 40 }, () => statement('registry', registry.keyId));
      const settled = await Promise.allSettled(
        batch.map((s, i) => sequencer.append(i === 17 ? forged(s) : signStatement(s, registry))),
      );
      expect(handed.length).toBeGreaterThan(0);
      expect(settled.filter((r) => r.status === 'rejected')).toHaveLength(1);
      expect(settled[17]).toMatchObject({
        status: 'rejected',
        reason: { name: 'BadSignatureError' },
      });
      expect(await ledgerSize(stack.pool)).toBe(before + 40);
    } finally {
      await pool.close();
    }
  });

  it('signs each checkpoint with both the old and the next log key during a log key rotation', async () => {
    const next = generateSigningKey(TEST_LOG_ORIGIN);
    const rotating = new Sequencer(stack.pool, new KeyRegistry(stack.pool), {
      origin: TEST_LOG_ORIGIN,
      key: stack.logKey,
      extraKeys: [next],
    });
    const registry = stack.keys.registry!;
    const { entry } = await rotating.append(
      signStatement(statement('registry', registry.keyId), registry),
    );
    const { rows } = await stack.pool.query<{ note: string }>(
      'SELECT note FROM checkpoints WHERE size = $1',
      [entry.index + 1],
    );
    const note = rows[0]!.note;
    const verifierOf = (key: typeof next) =>
      parseVerifierKey(formatVerifierKey(key.name, key.publicKey));
    // A verifier pinned to either key accepts it, so clients can move to the new key at their own pace.
    expect(openCheckpoint(note, TEST_LOG_ORIGIN, [verifierOf(stack.logKey)]).checkpoint.size).toBe(
      entry.index + 1,
    );
    expect(openCheckpoint(note, TEST_LOG_ORIGIN, [verifierOf(next)]).checkpoint.size).toBe(
      entry.index + 1,
    );
  });

  // Two publishers of the log often finish the same size together: both read it unpublished,
  // and the second insert waits on the first's row, then found it.
  it('ends its round without an error when another publisher published the same size meanwhile', async () => {
    await withFreshLog(async ({ pool, append }) => {
      await append();
      await append();
      const other = await pool.connect();
      try {
        await other.query('BEGIN');
        await other.query(
          `INSERT INTO published_checkpoints (size, note)
           SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1`,
        );
        const round = new CheckpointPublisher(
          pool,
          { witnesses: [], threshold: 0 },
          () => undefined,
          0,
        ).request();
        // The round's insert waits on the other publisher's row, not yet committed.
        await vi.waitFor(
          async () => {
            const { rows } = await pool.query<{ waiting: number }>(
              `SELECT count(*)::int AS waiting FROM pg_stat_activity
               WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO published_checkpoints%'`,
            );
            expect(rows[0]!.waiting).toBe(1);
          },
          { timeout: 10_000, interval: 20 },
        );
        await other.query('COMMIT');
        await expect(round).resolves.toBeUndefined();
      } finally {
        other.release();
      }
      const { rows } = await pool.query<{ size: string }>(
        'SELECT size FROM published_checkpoints ORDER BY size',
      );
      expect(rows.map((r) => Number(r.size))).toEqual([2]);
    });
  });

  it('publishes no checkpoint below one another publisher of the log published while its witness answered', async () => {
    await withFreshLog(async ({ pool, append }) => {
      await append();
      await append();
      // A witness in memory (tlog-witness from size 0) whose answers wait to be let go.
      const witnessKey = generateSigningKey('held.witness.test');
      const logs = new Map([
        [
          TEST_LOG_ORIGIN,
          [parseVerifierKey(formatVerifierKey(TEST_LOG_ORIGIN, stack.logKey.publicKey))],
        ],
      ]);
      let letGo!: () => void;
      const held = new Promise<void>((resolve) => (letGo = resolve));
      let asked!: () => void;
      const submitted = new Promise<void>((resolve) => (asked = resolve));
      // Only this witness's address is answered here; the stack's own witnesses as before.
      const realFetch = globalThis.fetch;
      vi.stubGlobal('fetch', async (url: string, init: RequestInit & { body: string }) => {
        if (!String(url).startsWith('http://held/')) return realFetch(url, init);
        asked();
        await held;
        const answer = decideAddCheckpoint({ key: witnessKey, logs }, init.body, () => undefined);
        return new Response(answer.body, { status: answer.status });
      });
      try {
        const witnessed = new CheckpointPublisher(
          pool,
          { witnesses: [{ url: 'http://held', key: cosignerKeyOf(witnessKey) }], threshold: 1 },
          () => undefined,
          0,
        );
        const round = witnessed.request(); // reads the newest checkpoint, of size 2
        await Promise.race([
          submitted,
          round.then(() => {
            throw new Error('the round ended without asking its witness');
          }),
        ]);
        await append();
        // Another publisher of the log (no witnesses) publishes size 3 meanwhile.
        await new CheckpointPublisher(
          pool,
          { witnesses: [], threshold: 0 },
          () => undefined,
          0,
        ).request();
        letGo();
        await round;
        await witnessed.idle();
      } finally {
        letGo();
        vi.unstubAllGlobals();
      }
      const { rows } = await pool.query<{ size: string }>(
        'SELECT size FROM published_checkpoints ORDER BY size',
      );
      // The cosigned size 2 came too late: published after 3, the log would seem to shrink.
      expect(rows.map((r) => Number(r.size))).toEqual([3]);
    });
  });

  it('lets the application role neither update nor delete an entry', async () => {
    expect(await ledgerSize(stack.pool)).toBeGreaterThan(0);
    await expect(
      stack.pool.query("UPDATE ledger_entries SET case_id = 'x' WHERE idx = 0"),
    ).rejects.toThrow(/permission denied|append-only/);
    await expect(stack.pool.query('DELETE FROM ledger_entries WHERE idx = 0')).rejects.toThrow(
      /permission denied|append-only/,
    );
  });

  it('refuses an update even from the owner, through the append-only trigger', async () => {
    await expect(
      stack.adminPool.query("UPDATE ledger_entries SET case_id = 'x' WHERE idx = 0"),
    ).rejects.toThrow(/append-only/);
  });
});
