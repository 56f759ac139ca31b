import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { loggedRequest } from './app.ts';

describe('the request log', () => {
  it("leaves out the query string, where a read's purpose travels", async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    // The logger options buildApp gives Fastify, with a stream the test can read.
    const app = Fastify({ logger: { serializers: { req: loggedRequest }, stream } });
    app.get('/cases/:caseId/timeline', () => ({}));
    await app.inject({ method: 'GET', url: '/cases/c-1/timeline?purpose=call+from+Li+Wei' });
    await app.close();
    const logged = lines.join('');
    expect(logged).toContain('"url":"/cases/c-1/timeline"');
    expect(logged).not.toContain('Li');
    expect(logged).not.toContain('purpose');
  });
});
