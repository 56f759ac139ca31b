import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpSource, SourceError } from './fetchPath.ts';

/** The largest answer a log path can have (256 entries of 65,535 bytes with their lengths). */
const MAX = 256 * (2 + 0xffff);

describe('httpSource', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/ledger/checkpoint') return response.end('a checkpoint\n');
      if (request.url === '/ledger/tile/entries/000') {
        // A hostile log: more than a bundle can be, sent in chunks with no length declared.
        const chunk = Buffer.alloc(1 << 20, 0x61);
        let sent = 0;
        const more = () => {
          while (sent <= MAX + chunk.length) {
            sent += chunk.length;
            if (!response.write(chunk)) return response.once('drain', more);
          }
          response.end();
        };
        return more();
      }
      if (request.url === '/ledger/tile/0/000') {
        response.setHeader('content-length', String(MAX + 1));
        return response.end();
      }
      response.statusCode = 404;
      response.end(`nothing here${'!'.repeat(5000)}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ledger`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads an answer of a log path', async () => {
    expect(new TextDecoder().decode(await httpSource(base)('checkpoint'))).toBe('a checkpoint\n');
  });

  it('stops reading an answer larger than any log path can have, declared or not', async () => {
    await expect(httpSource(base)('tile/entries/000')).rejects.toThrow(
      new SourceError(
        `GET ${base}/tile/entries/000: an answer of more than ${MAX} bytes, more than a log path holds`,
      ),
    );
    await expect(httpSource(base)('tile/0/000')).rejects.toThrow(
      new SourceError(
        `GET ${base}/tile/0/000: an answer of ${MAX + 1} bytes, more than a log path holds`,
      ),
    );
  });

  it('names an HTTP error with the start of what the server said', async () => {
    await expect(httpSource(base)('tile/1/000')).rejects.toThrow(
      new SourceError(`GET ${base}/tile/1/000: HTTP 404 nothing here${'!'.repeat(188)}`),
    );
  });
});
