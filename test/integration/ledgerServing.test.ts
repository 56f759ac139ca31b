import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../ledger/bytes.ts';
import { openCheckpoint, signCheckpoint } from '../../ledger/checkpoint.ts';
import { cosignerKeyOf, openWitnessedCheckpoint } from '../../ledger/cosignature.ts';
import { formatVerifierKey, generateSigningKey, parseVerifierKey } from '../../ledger/keys.ts';
import {
  consistencyProof,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from '../../ledger/proof.ts';
import { hashLeaf } from '../../ledger/rfc9162.ts';
import { decodeEntryBundle, decodeTile } from '../../ledger/tiles.ts';
import { formatAddCheckpoint } from '../../ledger/witness.ts';
import { addCheckpoint } from '../../ledger/pg/witnessStore.ts';
import { startStack, TEST_LOG_ORIGIN, type Stack, appendStatements } from './stack.ts';

let stack: Stack;
let logKeys: ReturnType<typeof parseVerifierKey>[];

const appendMany = (n: number) => appendStatements(stack, n, 'registry', 'checkTitle');

async function get(url: string) {
  return stack.app.inject({ method: 'GET', url });
}

beforeAll(async () => {
  stack = await startStack([]);
  logKeys = [parseVerifierKey(formatVerifierKey(stack.logKey.name, stack.logKey.publicKey))];
  await appendMany(300);
});
afterAll(async () => {
  await stack?.stop();
});

describe('serving the ledger as a C2SP tlog', () => {
  it('publishes a checkpoint signed by the log and cosigned by at least two of three witnesses', async () => {
    const response = await get('/ledger/checkpoint');
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-cache');
    const opened = openWitnessedCheckpoint(response.body, TEST_LOG_ORIGIN, logKeys, {
      witnesses: stack.witnessKeys.map(cosignerKeyOf),
      threshold: 2,
    });
    expect(opened.checkpoint.size).toBeGreaterThanOrEqual(300);
    expect(opened.cosignatures.length).toBeGreaterThanOrEqual(2);
  });

  it('proves every sampled entry included under the checkpoint the proof names', async () => {
    for (const index of [0, 1, 127, 255, 256, 299]) {
      const response = await get(`/ledger/proof/inclusion?index=${index}`);
      expect(response.statusCode).toBe(200);
      const proof = response.json<{
        index: number;
        size: number;
        leafHash: string;
        inclusionProof: string[];
        checkpoint: string;
      }>();
      const { checkpoint } = openCheckpoint(proof.checkpoint, TEST_LOG_ORIGIN, logKeys);
      expect(checkpoint.size).toBe(proof.size);
      const entry = await get(`/ledger/entries/${index}`);
      const leafHash = hashLeaf(new Uint8Array(entry.rawPayload));
      expect(toBase64(leafHash)).toBe(proof.leafHash);
      expect(() =>
        verifyInclusion(
          leafHash,
          index,
          proof.size,
          proof.inclusionProof.map(fromBase64),
          checkpoint.rootHash,
        ),
      ).not.toThrow();
    }
  });

  it('proves an older checkpoint consistent with the newest', async () => {
    const before = openCheckpoint(
      (await get('/ledger/checkpoint')).body,
      TEST_LOG_ORIGIN,
      logKeys,
    ).checkpoint;
    await appendMany(20);
    const response = await get(`/ledger/proof/consistency?from=${before.size}`);
    expect(response.statusCode).toBe(200);
    const proof = response.json<{
      from: number;
      to: number;
      consistencyProof: string[];
      checkpoint: string;
    }>();
    const after = openCheckpoint(proof.checkpoint, TEST_LOG_ORIGIN, logKeys).checkpoint;
    expect(after.size).toBe(proof.to);
    expect(after.size).toBeGreaterThan(before.size);
    expect(() =>
      verifyConsistency(
        before.size,
        after.size,
        proof.consistencyProof.map(fromBase64),
        before.rootHash,
        after.rootHash,
      ),
    ).not.toThrow();
  });

  it('serves a full level-0 tile whose hashes are the leaf hashes of the first 256 entries, cached forever', async () => {
    const tile = await get('/ledger/tile/0/000');
    expect(tile.statusCode).toBe(200);
    expect(tile.headers['cache-control']).toContain('immutable');
    const hashes = decodeTile(new Uint8Array(tile.rawPayload));
    const bundle = await get('/ledger/tile/entries/000');
    const entries = decodeEntryBundle(new Uint8Array(bundle.rawPayload), 256);
    expect(entries).toHaveLength(256);
    entries.forEach((entry, i) => expect(toBase64(hashLeaf(entry))).toBe(toBase64(hashes[i]!)));
  });

  it('serves a partial tile with its width and a short cache lifetime', async () => {
    const response = await get('/ledger/tile/0/001.p/10');
    expect(response.statusCode).toBe(200);
    expect(response.rawPayload.length).toBe(10 * 32);
    expect(response.headers['cache-control']).toBe('public, max-age=5');
  });

  it.each([
    ['/ledger/proof/inclusion?index=-1', 'index'],
    ['/ledger/proof/inclusion?index=abc', 'index'],
    ['/ledger/proof/inclusion?index=1&bogus=2', 'bogus'],
    ['/ledger/proof/consistency?from=0', 'from'],
    ['/ledger/entries/01', 'index'],
    ['/ledger/tile/0/1', 'path'],
  ])('answers the malformed request %s with HTTP 400 naming the field', async (url, field) => {
    const response = await get(url);
    expect(response.statusCode).toBe(400);
    expect(response.json<{ field: string }>().field).toBe(field);
  });

  it('answers a tile or entry beyond the log with HTTP 404', async () => {
    expect((await get('/ledger/tile/0/999')).statusCode).toBe(404);
    expect((await get('/ledger/entries/999999')).statusCode).toBe(404);
    // No batch ever ended at this size, so the log signed no checkpoint of it.
    expect((await get('/ledger/proof/inclusion?index=0&size=987654321')).statusCode).toBe(404);
  });
});

describe('an agency witness (C2SP tlog-witness)', () => {
  async function post(witness: number, body: string) {
    const response = await fetch(`${stack.witnessUrls[witness]}/add-checkpoint`, {
      method: 'POST',
      body,
    });
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      text: await response.text(),
    };
  }

  it.each([
    ['no old size line', 'hello\n\nx\n'],
    ['an old size with leading zeros', 'old 007\n\norigin\n1\nAAAA\n'],
    ['a proof line that is not a hash', 'old 5\nnot-base64!\n\norigin\n'],
    ['no empty line before the checkpoint', 'old 0\n'],
  ])('answers a malformed add-checkpoint request (%s) with 400', async (_, body) => {
    const answer = await post(2, body);
    expect(answer.status).toBe(400);
    expect(answer.text.length).toBeGreaterThan(0);
  });

  it('answers a stale old size with 409 and its current size', async () => {
    const note = (await get('/ledger/checkpoint')).body;
    const answer = await post(0, formatAddCheckpoint(1, [], note));
    expect(answer.status).toBe(409);
    expect(answer.type).toBe('text/x.tlog.size');
    expect(Number(answer.text.trim())).toBeGreaterThan(1);
  });

  it('refuses a checkpoint not signed by the log with 403 and one of an unknown log with 404', async () => {
    const note = (await get('/ledger/checkpoint')).body;
    const forged = note.replace(/\n\d+\n/, '\n5\n');
    expect((await post(0, formatAddCheckpoint(0, [], forged))).status).toBe(403);
    expect(
      (await post(0, formatAddCheckpoint(0, [], note.replace(TEST_LOG_ORIGIN, 'other.log/x'))))
        .status,
    ).toBe(404);
  });

  it('refuses a checkpoint whose consistency proof does not verify with 422, and records the alarm once however often it is sent', async () => {
    const state = await stack.pool.query<{ size: string }>(
      'SELECT max(size) AS size FROM witness_checkpoints WHERE witness = $1',
      [stack.witnessKeys[0]!.name],
    );
    const witnessSize = Number(state.rows[0]!.size);
    // A log that rewrote history: a signed checkpoint further on whose root no proof can reach.
    const rewritten = signCheckpoint(
      {
        origin: TEST_LOG_ORIGIN,
        size: witnessSize + 5,
        rootHash: new Uint8Array(32).fill(7),
        extensions: [],
      },
      stack.logKey,
    );
    const proof = [1, 2, 3].map((n) => toBase64(new Uint8Array(32).fill(n)));
    for (let i = 0; i < 3; i++) {
      const answer = await post(0, formatAddCheckpoint(witnessSize, proof, rewritten));
      expect(answer.status).toBe(422);
    }
    const alarms = await stack.pool.query<{ reason: string }>(
      'SELECT reason FROM witness_alarms WHERE witness = $1 AND reason LIKE $2',
      [stack.witnessKeys[0]!.name, `%to the checkpoint of size ${witnessSize + 5} and root %`],
    );
    expect(alarms.rows.map((r) => r.reason)).toEqual([
      `no consistency proof sent from cosigned size ${witnessSize} to the checkpoint of size ${witnessSize + 5} and root ${toBase64(new Uint8Array(32).fill(7))} verified: a fork of the log, or a bad proof from whoever sent it`,
    ]);
  });

  it('refuses a second, different checkpoint of the size it cosigned, as a split view', async () => {
    const state = await stack.pool.query<{ size: string }>(
      'SELECT max(size) AS size FROM witness_checkpoints WHERE witness = $1',
      [stack.witnessKeys[1]!.name],
    );
    const size = Number(state.rows[0]!.size);
    const fork = signCheckpoint(
      { origin: TEST_LOG_ORIGIN, size, rootHash: new Uint8Array(32).fill(1), extensions: [] },
      stack.logKey,
    );
    const answer = await post(1, formatAddCheckpoint(size, [], fork));
    expect(answer.status).toBe(409);
    const alarms = await stack.pool.query('SELECT reason FROM witness_alarms WHERE witness = $1', [
      stack.witnessKeys[1]!.name,
    ]);
    expect(alarms.rows.map((r: { reason: string }) => r.reason).join('\n')).toMatch(/split view/);
  });

  it("keeps its state append-only and its own: the application role can neither change nor delete it, and a row without the witness's cosignature is ignored and reported", async () => {
    const witness = stack.witnessKeys[2]!.name;
    const note = (await get('/ledger/checkpoint')).body;
    // Cosigned by witness 2 at the log's current size, from wherever it stood.
    const first = await post(2, formatAddCheckpoint(0, [], note));
    const held = first.status === 409 ? Number(first.text.trim()) : 0;
    const current = openCheckpoint(note, TEST_LOG_ORIGIN, logKeys).checkpoint;
    if (held !== current.size) {
      const proof = await get(`/ledger/proof/consistency?from=${held}&to=${current.size}`);
      const lines = held === 0 ? [] : proof.json<{ consistencyProof: string[] }>().consistencyProof;
      expect((await post(2, formatAddCheckpoint(held, lines, note))).status).toBe(200);
    }
    for (const sql of [
      'UPDATE witness_checkpoints SET size = 1 WHERE witness = $1',
      'DELETE FROM witness_checkpoints WHERE witness = $1',
      'UPDATE witness_state SET size = 1 WHERE witness = $1',
    ])
      await expect(stack.pool.query(sql, [witness]), sql).rejects.toThrow(/permission denied/);
    await expect(
      stack.pool.query(
        `INSERT INTO witness_checkpoints (witness, origin, size, root_hash, migrated)
         VALUES ($1, $2, $3, $4, true)`,
        [witness, TEST_LOG_ORIGIN, current.size + 100, Buffer.alloc(32, 9)],
      ),
    ).rejects.toThrow(/permission denied/);
    // The log's own role inserts a larger state with a root of its choosing: a fork to come.
    await stack.pool.query(
      `INSERT INTO witness_checkpoints (witness, public_key, origin, size, root_hash, checkpoint_body, cosignature)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        witness,
        Buffer.from(stack.witnessKeys[2]!.publicKey),
        TEST_LOG_ORIGIN,
        current.size + 100,
        Buffer.alloc(32, 9),
        'forged\n',
        'forged',
      ],
    );
    const fork = signCheckpoint(
      {
        origin: TEST_LOG_ORIGIN,
        size: current.size + 101,
        rootHash: new Uint8Array(32).fill(8),
        extensions: [],
      },
      stack.logKey,
    );
    const answer = await post(2, formatAddCheckpoint(current.size + 100, [], fork));
    expect(answer.status).toBe(409);
    expect(Number(answer.text.trim())).toBe(current.size);
    const alarms = await stack.pool.query<{ reason: string }>(
      'SELECT reason FROM witness_alarms WHERE witness = $1',
      [witness],
    );
    expect(alarms.rows.map((r) => r.reason)).toContain(
      `stored state of size ${current.size + 100} does not carry this witness's cosignature: ignored`,
    );
  });

  it("cosigns no second root at a size where the log's role wrote a row first, and reports each row it ignores once", async () => {
    // A log of its own, checked through the witness store directly: sizes of our choosing.
    const origin = 'split.test/log';
    const logKey = generateSigningKey(origin);
    const witnessKey = generateSigningKey('split.test/witness');
    const config = {
      key: witnessKey,
      logs: new Map([[origin, [parseVerifierKey(formatVerifierKey(origin, logKey.publicKey))]]]),
    };
    const leafOf = (n: number) => hashLeaf(new Uint8Array([n]));
    const honest = [1, 2, 3].map(leafOf);
    const forked = [1, 2, 9].map(leafOf);
    const noteOf = (leaves: Uint8Array[], size: number) =>
      signCheckpoint(
        { origin, size, rootHash: rootFromLeafHashes(leaves.slice(0, size)), extensions: [] },
        logKey,
      );
    const proofOf = (leaves: Uint8Array[], from: number, to: number) =>
      consistencyProof(from, to, (ids) =>
        ids.map((id) =>
          rootFromLeafHashes(
            leaves.slice(id.index * 2 ** id.level, (id.index + 1) * 2 ** id.level),
          ),
        ),
      ).map(toBase64);
    const add = (old: number, proof: string[], note: string) =>
      addCheckpoint(stack.pool, config, formatAddCheckpoint(old, proof, note));
    const forge = (size: number, underKey = witnessKey.publicKey) =>
      stack.pool.query(
        `INSERT INTO witness_checkpoints (witness, public_key, origin, size, root_hash, checkpoint_body, cosignature)
         VALUES ($1, $2, $3, $4, $5, 'forged\n', 'forged')`,
        [witnessKey.name, Buffer.from(underKey), origin, size, Buffer.alloc(32, 7)],
      );

    expect((await add(0, [], noteOf(honest, 2))).status).toBe(200);
    // The log's role writes a row at the next size before the witness cosigns it.
    await forge(3);
    expect((await add(2, proofOf(honest, 2, 3), noteOf(honest, 3))).status).toBe(200);
    // Its own row stands beside the other: a fork of size 3 from the old size is refused.
    expect(await add(2, proofOf(forked, 2, 3), noteOf(forked, 3))).toMatchObject({
      status: 409,
      body: '3\n',
      alarm: 'two different checkpoints of size 3: a split view of the log',
    });
    // A row far ahead is read past on every request, and reported once.
    await forge(100);
    for (let i = 0; i < 2; i++) expect((await add(3, [], noteOf(honest, 3))).status).toBe(200);
    const alarms = await stack.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM witness_alarms WHERE witness = $1 AND reason = $2',
      [
        witnessKey.name,
        "stored state of size 100 does not carry this witness's cosignature: ignored",
      ],
    );
    expect(Number(alarms.rows[0]!.n)).toBe(1);
    // A row under another key of the witness's name (an earlier key, before a rotation) is not
    // this key's state, nor a forgery of it: not read, not reported.
    await forge(500, generateSigningKey('split.test/witness').publicKey);
    expect((await add(3, [], noteOf(honest, 3))).status).toBe(200);
    const other = await stack.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM witness_alarms WHERE witness = $1 AND reason LIKE $2',
      [witnessKey.name, 'stored state of size 500 %'],
    );
    expect(Number(other.rows[0]!.n)).toBe(0);
  });
});
