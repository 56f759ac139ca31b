// The ledger's public read API: C2SP tlog-tiles paths, so standard tlog clients can read
// and verify the log, and convenience JSON for entries and proofs. Every proof carries the
// checkpoint it is bound to.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { TrustFile } from '../ledger/trust.ts';
import { z } from 'zod';
import { NotFoundError } from '../domain/errors.ts';
import {
  decodeEntryBundle,
  leavesUnder,
  MalformedTilePathError,
  parseTilePath,
  TILE_WIDTH,
} from '../ledger/tiles.ts';
import { BadProofRequestError, NotInLogError, type LogReader } from '../ledger/pg/logReader.ts';
import { RequestValidationError } from './errors.ts';

/**
 * A count or index as a query string writes it: decimal digits, no sign, no leading zeros
 * (only "0" itself starts with 0), at most 2^53 - 1. Not Number(): it reads "" as 0 and
 * takes "0x3", "1e2" and "-0".
 */
const Count = z
  .string({ error: 'must be a whole number' })
  .regex(/^(0|[1-9][0-9]*)$/, 'must be a whole number in decimal digits, without leading zeros')
  .transform(Number)
  .refine(Number.isSafeInteger, 'is too large (at most 2^53 - 1)');
const positive = (n: number) => n > 0;
const InclusionQuery = z
  .object({ index: Count, size: Count.refine(positive, 'must be positive').optional() })
  .strict();
const ConsistencyQuery = z
  .object({
    from: Count.refine(positive, 'must be positive'),
    to: Count.refine(positive, 'must be positive').optional(),
  })
  .strict();
const EntryParams = z.object({ index: Count });

/**
 * Full tiles never change (tlog-tiles) once a published checkpoint covers them: cached for
 * good then; partial ones, and any the witnesses have not seen yet, briefly; an entry bundle
 * short of entries (rows lost in a bad restore) not at all, or the damage would be cached for
 * good too.
 */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const SHORT = 'public, max-age=5';
const NO_STORE = 'no-store';

/** Runs `work`; a size, index or tile the log does not have is a 404 naming the parameter. */
async function mapLedgerErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof NotInLogError) throw new NotFoundError(error.message, error.field);
    if (error instanceof BadProofRequestError)
      throw new RequestValidationError([{ field: error.field, reason: error.message }]);
    throw error;
  }
}

/** Public routes: anyone may read and verify the log, within a per-address rate limit. */
const PUBLIC = { rateLimit: {} };

export function registerLedgerRoutes(
  parent: FastifyInstance,
  reader: LogReader,
  trust?: TrustFile | (() => Promise<TrustFile>),
): void {
  const app = parent.withTypeProvider<ZodTypeProvider>();

  if (trust) {
    // What the pages verify against. A careful verifier compares it with keys it got out of
    // band; the pages show which keys they used.
    app.get(
      '/ledger/trust',
      {
        config: PUBLIC,
        schema: {
          summary: 'The log, witness and agency keys',
          tags: ['ledger'],
          response: { 200: TrustFile },
        },
      },
      async (_request, reply) =>
        reply
          .header('cache-control', 'no-cache')
          .send(typeof trust === 'function' ? await trust() : trust),
    );
  }

  app.get(
    '/ledger/checkpoint',
    {
      config: PUBLIC,
      schema: { summary: 'The latest published checkpoint (C2SP signed note)', tags: ['ledger'] },
    },
    async (_request, reply) => {
      const latest = await reader.latestPublished();
      if (!latest) throw new NotFoundError('the log has no published checkpoint yet', 'url');
      return reply
        .header('cache-control', 'no-cache')
        .type('text/plain; charset=utf-8')
        .send(latest.note);
    },
  );

  app.get(
    '/ledger/tile/*',
    {
      config: PUBLIC,
      schema: { summary: 'C2SP tlog-tiles: hash and entry tiles', tags: ['ledger'] },
    },
    async (request, reply: FastifyReply) => {
      const path = `tile/${(request.params as { '*': string })['*']}`;
      let parsed: ReturnType<typeof parseTilePath>;
      try {
        parsed = parseTilePath(path);
      } catch (error) {
        if (error instanceof MalformedTilePathError)
          throw new RequestValidationError([{ field: 'path', reason: error.message }]);
        throw error;
      }
      const bytes = await mapLedgerErrors(() =>
        parsed.kind === 'entries'
          ? reader.entryBundle(parsed.index, parsed.width)
          : reader.tile(parsed.level, parsed.index, parsed.width),
      );
      // A short bundle is still served, as it is: where the gap lies is the verifier's finding
      // (ledger/tlogClient.ts). A hash tile is never short: its reader throws instead.
      const short = parsed.kind === 'entries' && decodeEntryBundle(bytes).length < parsed.width;
      const settled =
        parsed.width === TILE_WIDTH && (await reader.publishedCovers(leavesUnder(parsed)));
      return reply
        .header('cache-control', short ? NO_STORE : settled ? IMMUTABLE : SHORT)
        .type('application/octet-stream')
        .send(Buffer.from(bytes));
    },
  );

  app.get(
    '/ledger/entries/:index',
    {
      config: PUBLIC,
      schema: {
        summary: 'One entry, as its RFC 8785 bytes',
        tags: ['ledger'],
        params: EntryParams,
      },
    },
    async (request, reply) => {
      const { index } = request.params;
      const bytes = await mapLedgerErrors(() => reader.entry(index));
      // Only an entry a published (witnessed) checkpoint covers can never change.
      return reply
        .header('cache-control', (await reader.publishedCovers(index + 1)) ? IMMUTABLE : SHORT)
        .type('application/json')
        .send(Buffer.from(bytes));
    },
  );

  app.get(
    '/ledger/proof/inclusion',
    {
      config: PUBLIC,
      schema: {
        summary: 'RFC 9162 inclusion proof, bound to a checkpoint',
        tags: ['ledger'],
        querystring: InclusionQuery,
      },
    },
    async (request) => {
      const { index, size } = request.query;
      return mapLedgerErrors(() => reader.inclusion(index, size));
    },
  );

  app.get(
    '/ledger/proof/consistency',
    {
      config: PUBLIC,
      schema: {
        summary: 'RFC 9162 consistency proof, bound to a checkpoint',
        tags: ['ledger'],
        querystring: ConsistencyQuery,
      },
    },
    async (request) => {
      const { from, to } = request.query;
      return mapLedgerErrors(() => reader.consistency(from, to));
    },
  );
}
