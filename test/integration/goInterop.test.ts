// Interoperability with a client nobody here wrote: Go's golang.org/x/mod/sumdb/note and
// sumdb/tlog (test/interop/main.go) read the ledger the real stack serves over HTTP and
// verify the checkpoint signature, the tree hash from the C2SP tiles and inclusion proofs
// for sampled entries. Go is a documented requirement: without it this test fails.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatVerifierKey, generateSigningKey } from '../../ledger/keys.ts';
import { startStack, TEST_LOG_ORIGIN, type Stack, appendStatements } from './stack.ts';

const INTEROP_DIR = resolve(import.meta.dirname, '../interop');
/** 600 leaves: two full level-0 tiles, a partial one of 88, and a level-1 partial tile of 2. */
const ENTRIES = 600;

let stack: Stack;
let baseUrl: string;
let binDir: string;
let binary: string;

function findGo(): string {
  const candidates = [
    ...(process.env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, 'go')),
    '/usr/local/go/bin/go',
  ];
  const found = candidates.find((path) => existsSync(path));
  if (!found)
    throw new Error(
      'no Go toolchain: the Go interop test needs `go` on PATH or at /usr/local/go/bin/go ' +
        '(Go is a documented requirement of this project)',
    );
  return found;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((done) => {
    execFile(file, args, { cwd, timeout: 240_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      done({ code, stdout, stderr: error && code === -1 ? `${error.message}\n${stderr}` : stderr });
    });
  });
}

const appendMany = (n: number) => appendStatements(stack, n, 'registry', 'checkTitle');

beforeAll(async () => {
  const go = findGo();
  binDir = mkdtempSync(join(tmpdir(), 'onewindow-interop-'));
  binary = join(binDir, 'interop');
  // Build once (the first build fetches golang.org/x/mod from the module proxy), run many.
  const built = await run(go, ['build', '-buildvcs=false', '-o', binary, '.'], INTEROP_DIR);
  if (built.code !== 0) throw new Error(`go build failed (${built.code}):\n${built.stderr}`);
  stack = await startStack([], { freshDatabase: true });
  await appendMany(ENTRIES);
  baseUrl = `${await stack.app.listen({ port: 0, host: '127.0.0.1' })}/ledger`;
}, 600_000);

afterAll(async () => {
  await stack?.stop();
  if (binDir) rmSync(binDir, { recursive: true, force: true });
});

async function servedSize(): Promise<number> {
  const response = await fetch(`${baseUrl}/checkpoint`);
  expect(response.status).toBe(200);
  const lines = (await response.text()).split('\n');
  expect(lines[0]).toBe(TEST_LOG_ORIGIN);
  return Number(lines[1]);
}

describe("Go's sumdb/note and sumdb/tlog verify the served ledger", () => {
  it('verifies the checkpoint signature, the tree hash from the tiles and sampled inclusion proofs', async () => {
    const size = await servedSize();
    expect(size).toBe(ENTRIES);
    const vkey = formatVerifierKey(stack.logKey.name, stack.logKey.publicKey);
    const result = await run(binary, ['-url', baseUrl, '-vkey', vkey, '-samples', '24'], binDir);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^OK origin=${TEST_LOG_ORIGIN} size=${size} `));
    expect(result.stdout).toMatch(/ proved=24 /);
    // Full and partial level-0 tiles and the level-1 partial tile were all read and checked.
    expect(result.stdout).toMatch(
      / tiles=tile\/0\/000,tile\/0\/001,tile\/0\/002\.p\/88,tile\/1\/000\.p\/2\n$/,
    );
  }, 300_000);

  it('refuses the checkpoint when given a different key of the same name', async () => {
    const impostor = generateSigningKey(TEST_LOG_ORIGIN);
    const vkey = formatVerifierKey(impostor.name, impostor.publicKey);
    const result = await run(binary, ['-url', baseUrl, '-vkey', vkey, '-samples', '4'], binDir);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/checkpoint signature: note has no verifiable signatures/);
  }, 300_000);

  /** Serves the ledger through a proxy that flips the last byte of the responses `tamper` picks. */
  async function withTamperingProxy<T>(
    tamper: (path: string) => boolean,
    work: (url: string) => Promise<T>,
  ): Promise<T> {
    const origin = new URL(baseUrl).origin;
    const proxy: Server = createServer((request, response) => {
      void (async () => {
        const upstream = await fetch(`${origin}${request.url}`);
        const body = Buffer.from(await upstream.arrayBuffer());
        if (upstream.ok && tamper(request.url ?? '')) body[body.length - 1]! ^= 0x01;
        response.writeHead(upstream.status).end(body);
      })().catch((error: unknown) => response.writeHead(502).end(String(error)));
    });
    await new Promise<void>((listening) => proxy.listen(0, '127.0.0.1', listening));
    try {
      return await work(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}/ledger`);
    } finally {
      await new Promise((closed) => proxy.close(closed));
    }
  }

  it.each([
    [
      'a hash in a full level-0 tile',
      '/ledger/tile/0/001',
      /tree hash from tiles|inclusion proof from tiles/,
    ],
    ['a hash in the level-1 partial tile', '/ledger/tile/1/000.p/2', /tree hash from tiles/],
    [
      'the last entry (in its bundle and alone)',
      '/ledger/tile/entries/002.p/88|/ledger/entries/599',
      /entry 599: inclusion proof does not verify/,
    ],
  ])(
    'fails when the server alters %s',
    async (_what, paths, error) => {
      const vkey = formatVerifierKey(stack.logKey.name, stack.logKey.publicKey);
      const tampered = new Set(paths.split('|'));
      const result = await withTamperingProxy(
        (path) => tampered.has(path),
        (url) => run(binary, ['-url', url, '-vkey', vkey, '-samples', '24'], binDir),
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(error);
    },
    300_000,
  );
});
