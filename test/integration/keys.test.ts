// Agency keys on the real stack: a rotation and a revocation are ledger entries; the
// sequencer refuses a revoked key; an auditor anchoring only an agency's first key learns the
// rotated key from the log and reports any use of a key after its revocation.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agency } from '../../domain/agency.ts';
import { KeyNotAuthorizedError } from '../../domain/errors.ts';
import { Entry, STATEMENT_TYPE, type SignedStatement } from '../../domain/statement.ts';
import { toBase64 } from '../../ledger/bytes.ts';
import type { VerifySignature } from '../../ledger/ed25519.ts';
import { encodeEntry } from '../../ledger/entry.ts';
import {
  agencyKeyName,
  formatSignerKey,
  generateSigningKey,
  parseSignerKey,
  type SigningKey,
} from '../../ledger/keys.ts';
import { keyRevokeStatement } from '../../ledger/keyEvents.ts';
import {
  addAgencyKey,
  KeyRegistry,
  registerAgencyKey,
  revokeAgencyKey,
} from '../../ledger/pg/keyRegistry.ts';
import { type Appended, SEQUENCER_LOCK, Sequencer } from '../../ledger/pg/sequencer.ts';
import { processEd25519 } from '../../ledger/pg/sodiumEd25519.ts';
import { signStatement, verifyStatementSignature } from '../../ledger/statement.ts';
import type { TrustFile } from '../../ledger/trust.ts';
import { onewindow, writeTrustFile } from './cli.ts';
import { earlierAnchors, ensureKeyFile, ensureRegisteredKey } from '../../cli/keys.ts';
import { startStack, TEST_LOG_ORIGIN, type Stack, asDatabaseSuperuser } from './stack.ts';

let stack: Stack;
let url: string;
let dir: string;
let w1: SigningKey;
let w2: SigningKey;
let revokedAt: Date;

const append = (signed: SignedStatement) => stack.sequencer.append(signed);

function statement(agency: Agency, key: SigningKey, issuedAt = new Date()): SignedStatement {
  const caseId = randomUUID();
  return signStatement(
    {
      type: STATEMENT_TYPE,
      statementId: `${caseId}/precheck.${agency}`,
      caseId,
      stepId: `precheck.${agency}`,
      agency,
      outcome: 'passed',
      commitment: toBase64(new Uint8Array(32).fill(9)),
      facts: { hasArrears: false },
      issuedAt: issuedAt.toISOString(),
      keyId: key.keyId,
    },
    key,
  );
}

async function ledgerSize(): Promise<number> {
  const { rows } = await stack.pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM ledger_entries',
  );
  return Number(rows[0]!.n);
}

async function entryOf(statementId: string): Promise<Entry> {
  const { rows } = await stack.pool.query<{ entry: Buffer }>(
    'SELECT entry FROM ledger_entries WHERE statement_id = $1',
    [statementId],
  );
  return Entry.parse(JSON.parse(rows[0]!.entry.toString('utf8')));
}

const asSuperuser = (work: (client: pg.PoolClient) => Promise<unknown>) =>
  asDatabaseSuperuser(stack, work);

/** A trust file with every key the suite registered except `drop`: those come from the log. */
async function trustFileWithout(drop: string[]): Promise<string> {
  const path = join(dir, `trust-${randomUUID()}.json`);
  await writeTrustFile(stack, path);
  const trust = JSON.parse(readFileSync(path, 'utf8')) as TrustFile;
  trust.agencyKeys = trust.agencyKeys.filter((k) => !drop.includes(k.keyId));
  writeFileSync(path, JSON.stringify(trust, null, 2));
  return path;
}

const audit = (trust: string) => onewindow(['ledger', 'audit', '--url', url, '--trust', trust]);

beforeAll(async () => {
  // A log of its own: this file revokes keys back to a theft, whose disowned entries every
  // audit of a shared log (other files') would report.
  stack = await startStack([], { freshDatabase: true });
  url = `${await stack.app.listen({ port: 0, host: '127.0.0.1' })}/ledger`;
  dir = mkdtempSync(join(tmpdir(), 'onewindow-keys-'));
  w1 = stack.keys.water!;
  w2 = generateSigningKey(agencyKeyName('water'));
  // The CLI runs as a child process with this environment, as an operator would run it.
  const logKeyFile = join(dir, 'log.key');
  writeFileSync(logKeyFile, formatSignerKey(stack.logKey), { mode: 0o600 });
  process.env.DATABASE_URL = stack.databaseUrl;
  process.env.ONEWINDOW_LOG_ORIGIN = TEST_LOG_ORIGIN;
  process.env.ONEWINDOW_LOG_KEY_FILE = logKeyFile;
});
afterAll(async () => {
  delete process.env.DATABASE_URL;
  delete process.env.ONEWINDOW_LOG_ORIGIN;
  delete process.env.ONEWINDOW_LOG_KEY_FILE;
  await stack?.stop();
});

describe('agency keys in the ledger', () => {
  it('rotates the water key with a key.add the old key signs, and then accepts the new key', async () => {
    const added = await addAgencyKey(stack.pool, append, {
      newKey: { keyId: w2.keyId, agency: 'water', publicKey: w2.publicKey },
      signingKey: w1,
      validFrom: new Date(),
    });
    expect(added.statementId).toMatch(/^keys-water\/key\.add\/\d+$/);
    const entry = await entryOf(added.statementId);
    expect(entry.statement).toMatchObject({
      caseId: 'keys-water',
      stepId: 'key.add',
      agency: 'water',
      outcome: 'added',
      keyId: w1.keyId,
      facts: { keyId: w2.keyId, publicKey: toBase64(w2.publicKey), validUntil: null },
    });
    const appended = await Promise.all(
      Array.from({ length: 5 }, () => append(statement('water', w2))),
    );
    expect(appended.every((a) => a.created)).toBe(true);
  });

  it('adds nothing when the same rotation is retried', async () => {
    const size = await ledgerSize();
    const again = await addAgencyKey(stack.pool, append, {
      newKey: { keyId: w2.keyId, agency: 'water', publicKey: w2.publicKey },
      signingKey: w1,
      validFrom: new Date(),
    });
    expect(again.statementId).toMatch(/^keys-water\/key\.add\/\d+$/);
    expect(await ledgerSize()).toBe(size);
  });

  it('refuses a statement signed by the revoked key issued after its revocation, appending nothing', async () => {
    revokedAt = new Date();
    const { statementId } = await revokeAgencyKey(stack.pool, append, {
      keyId: w1.keyId,
      signingKey: w2,
      revokedAt,
    });
    expect((await entryOf(statementId)).statement).toMatchObject({
      stepId: 'key.revoke',
      keyId: w2.keyId,
      facts: { keyId: w1.keyId, revokedAt: revokedAt.toISOString() },
    });
    const size = await ledgerSize();
    const late = statement('water', w1, new Date(revokedAt.getTime() + 1000));
    await expect(append(late)).rejects.toBeInstanceOf(KeyNotAuthorizedError);
    await expect(append(late)).rejects.toThrow(/revoked at/);
    expect(await ledgerSize()).toBe(size);
  });

  // issuedAt is the signer's word: whoever holds the revoked key could date anything before
  // the revocation, so after it the key signs nothing (ledger/keyEvents.ts).
  it('refuses the revoked key also for a statement dated before its revocation', async () => {
    const size = await ledgerSize();
    const backdated = statement('water', w1, new Date(revokedAt.getTime() - 1000));
    await expect(append(backdated)).rejects.toBeInstanceOf(KeyNotAuthorizedError);
    await expect(append(backdated)).rejects.toThrow(/revoked at/);
    expect(await ledgerSize()).toBe(size);
    await append(statement('water', w2));
    await stack.publisher.request();
  });

  it('audits clean from a trust file anchoring only the first water key, learning the new one from the log', async () => {
    const trust = await trustFileWithout([w2.keyId]);
    const anchored = (JSON.parse(readFileSync(trust, 'utf8')) as TrustFile).agencyKeys;
    expect(anchored.some((k) => k.keyId === w1.keyId)).toBe(true);
    expect(anchored.some((k) => k.keyId === w2.keyId)).toBe(false);
    const result = await audit(trust);
    expect(result.stderr).not.toContain('FAILED');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/audit passed: \d+ entries re-hashed/);
  });

  it('reports an entry forged with the revoked key after its revocation, with its index', async () => {
    const victim = await append(statement('water', w2));
    await stack.publisher.request();
    const k = victim.entry.index;
    const forged = statement('water', w1, new Date(revokedAt.getTime() + 60_000));
    const forgedEntry: Entry = {
      ...victim.entry,
      statement: forged.statement,
      signature: forged.signature,
    };
    const { rows } = await stack.adminPool.query<{
      entry: Buffer;
      statement_id: string;
      case_id: string;
    }>('SELECT entry, statement_id, case_id FROM ledger_entries WHERE idx = $1', [k]);
    const original = rows[0]!;
    await asSuperuser((c) =>
      c.query(
        'UPDATE ledger_entries SET entry = $2, statement_id = $3, case_id = $4 WHERE idx = $1',
        [
          k,
          Buffer.from(encodeEntry(forgedEntry)),
          forged.statement.statementId,
          forged.statement.caseId,
        ],
      ),
    );
    const trust = await trustFileWithout([w2.keyId]);
    const result = await audit(trust);
    await asSuperuser((c) =>
      c.query(
        'UPDATE ledger_entries SET entry = $2, statement_id = $3, case_id = $4 WHERE idx = $1',
        [k, original.entry, original.statement_id, original.case_id],
      ),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `entry ${k}: key ${w1.keyId} was revoked at ${revokedAt.toISOString()}`,
    );
    expect((await audit(trust)).code).toBe(0);
  });
});

// The window a revocation must not leave: a statement whose key check ran before the
// key.revoke landed, committed after it, would be an entry of a revoked key after its
// revocation, which every audit reports for good.
describe('a revocation takes effect with its entry', () => {
  /** A key registry as it stood before any revocation: the check it makes lets everything by. */
  class RegistryBeforeRevocation extends KeyRegistry {
    override revokedAt(): Promise<Date | null> {
      return Promise.resolve(null);
    }
  }
  let e1: SigningKey;

  /** Adds a fresh electricity key, signed by the stack's electricity key. */
  async function freshElectricityKey(): Promise<SigningKey> {
    const key = generateSigningKey(agencyKeyName('electricity'));
    await addAgencyKey(stack.pool, append, {
      newKey: { keyId: key.keyId, agency: 'electricity', publicKey: key.publicKey },
      signingKey: e1,
      validFrom: new Date(Date.now() - 1000),
    });
    return key;
  }

  const revocationOf = (key: SigningKey, sequence: number): SignedStatement =>
    signStatement(
      keyRevokeStatement({
        agency: 'electricity',
        keyId: key.keyId,
        signingKeyId: e1.keyId,
        revokedAt: new Date().toISOString(),
        issuedAt: new Date().toISOString(),
        sequence,
      }),
      e1,
    );

  /**
   * A sequencer whose check lets by a key the registry has revoked, as a check that ran before
   * the revocation landed, and `inOneCommit`, which has it commit `statements` in one batch: a
   * statement of e1 is appended first, whose commit waits for the sequencer's lock, held here
   * until all of `statements` are checked; checked while a commit runs, they commit together.
   */
  function staleSequencer() {
    let checked = 0;
    const verify: VerifySignature = (publicKey, message, signature) => {
      checked++;
      return processEd25519.verify(publicKey, message, signature);
    };
    const log = { origin: TEST_LOG_ORIGIN, key: stack.logKey };
    const registry = new RegistryBeforeRevocation(stack.pool);
    const sequencer = new Sequencer(stack.pool, registry, log, { verify });
    // A check ends in promise steps after its synchronous verify: a macrotask runs after them.
    const checkedUpTo = async (n: number) => {
      while (checked < n) await new Promise((resolve) => setImmediate(resolve));
    };
    async function inOneCommit(statements: readonly SignedStatement[]) {
      const holder = await stack.pool.connect();
      try {
        await holder.query('SELECT pg_advisory_lock($1)', [SEQUENCER_LOCK]);
        const first = sequencer.append(statement('electricity', e1));
        await checkedUpTo(checked + 1);
        const results = Promise.allSettled(statements.map((s) => sequencer.append(s)));
        await checkedUpTo(checked + statements.length);
        await holder.query('SELECT pg_advisory_unlock($1)', [SEQUENCER_LOCK]);
        await first;
        return await results;
      } finally {
        // Closed, not pooled: however the test ends, the lock goes with its session.
        holder.release(true);
      }
    }
    return { sequencer, inOneCommit };
  }

  beforeAll(() => {
    e1 = stack.keys.electricity!;
  });

  it('writes the registry row in the same commit as the key.revoke entry', async () => {
    const key = await freshElectricityKey();
    const revoke = revocationOf(key, 1);
    const appended = await append(revoke);
    expect(appended.created).toBe(true);
    // No follow-up step (revokeAgencyKey's insert) ran: the row came with the entry.
    const { rows } = await stack.pool.query<{ key_id: string }>(
      'SELECT key_id FROM agency_key_revocations WHERE statement_id = $1',
      [revoke.statement.statementId],
    );
    expect(rows.map((r) => r.key_id)).toEqual([key.keyId]);
    await expect(append(statement('electricity', key))).rejects.toBeInstanceOf(
      KeyNotAuthorizedError,
    );
  });

  it('refuses a statement checked before the revocation landed and committed with it', async () => {
    const key = await freshElectricityKey();
    const { inOneCommit } = staleSequencer();
    const size = await ledgerSize();
    // No registry row stops the key before this commit: the sequencer's own check of its
    // batch must, since the key.revoke is chained before the statement.
    const [revoked, sameCommit] = await inOneCommit([
      revocationOf(key, 2),
      statement('electricity', key),
    ]);
    expect(revoked!.status).toBe('fulfilled');
    expect(sameCommit!.status).toBe('rejected');
    const reason = (sameCommit as PromiseRejectedResult).reason as Error;
    expect(reason).toBeInstanceOf(KeyNotAuthorizedError);
    expect(reason.message).toMatch(/revoked by an entry before/);
    // The statement that held the commit and the key.revoke, nothing else.
    expect(await ledgerSize()).toBe(size + 2);
  });

  it('gives a retry committed after the revocation the entry its statement got before it', async () => {
    const key = await freshElectricityKey();
    const { inOneCommit } = staleSequencer();
    const signed = statement('electricity', key);
    const logged = await append(signed);
    const [revoked, retry] = await inOneCommit([revocationOf(key, 3), signed]);
    expect(revoked!.status).toBe('fulfilled');
    // Logged while its key was valid: the retry is that entry, not a new use of the key.
    expect(retry!.status).toBe('fulfilled');
    const again = (retry as PromiseFulfilledResult<Appended>).value;
    expect(again.created).toBe(false);
    expect(again.entry).toEqual(logged.entry);
    expect(toBase64(again.leafHash)).toBe(toBase64(logged.leafHash));
  });

  it('gives a retry arriving after the revocation, its first answer lost, the entry its statement got before it', async () => {
    const key = await freshElectricityKey();
    const signed = statement('electricity', key);
    const logged = await append(signed);
    expect((await append(revocationOf(key, 5))).created).toBe(true);
    const size = await ledgerSize();
    // The same statement again, as a retried activity sends it: its entry, no new one.
    const again = await append(signed);
    expect(again.created).toBe(false);
    expect(again.entry).toEqual(logged.entry);
    expect(toBase64(again.leafHash)).toBe(toBase64(logged.leafHash));
    // Another statement under the revoked key is still refused, and nothing was added.
    await expect(append(statement('electricity', key))).rejects.toBeInstanceOf(
      KeyNotAuthorizedError,
    );
    expect(await ledgerSize()).toBe(size);
  });

  it('refuses a statement checked before the revocation landed and committed after it', async () => {
    const key = await freshElectricityKey();
    const { sequencer: stale } = staleSequencer();
    // A first append makes this sequencer the log's last writer, so its next commits take the
    // one-statement path, whose own guard must stop the revoked key.
    await stale.append(statement('electricity', e1));
    const size = await ledgerSize();
    expect((await stale.append(revocationOf(key, 4))).created).toBe(true);
    const later = stale.append(statement('electricity', key));
    await expect(later).rejects.toBeInstanceOf(KeyNotAuthorizedError);
    await expect(later).rejects.toThrow(/revoked by an entry before/);
    // Only the key.revoke was logged, and statements of valid keys still go through.
    expect(await ledgerSize()).toBe(size + 1);
    expect((await stale.append(statement('electricity', e1))).created).toBe(true);
    await stack.publisher.request();
    const result = await audit(await trustFileWithout([]));
    expect(result.stderr).not.toContain('FAILED');
    expect(result.code).toBe(0);
  });
});

describe('onewindow keys rotate and revoke, run as an operator would', () => {
  let t1File: string;
  let t2File: string;

  /** `onewindow keys rotate` of the tax key in `t1File`, the new key written to `out`. */
  const rotateTo = (out: string) =>
    onewindow(['keys', 'rotate', '--agency', 'tax', '--key', t1File, '--out', out]);

  beforeAll(() => {
    t1File = join(dir, 'tax.key');
    writeFileSync(t1File, formatSignerKey(stack.keys.tax!), { mode: 0o600 });
    t2File = join(dir, 'tax-next.key');
  });

  it('refuses a rotation whose new key file cannot be written, with exit code 2 and one line, adding nothing', async () => {
    const count = async () =>
      (await stack.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger_entries'))
        .rows[0]!.n;
    const before = await count();
    const underFile = join(t1File, 'next.key');
    const refused = await rotateTo(underFile);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toEqual([
      `onewindow: ENOTDIR: not a directory, open '${underFile}'`,
    ]);
    expect(await count()).toBe(before);
  });

  it('rotates the tax key, then revokes the old one signed by the new one', async () => {
    const rotated = await rotateTo(t2File);
    expect(rotated.stderr).toMatch(/added tax\.agency\.onewindow\+[0-9a-f]{8} for tax/);
    expect(rotated.code).toBe(0);
    expect(existsSync(t2File)).toBe(true);
    const t1 = stack.keys.tax!;
    const revoked = await onewindow(['keys', 'revoke', '--key-id', t1.keyId, '--key', t2File]);
    expect(revoked.stderr).toBe('');
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${t1.keyId} of tax`);
    // The key.revoke on the ledger: signed by the new key, and its signature verifies under it.
    const t2 = parseSignerKey(readFileSync(t2File, 'utf8'));
    const { rows } = await stack.pool.query<{ entry: Buffer }>(
      `SELECT entry FROM ledger_entries
       WHERE convert_from(entry, 'UTF8') LIKE '%"stepId":"key.revoke"%'
         AND convert_from(entry, 'UTF8') LIKE $1
       ORDER BY idx DESC LIMIT 1`,
      [`%"keyId":"${t1.keyId}"%`],
    );
    const revocation = Entry.parse(JSON.parse(rows[0]!.entry.toString('utf8')));
    expect(revocation.statement).toMatchObject({ agency: 'tax', keyId: t2.keyId });
    expect(verifyStatementSignature(revocation, t2.publicKey)).toBe(true);
    await expect(append(statement('tax', t1, new Date(Date.now() + 1000)))).rejects.toBeInstanceOf(
      KeyNotAuthorizedError,
    );
    await stack.publisher.request();
    const result = await audit(await trustFileWithout([w2.keyId]));
    expect(result.stderr).not.toContain('FAILED');
    expect(result.code).toBe(0);
  });

  it.each([
    [['rotate', '--agency', 'atlantis', '--key', 'K', '--out', 'OUT'], /--agency must be one of/],
    [
      ['rotate', '--agency', 'gas', '--key', 'K', '--out', 'OUT'],
      /cannot sign for gas now: key .* belongs to agency tax/,
    ],
    [
      ['rotate', '--agency', 'tax', '--key', 'K', '--out', 'OUT', '--valid-from', 'tomorrow'],
      /--valid-from must be an RFC 3339 time/,
    ],
    [
      [
        'rotate',
        '--agency',
        'tax',
        '--key',
        'K',
        '--out',
        'OUT',
        '--valid-from',
        '2020-01-01T00:00:00Z',
      ],
      /must not be in the past/,
    ],
    [
      ['rotate', '--agency', 'tax', '--key', '/nonexistent.key', '--out', 'OUT'],
      /key file \/nonexistent.key does not exist/,
    ],
    [
      ['revoke', '--key-id', 'not a key id', '--key', 'K'],
      /--key-id <name>\+<8 hex digits> is required/,
    ],
    [
      ['revoke', '--key-id', 'nobody+00000000', '--key', 'K'],
      /no agency key is registered with id nobody\+00000000/,
    ],
    [
      ['revoke', '--key-id', 'ID', '--key', 'K'],
      /cannot sign for water now: key .* belongs to agency tax/,
    ],
    [['frobnicate'], /usage: onewindow keys/],
    [['generate', '--out', 'OUT'], /name exactly one kind of key/],
    [['generate', '--orchestrator', '--agency', 'tax', '--out', 'OUT'], /exactly one kind/],
    [['generate', '--witness', 'bank', '--out', 'OUT'], /--agency must be one of/],
    [['generate', '--log', 'has space', '--out', 'OUT'], /--log must be the log's origin/],
  ])('answers bad input %j with exit code 2, writing nothing', async (args, message) => {
    const out = join(dir, `never-${randomUUID()}.key`);
    const filled = args.map((a) =>
      a === 'K' ? t2File : a === 'OUT' ? out : a === 'ID' ? w2.keyId : a,
    );
    const size = await ledgerSize();
    const result = await onewindow(['keys', ...filled]);
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(2);
    expect(existsSync(out)).toBe(false);
    expect(await ledgerSize()).toBe(size);
  });

  it.each([
    [['--orchestrator'], /^orchestrator\.agency\.onewindow\+[0-9a-f]{8}\+A/],
    [['--log', 'example.gov/ledger'], /^example\.gov\/ledger\+[0-9a-f]{8}\+A/],
    [['--witness', 'tax'], /^tax\.witness\.onewindow\+[0-9a-f]{8}\+B/],
    [['--token-issuer'], /^[A-Za-z0-9+/]{43}=$/],
  ])('generates a %j key and prints what verifiers need of it', async (kind, printed) => {
    const out = join(dir, `generated-${randomUUID()}.key`);
    const result = await onewindow(['keys', 'generate', ...kind, '--out', out]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(printed);
    expect(readFileSync(out, 'utf8')).toMatch(/^PRIVATE\+KEY\+/);
  });
});

describe('the key files a one-host system starts from', () => {
  it("lists a key in the trust file with the window the registry holds: the epoch for a new key, its key.add's for one that came in by a rotation", async () => {
    const fresh = await ensureRegisteredKey(stack.adminPool, join(dir, 'gas-fresh.key'), 'gas');
    expect(fresh.trusted.validFrom).toBe(new Date(0).toISOString());
    expect(fresh.trusted).not.toHaveProperty('validUntil');

    // A rotated key's file put in place of the first one: its row says when it is valid from.
    const rotatedFile = join(dir, 'gas-rotated.key');
    const rotated = ensureKeyFile(rotatedFile, agencyKeyName('gas'));
    const validFrom = new Date('2026-06-01T00:00:00Z');
    await registerAgencyKey(stack.adminPool, {
      keyId: rotated.keyId,
      agency: 'gas',
      publicKey: rotated.publicKey,
      validFrom,
    });
    const again = await ensureRegisteredKey(stack.adminPool, rotatedFile, 'gas');
    expect(again.trusted.validFrom).toBe(validFrom.toISOString());
  });

  it('keeps in the trust file the first key an earlier one listed, after its file was swapped for its rotated successor, and no key the registry does not hold so', async () => {
    const first = await ensureRegisteredKey(stack.adminPool, join(dir, 'gas-first.key'), 'gas');
    const earlier: TrustFile = {
      origin: TEST_LOG_ORIGIN,
      logKeys: ['unused+00000000+AAAA'],
      witnesses: [],
      witnessThreshold: 0,
      agencyKeys: [first.trusted],
    };
    const successorFile = join(dir, 'gas-successor.key');
    const successor = ensureKeyFile(successorFile, agencyKeyName('gas'));
    await registerAgencyKey(stack.adminPool, {
      keyId: successor.keyId,
      agency: 'gas',
      publicKey: successor.publicKey,
      validFrom: new Date('2026-06-01T00:00:00Z'),
    });
    const swapped = await ensureRegisteredKey(stack.adminPool, successorFile, 'gas');
    expect(await earlierAnchors(stack.adminPool, earlier, [swapped.trusted])).toEqual({
      kept: [first.trusted],
      dropped: [],
    });
    // Listed once; nothing at a first start.
    const none = { kept: [], dropped: [] };
    expect(
      await earlierAnchors(stack.adminPool, earlier, [swapped.trusted, first.trusted]),
    ).toEqual(none);
    expect(await earlierAnchors(stack.adminPool, undefined, [swapped.trusted])).toEqual(none);
    // A line whose key the registry holds with another public key or agency, or not at all.
    const stranger = generateSigningKey(agencyKeyName('gas'));
    const lines = [
      { ...first.trusted, publicKey: toBase64(stranger.publicKey) },
      { ...first.trusted, agency: 'water' },
      { ...first.trusted, keyId: stranger.keyId, publicKey: toBase64(stranger.publicKey) },
      { ...first.trusted, keyId: 'gas\u0000' },
    ];
    expect(await earlierAnchors(stack.adminPool, { ...earlier, agencyKeys: lines }, [])).toEqual({
      kept: [],
      dropped: [
        { keyId: first.trusted.keyId, why: 'the registry holds it with another public key' },
        { keyId: first.trusted.keyId, why: 'the registry holds it for gas, not water' },
        { keyId: stranger.keyId, why: 'the registry holds no such key' },
        { keyId: 'gas\u0000', why: 'not a key id' },
      ],
    });
  });

  it('refuses to register a key id that is registered with another public key', async () => {
    const key = ensureKeyFile(join(dir, 'gas-taken.key'), agencyKeyName('gas'));
    await ensureRegisteredKey(stack.adminPool, join(dir, 'gas-taken.key'), 'gas');
    const other = generateSigningKey(agencyKeyName('gas'));
    await expect(
      registerAgencyKey(stack.adminPool, {
        keyId: key.keyId,
        agency: 'gas',
        publicKey: other.publicKey,
        validFrom: new Date(0),
      }),
    ).rejects.toThrow(`key id ${key.keyId} is registered for gas with public key`);
  });
});

// A key stolen at some moment and revoked back to it later: what the thief signed in between,
// the keys it added included, passed when it was logged. The revocation disowns all of it, and
// the ledger refuses the thief's keys from then on, as verifiers do.
describe('a revocation back to the moment a key was stolen', () => {
  const pause = () => new Promise((resolve) => setTimeout(resolve, 5));
  /** The thief, holding `stolen`, adds a key of their own for `agency`. */
  const thiefAdds = (stolen: SigningKey, thief: SigningKey, agency: Agency) =>
    addAgencyKey(stack.pool, append, {
      newKey: { keyId: thief.keyId, agency, publicKey: thief.publicKey },
      signingKey: stolen,
      validFrom: new Date(),
    });
  /** `onewindow keys revoke` of `keyId` back to `at`, signed with the key written to `file`. */
  const revokeBackTo = (keyId: string, signer: SigningKey, file: string, at: Date) => {
    writeFileSync(join(dir, file), formatSignerKey(signer), { mode: 0o600 });
    return onewindow([
      'keys',
      'revoke',
      '--key-id',
      keyId,
      '--key',
      join(dir, file),
      '--at',
      at.toISOString(),
    ]);
  };

  it("revokes with the stolen key the keys the thief added, and the audit reports what the thief's keys signed", async () => {
    const e1 = stack.keys.electricity!;
    const e2 = generateSigningKey(agencyKeyName('electricity'));
    const thief = generateSigningKey(agencyKeyName('electricity'));
    // Before the theft: a rotation to the agency's next key, and a statement of the old one.
    await addAgencyKey(stack.pool, append, {
      newKey: { keyId: e2.keyId, agency: 'electricity', publicKey: e2.publicKey },
      signingKey: e1,
      validFrom: new Date(),
    });
    const honest = await append(statement('electricity', e1));
    await pause();
    const stolenAt = new Date();
    await pause();
    const thiefsAdd = await thiefAdds(e1, thief, 'electricity');
    const byThief = await append(statement('electricity', thief));
    const byStolen = await append(statement('electricity', e1));

    const revoked = await revokeBackTo(e1.keyId, e2, 'electricity-next.key', stolenAt);
    expect(revoked.stderr).toBe('');
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(
      `revoked ${e1.keyId} of electricity from ${stolenAt.toISOString()}`,
    );
    expect(revoked.stdout).toContain(
      `revoked ${thief.keyId} of electricity too, a key ${e1.keyId} added after`,
    );
    await expect(append(statement('electricity', thief))).rejects.toThrow(/revoked at/);
    expect((await append(statement('electricity', e2))).created).toBe(true);

    await stack.publisher.request();
    const result = await audit(await trustFileWithout([w2.keyId, e2.keyId, thief.keyId]));
    expect(result.code).toBe(1);
    const addIndex = (await entryOf(thiefsAdd.statementId)).index;
    const findings = result.stderr.split('\n').filter((line) => /^\s*entry \d+:/.test(line));
    expect(findings.map((line) => line.trim())).toEqual([
      `entry ${addIndex}: entry is disowned: key ${e1.keyId} was revoked at ${stolenAt.toISOString()} (entry ${addIndex + 3}), and it was logged at ${(await entryOf(thiefsAdd.statementId)).sequencedAt}`,
      // The thief's key's own revocation, which keys revoke added, has the last word on it.
      `entry ${byThief.entry.index}: entry is disowned: key ${thief.keyId} was revoked at ${stolenAt.toISOString()} (entry ${addIndex + 4}), and it was logged at ${byThief.entry.sequencedAt}`,
      `entry ${byStolen.entry.index}: entry is disowned: key ${e1.keyId} was revoked at ${stolenAt.toISOString()} (entry ${addIndex + 3}), and it was logged at ${byStolen.entry.sequencedAt}`,
    ]);
    expect(result.stderr).not.toContain(`entry ${honest.entry.index}:`);
  });

  it('says which keys it could not revoke when the stolen key revokes itself, exits 1, and finishes when run again with another key and no --at', async () => {
    const h1 = stack.keys.housing!;
    const thief = generateSigningKey(agencyKeyName('housing'));
    // The agency's second key, rotated in before the theft.
    const h2 = generateSigningKey(agencyKeyName('housing'));
    await thiefAdds(h1, h2, 'housing');
    await pause();
    const stolenAt = new Date();
    await pause();
    await thiefAdds(h1, thief, 'housing');
    const revoked = await revokeBackTo(h1.keyId, h1, 'housing.key', stolenAt);
    expect(revoked.code).toBe(1);
    expect(revoked.stdout).toContain(
      `revoked ${h1.keyId} of housing from ${stolenAt.toISOString()}`,
    );
    expect(revoked.stderr.trim()).toBe(
      `onewindow keys: ${h1.keyId} added ${thief.keyId} after ${stolenAt.toISOString()}; verifiers disown them, but the ledger still takes them until they are revoked: run this again with --key of another valid housing key (the same --at or none: it reaches back as far as the earliest revocation of ${h1.keyId})`,
    );
    await expect(append(statement('housing', h1))).rejects.toThrow(/revoked at/);
    expect((await append(statement('housing', thief))).created).toBe(true);

    // Run again as advised, with the second key and no --at: it reaches back as far as the
    // first run did, and revokes the thief's key.
    const h2File = join(dir, 'housing-second.key');
    writeFileSync(h2File, formatSignerKey(h2), { mode: 0o600 });
    const finished = await onewindow(['keys', 'revoke', '--key-id', h1.keyId, '--key', h2File]);
    expect(finished.stderr).toBe('');
    expect(finished.code).toBe(0);
    // The first run's revocation stands for this one: nothing new is logged for h1.
    expect(finished.stdout).toContain(
      `revoked ${h1.keyId} of housing from ${stolenAt.toISOString()}`,
    );
    expect(finished.stdout).toContain(
      `revoked ${thief.keyId} of housing too, a key ${h1.keyId} added after ${stolenAt.toISOString()}`,
    );
    await expect(append(statement('housing', thief))).rejects.toThrow(/revoked at/);
    expect((await append(statement('housing', h2))).created).toBe(true);
  });

  it("revokes no key of another agency that the thief's key.add named, though the log holds that add", async () => {
    const g1 = stack.keys.gas!;
    // A second gas key, stolen: the thief logs a key.add of the registry's key (public,
    // and its id matches it), which the registry of keys refuses to register for gas.
    const stolen = generateSigningKey(agencyKeyName('gas'));
    await thiefAdds(g1, stolen, 'gas');
    await pause();
    const stolenAt = new Date();
    await pause();
    const registry = stack.keys.registry!;
    await expect(thiefAdds(stolen, registry, 'gas')).rejects.toThrow(
      `key id ${registry.keyId} is registered for registry`,
    );
    const { alsoRevoked } = await revokeAgencyKey(stack.pool, append, {
      keyId: stolen.keyId,
      signingKey: g1,
      revokedAt: stolenAt,
    });
    // Gas's own revocation of the id is logged (verifiers disown what it names for gas)...
    expect(alsoRevoked.map((r) => r.keyId)).toEqual([registry.keyId]);
    // ...and the registry's key is not revoked: it signs on.
    const { rowCount } = await stack.pool.query(
      'SELECT 1 FROM agency_key_revocations WHERE key_id = $1',
      [registry.keyId],
    );
    expect(rowCount).toBe(0);
    expect((await append(statement('registry', registry))).created).toBe(true);
    await expect(append(statement('gas', stolen))).rejects.toThrow(/revoked at/);
  });

  // The agency's natural answer to a theft, a rotation made with the stolen key, gives a key
  // the revocation disowns too: verifiers would disown its revocation with it.
  it('refuses, writing nothing, to revoke with a key the stolen one added after the theft', async () => {
    const g1 = stack.keys.gas!;
    const rotated = generateSigningKey(agencyKeyName('gas'));
    const stolenAt = new Date();
    await pause();
    await thiefAdds(g1, rotated, 'gas');
    const size = await ledgerSize();
    const refused = await revokeBackTo(g1.keyId, rotated, 'gas-rotated-after-theft.key', stolenAt);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `${rotated.keyId} was added by ${g1.keyId} after ${stolenAt.toISOString()}, so verifiers disown it with ${g1.keyId}`,
    );
    expect(await ledgerSize()).toBe(size);
    expect((await append(statement('gas', g1))).created).toBe(true);
  });
});
