// buildApp(deps) builds the HTTP API; tests call it with app.inject(), `onewindow api` listens.
// Plugins in order: third-party (security headers, rate limits, OpenAPI), ours (errors,
// authentication), then the routes. Every route's zod schemas drive its validation, its
// serialisation and its part of /openapi.json.
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type pg from 'pg';
import type { TrustFile } from '../ledger/trust.ts';
import { LogReader } from '../ledger/pg/logReader.ts';
import type { RecordAccess } from './access.ts';
import { LruMap } from '../ledger/lruMap.ts';
import {
  bearerToken,
  ForbiddenError,
  type Principal,
  type Role,
  UnauthorizedError,
  type VerifyToken,
} from './auth.ts';
import { pageTokens } from './caseList.ts';
import { registerCaseRoutes } from './caseRoutes.ts';
import { clientErrors, frameworkErrors, RateLimitedError, registerErrorHandler } from './errors.ts';
import { registerJsonBodyParser } from './jsonBody.ts';
import { registerLedgerRoutes } from './ledgerRoutes.ts';
import { registerOperationsRoutes } from './operations.ts';
import { registerWebRoutes, type WebAssets } from './webRoutes.ts';
import type { Metrics } from '../infra/metrics.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller, set by a route's authorize() hook. */
    principal?: Principal;
  }
}

export interface AppDeps {
  temporal: Client;
  pool: pg.Pool;
  /** Logs each request: true to stdout, or to `stream` (tests read what is logged). */
  logger?: boolean | { stream: { write(line: string): void } };
  /** Scales every case deadline (the demo and tests run the law's days in seconds). */
  timeScale?: number;
  /** How long a case may take an Update before the API answers 503 (caseRoutes' UPDATE_DEADLINE_MS). */
  updateDeadlineMs?: number;
  /** Checks bearer tokens (api/auth.ts tokenVerifier with the issuer's public key). */
  verifyToken: VerifyToken;
  /** Logs every read of personal data on the ledger before the data leaves (api/access.ts). */
  recordAccess: RecordAccess;
  /** What verifiers trust (served at /ledger/trust for the pages and anyone else). */
  trust?: TrustFile | (() => Promise<TrustFile>);
  /** Temporal namespace of the cases. */
  namespace?: string;
  /** Requests per minute per client address on the public routes (default 600). */
  publicRateLimit?: number;
  /** What one signed-in caller may ask (`CALLER_LIMITS` for what is not given). */
  callerLimits?: Partial<CallerLimits>;
  /**
   * Proxies (addresses, CIDR ranges) whose X-Forwarded-For names the client, for the rate
   * limit and the request log (Fastify's `trustProxy`); none by default.
   */
  trustedProxies?: readonly string[];
  /** Prometheus metrics served at /metrics (infra/metrics.ts); /healthz and /readyz always. */
  metrics?: Pick<Metrics, 'registry'>;
  /**
   * Seals the case list's page tokens (api/caseList.ts), at least 16 bytes. Default: random
   * per process, so give every API process behind one address the same key.
   */
  pageTokenKey?: Uint8Array;
  /** The pages' scripts, built once by the caller (api/webRoutes.ts); default: built here. */
  webAssets?: WebAssets;
}

/**
 * How much one signed-in caller (one token subject of one role and agency) may ask, and how
 * many tokens one client address may have refused.
 */
export interface CallerLimits {
  /**
   * Requests a minute to an API process on the routes that need a token. Counted in the
   * process's memory (the 5,000 callers counted last, @fastify/rate-limit's local store), so
   * behind N processes a caller gets up to N times as many; a proxy in front can hold a
   * shared limit.
   */
  requestsPerMinute: number;
  /**
   * Cases one citizen may apply for in any 24 hours, counted in the case store (all API
   * processes, across restarts). Each starts a workflow and takes a unit; without a bound one
   * stolen or scripted token could start thousands.
   */
  casesPerDay: number;
  /**
   * Tokens refused a minute to one client (`request.ip`, behind `trustedProxies` the address
   * they name; an IPv6 address by its /64, clientOf, and its /48 at 16 times as many),
   * counted in the process's memory, a check under way counted until it passes; past it,
   * the client's tokens are refused unchecked, except one this process verified before (a
   * session already signed in; not after a restart, nor at another API process). Checking a
   * signature costs about 0.2 ms (api/auth.ts): without a bound, one client sending forged
   * tokens has the API check them all. Behind one address (a NAT), one forger holds up
   * everyone's new sign-ins.
   */
  refusedTokensPerMinute: number;
}

// 60 refused tokens a minute leave room for an office behind one address whose sessions all
// expired at once.
export const CALLER_LIMITS: CallerLimits = {
  requestsPerMinute: 600,
  casesPerDay: 20,
  refusedTokensPerMinute: 60,
};

/**
 * For an API whose callers are scripts playing many people as one (the demo, the benchmarks,
 * the tests): limits they never reach. Never for an API people sign in to.
 */
export const SCRIPTED_CALLER_LIMITS: CallerLimits = {
  requestsPerMinute: 1_000_000,
  casesPerDay: 1_000_000,
  refusedTokensPerMinute: 1_000_000,
};

/** Request bodies larger than this are refused (413) before they are parsed. */
export const BODY_LIMIT = 64 * 1024;

/**
 * What the request log says of a request: Fastify's default fields, with the path but not the
 * query string. A read's purpose travels in it (`?purpose=`, which may name people) and the
 * supervisors' filters too; access_records and erasure hold the one, logs would keep it for good.
 */
export function loggedRequest(request: {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}) {
  return {
    method: request.method,
    url: request.url.split('?')[0],
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger
      ? {
          serializers: { req: loggedRequest },
          ...(deps.logger === true ? {} : { stream: deps.logger.stream }),
        }
      : false,
    bodyLimit: BODY_LIMIT,
    frameworkErrors,
    clientErrorHandler: clientErrors,
    trustProxy: deps.trustedProxies?.length ? [...deps.trustedProxies] : false,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
  });
  await app.register(rateLimit, {
    global: false,
    max: deps.publicRateLimit ?? 600,
    timeWindow: 60_000,
    errorResponseBuilder: (_request, { max, ttl }) => new RateLimitedError(max, ttl),
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'OneWindow',
        description:
          'One application for a property transfer; every agency decides in its own system; every signed result is on a verifiable ledger.',
        version: '0.1.0',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  registerErrorHandler(app);
  registerJsonBodyParser(app);

  const limits = { ...CALLER_LIMITS, ...deps.callerLimits };
  const callerLimit = app.createRateLimit({
    max: limits.requestsPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => `caller ${callerKey(request.principal!)}`,
  });

  const refusedTokens = new RefusedTokens(limits.refusedTokensPerMinute);

  /**
   * A route hook admitting only `roles`: 401 without a valid token, 429 past the caller's
   * requests a minute, 403 for another role. Counted once the token is good, so a forged one
   * cannot use up another's; a good one's refused requests count too. Past its refused
   * tokens a minute, a client gets 429 before any new token of it is checked.
   */
  const authorize = (roles: readonly Role[]) => async (request: FastifyRequest) => {
    const token = bearerToken(request.headers.authorization);
    if (deps.verifyToken.remembers?.(token)) {
      request.principal = await deps.verifyToken(token);
    } else {
      const counters = refusedTokens.countersOf(request.ip);
      const wait = refusedTokens.waitFor(counters, Date.now());
      if (wait) throw new RateLimitedError(wait.counter.max, wait.ms, wait.counter.what);
      // Counted before the check, so that checks sent at once cannot all pass the limit.
      const windows = refusedTokens.count(counters, Date.now());
      try {
        request.principal = await deps.verifyToken(token);
      } catch (error) {
        if (!(error instanceof UnauthorizedError)) refusedTokens.uncount(counters, windows);
        throw error;
      }
      refusedTokens.uncount(counters, windows);
    }
    const limit = await callerLimit(request);
    if (!limit.isAllowed && limit.isExceeded)
      throw new RateLimitedError(limit.max, limit.ttl, 'requests by this caller');
    const { role } = request.principal;
    if (!roles.includes(role))
      throw new ForbiddenError(`this needs the role ${roles.join(' or ')}, not ${role}`);
  };

  registerOperationsRoutes(app, {
    pool: deps.pool,
    temporal: deps.temporal,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  });
  // The pages for the three audiences and the ledger explorer (web/), with their own CSP.
  await registerWebRoutes(app, deps.webAssets);
  const reader = new LogReader(deps.pool);
  registerLedgerRoutes(app, reader, deps.trust);
  registerCaseRoutes(app, {
    temporal: deps.temporal,
    pool: deps.pool,
    reader,
    namespace: deps.namespace ?? 'default',
    recordAccess: deps.recordAccess,
    pageTokens: pageTokens(deps.pageTokenKey ?? randomBytes(32)),
    authorize,
    casesPerDay: limits.casesPerDay,
    ...(deps.trust ? { trust: deps.trust } : {}),
    ...(deps.timeScale ? { timeScale: deps.timeScale } : {}),
    ...(deps.updateDeadlineMs ? { updateDeadlineMs: deps.updateDeadlineMs } : {}),
  });
  return app;
}

/** A counter of refused tokens: its key, its limit a minute, and what it counts, for a 429. */
interface Counter {
  key: string;
  max: number;
  what: string;
}

/**
 * How many times a client's limit an IPv6 /48 may have refused: a site is given a /48 and may
 * hand its 65,536 /64s to one host, so each /64 alone would multiply the limit by as many.
 */
const SITE_FACTOR = 16;

/**
 * Tokens refused per client (clientOf) and, for IPv6, per /48 as well, in fixed one-minute
 * windows, for the 10,000 counters whose tokens were checked last (one forgotten starts again
 * at none: the bound is on memory, and a forger needs as many IPv4 addresses or IPv6 /48s to
 * gain by it).
 */
class RefusedTokens {
  private readonly windows = new LruMap<string, { count: number; endsAt: number }>(10_000);

  constructor(
    readonly max: number,
    private readonly windowMs = 60_000,
  ) {}

  /** The counters a token from `ip` counts in: its client's and, for an IPv6 /64, its /48's. */
  countersOf(ip: string): Counter[] {
    const client = clientOf(ip);
    const own = {
      key: client,
      max: this.max,
      what: 'refused tokens from this client (an IPv4 address or an IPv6 /64)',
    };
    if (!client.endsWith('::/64')) return [own];
    const site = `${client.split(':').slice(0, 3).join(':')}::/48`;
    return [own, { key: site, max: SITE_FACTOR * this.max, what: `refused tokens from ${site}` }];
  }

  /** The counter past its limit that lifts last, and in how many ms; none when all may count. */
  waitFor(counters: readonly Counter[], now: number): { counter: Counter; ms: number } | undefined {
    let longest: { counter: Counter; ms: number } | undefined;
    for (const counter of counters) {
      const window = this.windows.get(counter.key);
      if (!window || window.endsAt <= now || window.count < counter.max) continue;
      if (!longest || window.endsAt - now > longest.ms)
        longest = { counter, ms: window.endsAt - now };
    }
    return longest;
  }

  /** Counts a refusal (or a check under way) in each counter; returns their windows' ends. */
  count(counters: readonly Counter[], now: number): number[] {
    return counters.map(({ key }) => {
      const window = this.windows.get(key);
      const counted =
        window && window.endsAt > now
          ? { count: window.count + 1, endsAt: window.endsAt }
          : { count: 1, endsAt: now + this.windowMs };
      this.windows.set(key, counted);
      return counted.endsAt;
    });
  }

  /** Takes back the counts of the windows ending at `ends` (count's answer): the check passed. */
  uncount(counters: readonly Counter[], ends: readonly number[]): void {
    counters.forEach(({ key }, i) => {
      const window = this.windows.get(key);
      if (window && window.endsAt === ends[i] && window.count > 0)
        this.windows.set(key, { count: window.count - 1, endsAt: window.endsAt });
    });
  }
}

/**
 * The client a refused token is counted for: an IPv4 address (an IPv4-mapped IPv6 one as
 * such), or an IPv6 address's /64, the prefix one subscriber is given: a host in it picks
 * any of 2^64 addresses, each of which would start again at none.
 */
export function clientOf(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  const address = ip.split('%')[0]!; // a zone (fe80::1%eth0) names an interface, not a host
  if (!isIPv6(address)) return ip;
  const [head = '', tail] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  // An embedded IPv4 tail (64:ff9b::1.2.3.4) takes two groups, all past the /64.
  const width = (parts: string[]) => parts.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const expanded =
    tail === undefined
      ? groups(head)
      : [
          ...groups(head),
          ...Array<string>(8 - width(groups(head)) - width(groups(tail))).fill('0'),
          ...groups(tail),
        ];
  // IPv4-mapped in a longer form (0:0:0:0:0:ffff:1.2.3.4, ::ffff:102:304): that IPv4 address.
  if (expanded.length >= 7 && expanded.slice(0, 5).every((g) => parseInt(g, 16) === 0))
    if (parseInt(expanded[5]!, 16) === 0xffff) return ipv4Of(expanded.slice(6));
  return `${expanded
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** The IPv4 address the last 32 bits of an IPv6 address hold (two groups, or a dotted tail). */
function ipv4Of(groups: readonly string[]): string {
  if (groups.length === 1) return groups[0]!;
  const [high, low] = groups.map((g) => parseInt(g, 16)) as [number, number];
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** One caller for the limits: a subject is the identity provider's, within a role and agency. */
function callerKey(principal: Principal): string {
  return JSON.stringify([
    principal.role,
    principal.role === 'officer' ? principal.agency : null,
    principal.sub,
  ]);
}
