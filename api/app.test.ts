// What buildApp's own request log says, read from the stream it writes to: the path of each
// request, and nothing of its query string (a read's purpose may name people). How the API
// answers a request Node's HTTP parser refuses, over a real socket (inject skips the parser).
import { maxHeaderSize } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { generateSigningKey } from '../ledger/keys.ts';
import { buildApp, clientOf } from './app.ts';
import { issueToken, tokenVerifier, UnauthorizedError, type VerifyToken } from './auth.ts';

let app: FastifyInstance | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await app?.close();
  app = undefined;
});

/** buildApp logging to an array of parsed lines, with no ledger, Temporal or pages behind it. */
async function loggingApp() {
  const lines: Record<string, unknown>[] = [];
  app = await buildApp({
    temporal: {} as never,
    pool: {} as never,
    logger: {
      stream: { write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    },
    verifyToken: () => Promise.reject(new UnauthorizedError('no tokens in this test')),
    recordAccess: () => Promise.reject(new Error('no access records in this test')),
    webAssets: { pages: new Map(), assets: new Map(), inputs: [] },
  });
  return { app, lines };
}

describe('the request log', () => {
  it("names a request by its path, leaving out the query string where a read's purpose travels", async () => {
    const { app, lines } = await loggingApp();
    await app.inject({ method: 'GET', url: '/cases/c-1/timeline?purpose=call+from+Li+Wei' });
    const requests = lines.flatMap((line) => (line.req ? [line.req] : []));
    expect(requests).toEqual([
      {
        method: 'GET',
        url: '/cases/c-1/timeline',
        host: 'localhost:80',
        remoteAddress: '127.0.0.1',
      },
    ]);
    expect(JSON.stringify(lines)).not.toMatch(/purpose|Li.Wei/);
  });
});

describe("an address's refused tokens", () => {
  const issuer = generateSigningKey('app.test.issuer');
  const forger = generateSigningKey('app.test.forger');

  /** buildApp with the issuer's real verifier, counting the tokens whose signature it checks. */
  async function appCheckingTokens(
    refusedTokensPerMinute: number,
    verify: VerifyToken = tokenVerifier(issuer.publicKey),
  ) {
    const checked: string[] = [];
    const verifyToken: VerifyToken = Object.assign(
      (token: string) => {
        if (!verify.remembers?.(token)) checked.push(token);
        return verify(token);
      },
      { remembers: (token: string) => verify.remembers?.(token) ?? false },
    );
    app = await buildApp({
      temporal: {} as never,
      pool: {} as never,
      callerLimits: { refusedTokensPerMinute },
      verifyToken,
      recordAccess: () => Promise.reject(new Error('no access records in this test')),
      webAssets: { pages: new Map(), assets: new Map(), inputs: [] },
    });
    // A supervisors' route: a citizen's good token gets 403, once through authentication.
    const call = (token: string | undefined, remoteAddress: string) =>
      app!.inject({
        method: 'GET',
        url: '/cases/c-1/timeline',
        remoteAddress,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    return { call, checked };
  }
  const tokenOf = (key: typeof issuer, sub: string) =>
    issueToken(key.seed, { role: 'citizen', sub }, 600);

  it('are refused unchecked past the limit a minute, with 429 and Retry-After; sessions and other addresses go on', async () => {
    const { call, checked } = await appCheckingTokens(2);
    const session = await tokenOf(issuer, 'c-1');
    const forged = await tokenOf(forger, 'c-2');
    expect((await call(session, '10.0.0.1')).statusCode).toBe(403);
    expect((await call(forged, '10.0.0.1')).statusCode).toBe(401);
    expect((await call(forged, '10.0.0.1')).statusCode).toBe(401);
    expect(checked).toHaveLength(3);

    const refused = await call(forged, '10.0.0.1');
    expect(refused.statusCode).toBe(429);
    const body = refused.json<{ error: string; field: string; reason: string }>();
    expect([body.error, body.field]).toEqual(['rate_limited', 'request']);
    expect(body.reason).toMatch(
      /^too many refused tokens from this client \(an IPv4 address or an IPv6 \/64\): at most 2 a minute; retry in \d+ s$/,
    );
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // A new token from that address waits too, unchecked; one already verified passes.
    expect((await call(await tokenOf(issuer, 'c-3'), '10.0.0.1')).statusCode).toBe(429);
    expect(checked).toHaveLength(3);
    expect((await call(session, '10.0.0.1')).statusCode).toBe(403);
    // Another address has its tokens checked.
    expect((await call(forged, '10.0.0.2')).statusCode).toBe(401);
    expect(checked).toHaveLength(4);
  });

  it('are counted again from none a minute after the first', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-06T12:00:00Z'));
    const { call } = await appCheckingTokens(1);
    const forged = await tokenOf(forger, 'c-2');
    expect((await call(forged, '10.0.0.1')).statusCode).toBe(401);
    vi.setSystemTime(new Date('2026-12-06T12:00:59Z'));
    expect((await call(forged, '10.0.0.1')).statusCode).toBe(429);
    vi.setSystemTime(new Date('2026-12-06T12:01:00Z'));
    expect((await call(forged, '10.0.0.1')).statusCode).toBe(401);
    expect((await call(forged, '10.0.0.1')).statusCode).toBe(429);
  });

  it('are counted while their checks are under way, so that tokens sent at once are not all checked', async () => {
    const { call, checked } = await appCheckingTokens(2);
    const forged = await tokenOf(forger, 'c-2');
    const statuses = await Promise.all(
      Array.from({ length: 6 }, async () => (await call(forged, '10.0.0.1')).statusCode),
    );
    expect(statuses.sort()).toEqual([401, 401, 429, 429, 429, 429]);
    expect(checked).toHaveLength(2);
  });

  it("are counted for an IPv6 address's /64, whichever address of it sends them", async () => {
    const { call, checked } = await appCheckingTokens(2);
    const forged = await tokenOf(forger, 'c-2');
    expect((await call(forged, '2001:db8:1:2::a')).statusCode).toBe(401);
    expect((await call(forged, '2001:db8:1:2:ffff::b')).statusCode).toBe(401);
    expect((await call(forged, '2001:db8:1:2:3:4:5:6')).statusCode).toBe(429);
    expect((await call(forged, '2001:db8:1:3::a')).statusCode).toBe(401);
    expect(checked).toHaveLength(3);
  });

  it("are counted for an IPv6 /48 too, at 16 times a client's limit, so that its 65,536 /64s do not multiply it", async () => {
    const { call, checked } = await appCheckingTokens(1);
    const forged = await tokenOf(forger, 'c-2');
    for (let subnet = 0; subnet < 16; subnet++)
      expect((await call(forged, `2001:db8:1:${subnet}::a`)).statusCode).toBe(401);
    const refused = await call(forged, '2001:db8:1:ff::a');
    expect(refused.statusCode).toBe(429);
    expect(refused.json<{ reason: string }>().reason).toMatch(
      /^too many refused tokens from 2001:db8:1::\/48: at most 16 a minute; retry in \d+ s$/,
    );
    // Another /48 has its tokens checked.
    expect((await call(forged, '2001:db8:2:0::a')).statusCode).toBe(401);
    expect(checked).toHaveLength(17);
  });

  it('do not count a check that failed for a fault of the API (a 500), not a refusal', async () => {
    const { call, checked } = await appCheckingTokens(1, () =>
      Promise.reject(new Error('the verifier broke')),
    );
    const forged = await tokenOf(forger, 'c-2');
    for (let i = 0; i < 3; i++) expect((await call(forged, '10.0.0.1')).statusCode).toBe(500);
    expect(checked).toHaveLength(3);
  });

  it('do not count a request without a token: nothing was checked', async () => {
    const { call, checked } = await appCheckingTokens(1);
    for (let i = 0; i < 3; i++) expect((await call(undefined, '10.0.0.1')).statusCode).toBe(401);
    expect(checked).toHaveLength(0);
  });
});

describe('clientOf', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::1.2.3.4', '64:ff9b:0:0::/64'],
    ['0064:ff9b:0000:0001:5::1', '64:ff9b:0:1::/64'],
    ['0:0:0:0:0:ffff:10.0.0.1', '10.0.0.1'],
    ['::ffff:a00:1', '10.0.0.1'],
  ])('counts %s as %s', (ip, client) => {
    expect(clientOf(ip)).toBe(client);
  });
});

describe("a request Node's HTTP parser refuses, below the routes", () => {
  /** Sends `raw` to a listening app over TCP and reads what comes back until it closes. */
  async function sendRaw(raw: string) {
    const { app } = await loggingApp();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const answer = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = connect(port, '127.0.0.1', () => socket.write(raw));
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    const [head = '', body = ''] = answer.split('\r\n\r\n');
    return {
      status: Number(head.split(' ')[1]),
      contentType: /^content-type: (.*)$/im.exec(head)?.[1],
      body: JSON.parse(body) as unknown,
    };
  }

  it('over the header size limit is answered 431 naming headers, in the JSON shape of every 4xx', async () => {
    const answer = await sendRaw(
      `GET /healthz HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(answer.status).toBe(431);
    expect(answer.contentType).toBe('application/json; charset=utf-8');
    expect(answer.body).toEqual({
      error: 'headers_too_large',
      field: 'headers',
      reason: `are too large: at most ${maxHeaderSize} bytes of request line and headers`,
    });
  });

  it('with a Content-Length that is not a number is answered 400 naming content-length', async () => {
    const answer = await sendRaw(
      'POST /cases HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n{}',
    );
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: 'bad_request',
      field: 'content-length',
      reason: 'is not valid HTTP/1.1 (RFC 9112): Invalid character in Content-Length',
    });
  });

  it('that is not HTTP at all is answered 400 naming request', async () => {
    const answer = await sendRaw('HELLO\r\n\r\n');
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: 'bad_request', field: 'request' });
  });
});
