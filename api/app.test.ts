// What buildApp's own request log says, read from the stream it writes to: the path of each
// request, and nothing of its query string (a read's purpose may name people).
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { UnauthorizedError } from './auth.ts';

let app: FastifyInstance | undefined;
afterEach(async () => {
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
