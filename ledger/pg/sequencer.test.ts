import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { STATEMENT_TYPE, type SignedStatement } from '../../domain/statement.ts';
import { toBase64 } from '../bytes.ts';
import { verifyEd25519 } from '../ed25519.ts';
import { agencyKeyName, signingKey } from '../keys.ts';
import { signStatement } from '../statement.ts';
import type { KeyRegistry } from './keyRegistry.ts';
import { Sequencer } from './sequencer.ts';

// Deterministic keys: seed = 32 copies of one byte.
const water = signingKey(agencyKeyName('water'), new Uint8Array(32).fill(4));
const logKey = signingKey('sequencer.test/log', new Uint8Array(32).fill(1));

const keyAdd = (statementId: string, addedKeyId: string): SignedStatement =>
  signStatement(
    {
      type: STATEMENT_TYPE,
      statementId,
      caseId: 'keys-water',
      stepId: 'key.add',
      agency: 'water',
      outcome: 'added',
      commitment: toBase64(new Uint8Array(32)),
      facts: { keyId: addedKeyId },
      issuedAt: '2026-01-01T00:00:00Z',
      keyId: water.keyId,
    },
    water,
  );

const registry = {
  authorize: () =>
    Promise.resolve({
      keyId: water.keyId,
      agency: 'water',
      publicKey: water.publicKey,
      validFrom: new Date(0),
      validUntil: null,
    }),
} as unknown as KeyRegistry;

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
  const first = sequencer.append(keyAdd('keys-water/key.add/9', 'first+00000000'));
  const results = Promise.all(batch.map((s) => sequencer.append(s)));
  // Checks are a few promise steps and a synchronous verify: a timer tick lets them finish.
  await new Promise((resolve) => setTimeout(resolve, 10));
  db.open();
  await first;
  return { results: await results, appended: db.appended };
}

describe('Sequencer.append', () => {
  it('says created only for the statement chained when another of its commit has the same id', async () => {
    const ours = keyAdd('keys-water/key.add/1', 'ours+00000000');
    const theirs = keyAdd('keys-water/key.add/1', 'theirs+00000000');
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
    const statement = keyAdd('keys-water/key.add/1', 'ours+00000000');
    const { results } = await appendTogether([statement, statement]);
    expect(results.map((r) => r.created)).toEqual([true, false]);
    expect(results[1]!.entry).toEqual(results[0]!.entry);
  });
});
