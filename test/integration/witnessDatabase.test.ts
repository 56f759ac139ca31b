// An agency's witness keeping its state in a database of its own
// (ONEWINDOW_WITNESS_DATABASE_URL), out of reach of the log's operator, who owns the log's.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureKeyFile, witnessKeyName } from '../../cli/keys.ts';
import { toBase64 } from '../../ledger/bytes.ts';
import { signCheckpoint } from '../../ledger/checkpoint.ts';
import { formatVerifierKey, generateSigningKey, parseVerifierKey } from '../../ledger/keys.ts';
import { consistencyProof, rootFromLeafHashes } from '../../ledger/proof.ts';
import { hashLeaf } from '../../ledger/rfc9162.ts';
import { formatAddCheckpoint } from '../../ledger/witness.ts';
import { prepareWitnessDatabase } from '../../ledger/pg/witnessSchema.ts';
import { addCheckpoint } from '../../ledger/pg/witnessStore.ts';
import { ensureDatabase } from '../../infra/postgres.ts';

const BIN = fileURLToPath(new URL('../../bin/onewindow.mjs', import.meta.url));
const origin = 'own-database.test/log';
const logKey = generateSigningKey(origin);
const name = `witness_own_${process.pid}`;
let ownUrl: string;
let own: pg.Pool;
let logDatabase: pg.Pool;
const children: ChildProcess[] = [];

beforeAll(async () => {
  ownUrl = await ensureDatabase(inject('adminDatabaseUrl'), name);
  own = new pg.Pool({ connectionString: ownUrl, max: 2 });
  // A pool's end() resolves before its clients' connections have closed, and the DROP … WITH
  // (FORCE) in afterAll may cut one still closing: an unhandled FATAL 57P01 failed a CI run.
  own.on('error', () => undefined);
  own.on('connect', (client) => client.on('error', () => undefined));
  logDatabase = new pg.Pool({ connectionString: inject('adminDatabaseUrl'), max: 1 });
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) await stop(child);
  await own?.end();
  await logDatabase?.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await logDatabase?.end();
});

const leaves = [1, 2, 3, 4].map((n) => hashLeaf(new Uint8Array([n])));
const forked = [1, 2, 3, 9].map((n) => hashLeaf(new Uint8Array([n])));
const noteOf = (of: Uint8Array[], size: number) =>
  signCheckpoint(
    { origin, size, rootHash: rootFromLeafHashes(of.slice(0, size)), extensions: [] },
    logKey,
  );
const proofOf = (of: Uint8Array[], from: number, to: number) =>
  consistencyProof(from, to, (ids) =>
    ids.map((id) =>
      rootFromLeafHashes(of.slice(id.index * 2 ** id.level, (id.index + 1) * 2 ** id.level)),
    ),
  ).map(toBase64);

async function columnsOf(pool: pg.Pool, table: string): Promise<Record<string, string>[]> {
  const { rows } = await pool.query<Record<string, string>>(
    `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = $1 ORDER BY column_name`,
    [table],
  );
  return rows;
}

/** `onewindow witness --agency water` with only its own database; resolves with its URL. */
async function startWitness(keyFile: string): Promise<{ url: string; said: string }> {
  const child = spawn(
    process.execPath,
    [BIN, 'witness', '--agency', 'water', '--key', keyFile, '--port', '0'],
    {
      // No DATABASE_URL: this witness never connects to the log's database.
      env: {
        PATH: process.env.PATH,
        ONEWINDOW_WITNESS_DATABASE_URL: ownUrl,
        ONEWINDOW_LOG_ORIGIN: origin,
        ONEWINDOW_LOG_PUBLIC_KEY: formatVerifierKey(origin, logKey.publicKey),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.push(child);
  return new Promise<{ url: string; said: string }>((resolve, reject) => {
    let said = '';
    child.stderr.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      const url = / witness at (http:\/\/\S+) /.exec(said)?.[1];
      if (url) resolve({ url, said });
    });
    child.once('exit', (code) => reject(new Error(`the witness exited with ${code}: ${said}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

describe('a witness with a database of its own', () => {
  it('creates there only its two tables, append-only, with the columns the log database gives them', async () => {
    expect(await prepareWitnessDatabase(own)).toBe(true);
    // Every start prepares it: the second finds the tables and changes nothing.
    expect(await prepareWitnessDatabase(own)).toBe(false);
    const tables = await own.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual(['witness_alarms', 'witness_checkpoints']);
    for (const table of ['witness_checkpoints', 'witness_alarms'])
      expect(await columnsOf(own, table), table).toEqual(await columnsOf(logDatabase, table));
    // Even its owner changes nothing there without dropping the triggers first.
    await own.query(
      `INSERT INTO witness_alarms (witness, origin, reason, request) VALUES ('w', 'o', 'r', 'q')`,
    );
    for (const sql of [
      'UPDATE witness_alarms SET reason = $1',
      'DELETE FROM witness_alarms WHERE reason <> $1',
    ])
      await expect(own.query(sql, ['x']), sql).rejects.toThrow(/append-only/);
    await expect(own.query('TRUNCATE witness_checkpoints')).rejects.toThrow(/append-only/);
  });

  it("runs without the log's database, cosigns, and keeps its state there across a restart", async () => {
    const keyFile = join(mkdtempSync(join(tmpdir(), 'onewindow-witness-')), 'water.witness.key');
    const key = ensureKeyFile(keyFile, witnessKeyName('water'));
    const add = async (url: string, old: number, proof: string[], note: string) => {
      const response = await fetch(`${url}/add-checkpoint`, {
        method: 'POST',
        body: formatAddCheckpoint(old, proof, note),
      });
      return { status: response.status, body: await response.text() };
    };

    const first = await startWitness(keyFile);
    expect(first.said).toContain('its state in a database of its own');
    const cosigned = await add(first.url, 0, [], noteOf(leaves, 2));
    expect(cosigned.status).toBe(200);
    expect(cosigned.body).toMatch(/^— water\.witness\.onewindow /);
    await stop(children.at(-1)!);

    const second = await startWitness(keyFile);
    // It remembers size 2: a request from size 0 is stale.
    expect(await add(second.url, 0, [], noteOf(leaves, 3))).toEqual({ status: 409, body: '2\n' });
    expect((await add(second.url, 2, proofOf(leaves, 2, 4), noteOf(leaves, 4))).status).toBe(200);
    // A second root at size 4 is a split view: refused, and the alarm kept in its database.
    expect(await add(second.url, 2, proofOf(forked, 2, 4), noteOf(forked, 4))).toEqual({
      status: 409,
      body: '4\n',
    });

    const rows = await own.query<{ size: string }>(
      'SELECT size FROM witness_checkpoints WHERE witness = $1 ORDER BY size',
      [key.name],
    );
    expect(rows.rows.map((r) => Number(r.size))).toEqual([2, 4]);
    const alarms = await own.query<{ reason: string }>(
      'SELECT reason FROM witness_alarms WHERE witness = $1',
      [key.name],
    );
    expect(alarms.rows.map((r) => r.reason)).toEqual([
      'two different checkpoints of size 4: a split view of the log',
    ]);
    // Nothing of it is in the log's database.
    const inLog = await logDatabase.query<{ n: string }>(
      'SELECT count(*) AS n FROM witness_checkpoints WHERE origin = $1',
      [origin],
    );
    expect(Number(inLog.rows[0]!.n)).toBe(0);
  });

  it('cosigns one of two forks of one size sent at once, even on a database whose default isolation is repeatable read', async () => {
    const strictName = `witness_rr_${process.pid}`;
    const strictUrl = await ensureDatabase(inject('adminDatabaseUrl'), strictName);
    await logDatabase.query(
      `ALTER DATABASE ${strictName} SET default_transaction_isolation = 'repeatable read'`,
    );
    const strict = new pg.Pool({ connectionString: strictUrl, max: 3 });
    strict.on('error', () => undefined);
    strict.on('connect', (client) => client.on('error', () => undefined));
    const holder = await strict.connect();
    try {
      await prepareWitnessDatabase(strict);
      const config = {
        key: generateSigningKey(witnessKeyName('water')),
        logs: new Map([[origin, [parseVerifierKey(formatVerifierKey(origin, logKey.publicKey))]]]),
      };
      const add = (old: number, proof: string[], note: string) =>
        addCheckpoint(strict, config, formatAddCheckpoint(old, proof, note));
      expect((await add(0, [], noteOf(leaves, 2))).status).toBe(200);
      // Both requests take their first statement while the lock is held elsewhere, so each
      // waits on it; the second to get it must see the first's row.
      await holder.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', [
        config.key.name,
        origin,
      ]);
      const answers = Promise.all([
        add(2, proofOf(leaves, 2, 4), noteOf(leaves, 4)),
        add(2, proofOf(forked, 2, 4), noteOf(forked, 4)),
      ]);
      for (;;) {
        const { rows } = await holder.query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        if (Number(rows[0]!.n) === 2) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await holder.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', [
        config.key.name,
        origin,
      ]);
      expect((await answers).map((a) => a.status).sort()).toEqual([200, 409]);
      const sizes = await strict.query<{ size: string }>(
        'SELECT size FROM witness_checkpoints WHERE witness = $1 ORDER BY size',
        [config.key.name],
      );
      expect(sizes.rows.map((r) => Number(r.size))).toEqual([2, 4]);
      const alarms = await strict.query<{ reason: string }>('SELECT reason FROM witness_alarms');
      expect(alarms.rows.map((r) => r.reason)).toEqual([
        'two different checkpoints of size 4: a split view of the log',
      ]);
    } finally {
      holder.release();
      await strict.end();
      await logDatabase.query(`DROP DATABASE IF EXISTS ${strictName} WITH (FORCE)`);
    }
  });
});
