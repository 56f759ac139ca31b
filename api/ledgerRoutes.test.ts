// The public ledger routes against a fake PostgreSQL (no network): how counts in the query
// string are read, which field a 404 names, what an entry bundle of no rows is, and how long
// an entry or a bundle may be cached. Proofs and tiles against a real log: test/integration/ledgerServing.test.ts.
import { createHash } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../ledger/bytes.ts';
import type { LogReader } from '../ledger/pg/logReader.ts';
import { encodeEntryBundle } from '../ledger/tiles.ts';
import { buildApp, type AppDeps } from './app.ts';
import { UnauthorizedError } from './auth.ts';
import { registerErrorHandler } from './errors.ts';
import { registerLedgerRoutes } from './ledgerRoutes.ts';

/** The log signed one checkpoint, of size 4 (published); entries 4 and 5 are not under it yet. */
const SIGNED_SIZE = 4;
const STORED_ENTRIES = 6;
const leaf = createHash('sha256')
  .update(Buffer.from([0]))
  .digest();
/** RFC 9162 §2.1.1: a node over two children. */
const node = (left: Buffer, right: Buffer) =>
  createHash('sha256')
    .update(Buffer.concat([Buffer.from([1]), left, right]))
    .digest();
// Every entry has the same leaf hash: each level-1 node and the signed root of 4 follow from it,
// so the proofs the reader builds (and checks before serving) lead to the root.
const pair = node(leaf, leaf);
const ROOT = node(pair, pair);

/** `publishedSize`: the largest checkpoint the witnesses cosigned (0: none yet). */
function fakeLedger(publishedSize = SIGNED_SIZE) {
  const query = (config: string | { text: string; values?: unknown[] }, params?: unknown[]) => {
    const text = typeof config === 'string' ? config : config.text;
    const values = (typeof config === 'string' ? params : (config.values ?? params)) ?? [];
    const answer = (rows: unknown[]) => Promise.resolve({ rows });
    if (/FROM published_checkpoints p JOIN/.test(text))
      return answer([{ size: String(SIGNED_SIZE), root_hash: ROOT, note: 'note\n' }]);
    if (/FROM checkpoints c\s+LEFT JOIN/.test(text))
      return answer(
        values[0] === SIGNED_SIZE
          ? [{ size: String(SIGNED_SIZE), root_hash: ROOT, note: 'n', published: 'n' }]
          : [],
      );
    if (/max\(size\) AS size FROM published_checkpoints/.test(text))
      return answer([{ size: publishedSize === 0 ? null : String(publishedSize) }]);
    if (/max\(size\)/.test(text)) return answer([{ size: String(SIGNED_SIZE) }]);
    if (/string_agg\(leaf_hash/.test(text)) {
      const n = (values[1] as number) - (values[0] as number);
      return answer([{ hashes: Buffer.concat(Array<Buffer>(n).fill(leaf)), n }]);
    }
    if (/leaf_hash AS hash/.test(text))
      return answer((values[0] as number[]).map((i) => ({ idx: String(i), hash: leaf })));
    if (/FROM tree_nodes n/.test(text))
      return answer(
        (values[0] as number[]).map((level, k) => ({
          level,
          idx: String((values[1] as number[])[k]),
          hash: level === 1 ? pair : ROOT,
        })),
      );
    if (/FROM ledger_entries WHERE idx = \$1/.test(text))
      return answer((values[0] as number) < STORED_ENTRIES ? [{ entry: Buffer.from('{}') }] : []);
    // An entry bundle the checkpoint covers but whose rows are missing (a damaged store).
    if (/string_agg\(substring/.test(text)) return answer([{ bundle: null, longest: null }]);
    throw new Error(`unexpected query: ${text}`);
  };
  return { query };
}

const appOn = (
  pool: ReturnType<typeof fakeLedger>,
  options: Pick<AppDeps, 'publicRateLimit' | 'trustedProxies'> = {},
) =>
  buildApp({
    temporal: {} as never,
    pool: pool as never,
    verifyToken: () => Promise.reject(new UnauthorizedError('no tokens in this test')),
    recordAccess: () => Promise.reject(new Error('no access records in this test')),
    webAssets: { pages: new Map(), assets: new Map(), inputs: [] },
    ...options,
  });

let app: FastifyInstance;
beforeAll(async () => {
  app = await appOn(fakeLedger());
});
afterAll(async () => {
  await app?.close();
});

const get = (url: string) => app.inject({ method: 'GET', url });

describe('counts in the query string and the path', () => {
  it.each([
    ['empty', ''],
    ['hexadecimal', '0x3'],
    ['an exponent', '1e0'],
    ['negative zero', '-0'],
    ['a sign', '+3'],
    ['a leading zero', '03'],
    ['a fraction', '1.0'],
    ['beyond 2^53 - 1', '9007199254740992'],
  ])('an index written with %s (%j) is refused naming index', async (_what, index) => {
    const response = await get(`/ledger/proof/inclusion?index=${encodeURIComponent(index)}`);
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_request', field: 'index' });
  });

  it('an index sent twice is refused naming index', async () => {
    const response = await get('/ledger/proof/inclusion?index=1&index=2');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ field: 'index' });
  });

  it('a size of 0 is refused naming size', async () => {
    const response = await get('/ledger/proof/inclusion?index=0&size=0');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ field: 'size', reason: 'must be positive' });
  });

  it.each(['0', '3'])('index %s in plain decimal is read as written', async (index) => {
    const response = await get(`/ledger/proof/inclusion?index=${index}&size=4`);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ index: Number(index), size: SIGNED_SIZE });
  });

  it.each(['03', '9007199254740992'])('an entry index %s in the path is refused', async (index) => {
    const response = await get(`/ledger/entries/${index}`);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ field: 'index' });
  });
});

describe('what the log does not have is a 404 naming the field', () => {
  it.each([
    ['/ledger/proof/inclusion?index=0&size=7', 'size'],
    ['/ledger/proof/consistency?from=2&to=4', 'from'],
    ['/ledger/proof/consistency?from=4&to=7', 'to'],
    ['/ledger/proof/consistency?from=2', 'from'],
    ['/ledger/entries/9', 'index'],
    ['/ledger/tile/0/001', 'path'],
  ])('%s names %s', async (url, field) => {
    const response = await get(url);
    expect(response.statusCode, response.body).toBe(404);
    expect(response.json()).toMatchObject({ error: 'not_found', field });
  });
});

describe('a log with no published checkpoint yet', () => {
  it('answers GET /ledger/checkpoint with 404 naming url', async () => {
    const ledger = fakeLedger(0);
    const unpublished = await appOn({
      query: (config: string | { text: string }, params?: unknown[]) =>
        /FROM published_checkpoints p JOIN/.test(typeof config === 'string' ? config : config.text)
          ? Promise.resolve({ rows: [] })
          : ledger.query(config, params),
    });
    try {
      const response = await unpublished.inject({ method: 'GET', url: '/ledger/checkpoint' });
      expect(response.statusCode, response.body).toBe(404);
      expect(response.json()).toEqual({
        error: 'not_found',
        field: 'url',
        reason: 'the log has no published checkpoint yet',
      });
    } finally {
      await unpublished.close();
    }
  });
});

describe('entries and entry bundles', () => {
  it('a bundle a checkpoint covers but whose rows are missing is served empty, for a verifier to report', async () => {
    const response = await get('/ledger/tile/entries/000.p/4');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.rawPayload).toHaveLength(0);
  });

  it('an entry a published checkpoint covers may be cached for good', async () => {
    const response = await get('/ledger/entries/3');
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('an entry no signed checkpoint covers yet is cached only briefly', async () => {
    const response = await get('/ledger/entries/5');
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('public, max-age=5');
  });

  it('an entry the log signed but no witness cosigned yet is cached only briefly: a restore could still replace it', async () => {
    const unwitnessed = await appOn(fakeLedger(0));
    try {
      const response = await unwitnessed.inject({ method: 'GET', url: '/ledger/entries/3' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['cache-control']).toBe('public, max-age=5');
    } finally {
      await unwitnessed.close();
    }
  });
});

describe('clients behind a trusted proxy', () => {
  it('are each counted by the address the proxy names, not as the proxy; a header from elsewhere is not believed', async () => {
    const limitedBehind = (trustedProxies?: string[]) =>
      appOn(fakeLedger(), { publicRateLimit: 1, ...(trustedProxies ? { trustedProxies } : {}) });
    const url = '/ledger/proof/inclusion?index=0&size=4';
    // app.inject comes from 127.0.0.1, as a proxy on the same host would.
    const from = (app: FastifyInstance, client: string) =>
      app
        .inject({ method: 'GET', url, headers: { 'x-forwarded-for': client } })
        .then((r) => r.statusCode);
    const behindProxy = await limitedBehind(['127.0.0.0/8']);
    const direct = await limitedBehind();
    try {
      expect(await from(behindProxy, '203.0.113.1')).toBe(200);
      expect(await from(behindProxy, '203.0.113.2')).toBe(200);
      expect(await from(behindProxy, '203.0.113.1')).toBe(429);
      // Not a trusted proxy: the header is the client's word, and one bucket is the sender's.
      expect(await from(direct, '203.0.113.1')).toBe(200);
      expect(await from(direct, '203.0.113.2')).toBe(429);
    } finally {
      await behindProxy.close();
      await direct.close();
    }
  });
});

describe('a client over the public routes’ rate limit', () => {
  it('is refused with a 429 naming the request and when to retry, and served again later', async () => {
    const limited = await appOn(fakeLedger(), { publicRateLimit: 1 });
    try {
      const url = '/ledger/proof/inclusion?index=0&size=4';
      expect((await limited.inject({ method: 'GET', url })).statusCode).toBe(200);
      const refused = await limited.inject({ method: 'GET', url });
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['retry-after']).toMatch(/^\d+$/);
      const body = refused.json<{ error: string; field: string; reason: string }>();
      expect(Object.keys(body).sort()).toEqual(['error', 'field', 'reason']);
      expect(body).toMatchObject({ error: 'rate_limited', field: 'request' });
      expect(body.reason).toMatch(
        /^too many requests from this address: at most 1 a minute; retry in \d+ s$/,
      );
    } finally {
      await limited.close();
    }
  });
});

/**
 * The tile route over a fake reader whose store holds `stored` of the 256 entries of bundle 0,
 * a full bundle a published checkpoint covers (rows lost in a bad restore when fewer).
 */
async function bundleRouteOver(stored: number) {
  const reader = {
    // As the reader answers for no rows at all: an empty body (the encoder takes 1..256).
    entryBundle: () =>
      Promise.resolve(
        stored === 0
          ? new Uint8Array(0)
          : encodeEntryBundle(Array.from({ length: stored }, () => utf8('{}'))),
      ),
    publishedCovers: () => Promise.resolve(true),
  };
  const bare = Fastify().withTypeProvider<ZodTypeProvider>();
  bare.setValidatorCompiler(validatorCompiler);
  bare.setSerializerCompiler(serializerCompiler);
  registerErrorHandler(bare);
  registerLedgerRoutes(bare, reader as unknown as LogReader);
  const response = await bare.inject({ method: 'GET', url: '/ledger/tile/entries/000' });
  await bare.close();
  return response;
}

describe('a full entry bundle a published checkpoint covers', () => {
  it('may be cached for good when it holds all 256 entries', async () => {
    const response = await bundleRouteOver(256);
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('is served as it is when rows are missing, for a verifier to report the gap, but never cached', async () => {
    const response = await bundleRouteOver(255);
    expect(response.statusCode).toBe(200);
    expect(response.rawPayload).toHaveLength(255 * 4);
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('is not cached either when all its rows are missing', async () => {
    const response = await bundleRouteOver(0);
    expect(response.rawPayload).toHaveLength(0);
    expect(response.headers['cache-control']).toBe('no-store');
  });
});
