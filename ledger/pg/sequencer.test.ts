import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Agency } from '../../domain/agency.ts';
import { KeyNotAuthorizedError } from '../../domain/errors.ts';
import { STATEMENT_TYPE, type SignedStatement, type Statement } from '../../domain/statement.ts';
import { toBase64 } from '../bytes.ts';
import { verifyEd25519 } from '../ed25519.ts';
import { keyAddStatement, keyRevokeStatement } from '../keyEvents.ts';
import { agencyKeyName, signingKey, type SigningKey } from '../keys.ts';
import { signStatement } from '../statement.ts';
import type { KeyRegistry } from './keyRegistry.ts';
import { Sequencer } from './sequencer.ts';

// Deterministic keys: seed = 32 copies of one byte.
const water = signingKey(agencyKeyName('water'), new Uint8Array(32).fill(4));
const water2 = signingKey(agencyKeyName('water'), new Uint8Array(32).fill(5));
const electricity = signingKey(agencyKeyName('electricity'), new Uint8Array(32).fill(6));
const logKey = signingKey('sequencer.test/log', new Uint8Array(32).fill(1));

/** A statement signed by `key`: a precheck result of water in case c1 but for `fields`. */
const signedBy = (key: SigningKey, fields: Partial<Statement>): SignedStatement =>
  signStatement(
    {
      type: STATEMENT_TYPE,
      statementId: 'c1/precheck.water',
      caseId: 'c1',
      stepId: 'precheck.water',
      agency: 'water',
      outcome: 'passed',
      commitment: toBase64(new Uint8Array(32)),
      facts: {},
      issuedAt: '2026-01-01T00:00:00Z',
      keyId: key.keyId,
      ...fields,
    },
    key,
  );

/** water's key.add `keys-water/key.add/<n>` of a key named `name` (its seed: its first letter). */
const keyAdd = (n: number, name: string): SignedStatement =>
  signStatement(
    keyAddStatement({
      agency: 'water',
      key: signingKey(name, new Uint8Array(32).fill(name.charCodeAt(0))),
      signingKeyId: water.keyId,
      validFrom: '2026-01-01T00:00:00Z',
      validUntil: null,
      issuedAt: '2026-01-01T00:00:00Z',
      sequence: n,
    }),
    water,
  );

/** A key registry that lets each of these keys sign for its agency (none is revoked in it). */
const registered: Record<string, { agency: Agency; key: SigningKey }> = {
  [water.keyId]: { agency: 'water', key: water },
  [water2.keyId]: { agency: 'water', key: water2 },
  [electricity.keyId]: { agency: 'electricity', key: electricity },
};
const registry = {
  authorize: (keyId: string) => {
    const { agency, key } = registered[keyId]!;
    return Promise.resolve({
      keyId,
      agency,
      publicKey: key.publicKey,
      validFrom: new Date(0),
      validUntil: null,
    });
  },
} as unknown as KeyRegistry;

/** `agency`'s precheck result in case `caseId`, signed by `key`. */
const result = (caseId: string, agency: Agency, key: SigningKey): SignedStatement =>
  signedBy(key, {
    statementId: `${caseId}/precheck.${agency}`,
    caseId,
    stepId: `precheck.${agency}`,
    agency,
  });

/** `agency`'s key.revoke of `keyId`, signed by `signer`. */
const revocation = (agency: Agency, keyId: string, signer: SigningKey): SignedStatement =>
  signStatement(
    keyRevokeStatement({
      agency,
      keyId,
      signingKeyId: signer.keyId,
      revokedAt: '2026-01-01T00:00:00Z',
      issuedAt: '2026-01-01T00:00:00Z',
      sequence: 1,
    }),
    signer,
  );

/**
 * A database with an empty log that accepts every write, whose first connection waits for
 * `open()`: while the first commit waits, later appends are checked and queue up, and then
 * commit together in one batch. `appended` lists the statement ids of each append written.
 */
function heldDatabase() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const appended: string[][] = [];
  const query = (query: string | { name?: string; values?: unknown[] }) => {
    if (typeof query === 'object' && query.name === 'sequencer-append')
      appended.push(query.values![1] as string[]);
    return Promise.resolve({ rowCount: 1, rows: [] });
  };
  const client = { query, release: () => undefined };
  const pool = {
    query,
    connect: async () => {
      await opened;
      return client;
    },
  } as unknown as pg.Pool;
  return { pool, open, appended };
}

/** Appends `first` (held at its commit), then `batch` at once; all of `batch` commits together. */
async function appendTogether(batch: SignedStatement[]) {
  const db = heldDatabase();
  const sequencer = new Sequencer(
    db.pool,
    registry,
    { origin: 'sequencer.test/log', key: logKey },
    {
      verify: verifyEd25519,
    },
  );
  const first = sequencer.append(keyAdd(9, 'first'));
  const results = Promise.allSettled(batch.map((s) => sequencer.append(s)));
  // Checks are a few promise steps and a synchronous verify: a timer tick lets them finish.
  await new Promise((resolve) => setTimeout(resolve, 10));
  db.open();
  await first;
  const settled = await results;
  return {
    results: settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined)),
    errors: settled.map((r) => (r.status === 'rejected' ? (r.reason as Error) : undefined)),
    appended: db.appended,
  };
}

describe('Sequencer.append', () => {
  it('says created only for the statement chained when another of its commit has the same id', async () => {
    const ours = keyAdd(1, 'ours');
    const theirs = keyAdd(1, 'theirs');
    const { results, appended } = await appendTogether([ours, theirs]);
    expect(appended).toEqual([['keys-water/key.add/9'], ['keys-water/key.add/1']]);
    const [a, b] = results;
    expect(a!.created).toBe(true);
    expect(a!.entry.statement).toEqual(ours.statement);
    // The second caller learns its statement was not appended: the log holds the first's.
    expect(b!.created).toBe(false);
    expect(b!.entry).toEqual(a!.entry);
    expect(b!.leafHash).toEqual(a!.leafHash);
  });

  it('says created once when the same statement comes twice in one commit', async () => {
    const statement = keyAdd(1, 'ours');
    const { results } = await appendTogether([statement, statement]);
    expect(results.map((r) => r!.created)).toEqual([true, false]);
    expect(results[1]!.entry).toEqual(results[0]!.entry);
  });
});

// A key.revoke and statements checked before it landed, in one commit: chained after the
// revocation, the revoked key's statements would be entries every audit reports.
describe('Sequencer.append after a key.revoke in the same commit', () => {
  it("refuses the revoked key's new statement and logs the rest", async () => {
    const revoke = revocation('water', water2.keyId, water);
    const { results, errors, appended } = await appendTogether([
      revoke,
      result('after', 'water', water2),
      result('other', 'water', water),
    ]);
    expect(errors[1]).toBeInstanceOf(KeyNotAuthorizedError);
    expect(errors[1]!.message).toMatch(/revoked by an entry before/);
    expect(results[0]!.created).toBe(true);
    expect(results[2]!.created).toBe(true);
    expect(appended[1]).toEqual([revoke.statement.statementId, 'other/precheck.water']);
  });

  it("accepts a statement of a key another agency's key.revoke names, which revokes nothing", async () => {
    // The registry records a revocation only for a key of the revoking agency, and the audit
    // ignores any other (KeyTimeline.apply): water's key stays valid.
    const { results, errors, appended } = await appendTogether([
      revocation('electricity', water2.keyId, electricity),
      result('after', 'water', water2),
    ]);
    expect(errors).toEqual([undefined, undefined]);
    expect(results.map((r) => r!.created)).toEqual([true, true]);
    expect(appended[1]).toHaveLength(2);
  });

  it('gives a retry of a statement chained before the revocation its entry', async () => {
    // The statement went in before the key.revoke, when its key was valid: its retry after
    // the revocation is the same entry, not a new statement of a revoked key.
    const before = result('before', 'water', water2);
    const { results, errors, appended } = await appendTogether([
      before,
      revocation('water', water2.keyId, water),
      before,
    ]);
    expect(errors).toEqual([undefined, undefined, undefined]);
    expect(results.map((r) => r!.created)).toEqual([true, true, false]);
    expect(results[2]!.entry).toEqual(results[0]!.entry);
    expect(appended[1]).toEqual(['before/precheck.water', 'keys-water/key.revoke/1']);
  });
});

/**
 * A database whose log holds one entry, sequenced at `sequencedAt`, and accepts every write:
 * what the locked path reads (the head, its tree node) and nothing else. `heads` counts the
 * locked path's reads of the head.
 */
function logEndingAt(sequencedAt: string) {
  const leaf = Buffer.alloc(32, 3);
  let heads = 0;
  const query = (query: string | { name?: string; text: string }) => {
    const name = typeof query === 'object' ? query.name : undefined;
    const text = typeof query === 'object' ? query.text : query;
    if (name === 'sequencer-head-and-existing') {
      heads++;
      return Promise.resolve({
        rows: [
          {
            idx: '0',
            leaf_hash: leaf,
            sequenced_at: new Date(sequencedAt),
            statement_id: null,
            entry: null,
          },
        ],
      });
    }
    if (text.includes('FROM ledger_entries WHERE idx = ANY'))
      return Promise.resolve({ rows: [{ idx: '0', hash: leaf }] });
    return Promise.resolve({ rowCount: 1, rows: [] });
  };
  const client = { query, release: () => undefined };
  const pool = { query, connect: () => Promise.resolve(client) } as unknown as pg.Pool;
  return { pool, heads: () => heads };
}

// An NTP step back must not make an honest log fail its audit (ledger/entry.ts LogClock), nor
// date an entry before one logged earlier, which a revocation's reach back is judged by.
describe('Sequencer.append when the clock steps back', () => {
  const LAST = '2026-03-01T00:00:00.000Z';

  it("gives an entry the time of the log's last one, read under the lock, when the clock is behind it", async () => {
    const sequencer = new Sequencer(
      logEndingAt(LAST).pool,
      registry,
      { origin: 'sequencer.test/log', key: logKey },
      { verify: verifyEd25519, now: () => new Date('2026-02-28T23:59:00.000Z') },
    );
    const { entry } = await sequencer.append(result('c1', 'water', water));
    expect(entry.index).toBe(1);
    expect(entry.sequencedAt).toBe(LAST);
  });

  it('keeps to the time of its own last commit while the clock is behind it, then follows the clock', async () => {
    let now = new Date(LAST);
    const db = logEndingAt('2026-02-01T00:00:00.000Z');
    const sequencer = new Sequencer(
      db.pool,
      registry,
      { origin: 'sequencer.test/log', key: logKey },
      { verify: verifyEd25519, now: () => now },
    );
    expect((await sequencer.append(result('c1', 'water', water))).entry.sequencedAt).toBe(LAST);
    now = new Date('2026-02-28T23:59:00.000Z');
    expect((await sequencer.append(result('c2', 'water', water))).entry.sequencedAt).toBe(LAST);
    now = new Date('2026-03-01T00:00:01.000Z');
    expect((await sequencer.append(result('c3', 'water', water))).entry.sequencedAt).toBe(
      '2026-03-01T00:00:01.000Z',
    );
    // Only the first commit read the head: the others chained after the commit before them.
    expect(db.heads()).toBe(1);
  });
});
