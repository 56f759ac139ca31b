import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { cacheDir, resolveTemporalCli, TemporalCliUnavailableError } from './temporalCli.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/**
 * An environment whose PATH holds only a `go` running `script` (sh), and a cache of its own:
 * no Temporal CLI is found, so each tag is built with that `go`.
 */
function withGo(script: string) {
  const dir = mkdtempSync(join(tmpdir(), 'temporal-cli-test-'));
  dirs.push(dir);
  const go = join(dir, 'go');
  writeFileSync(go, `#!/bin/sh\necho "$GOFLAGS" >> ${join(dir, 'goflags')}\n${script}\n`);
  chmodSync(go, 0o755);
  const lines: string[] = [];
  const env = { PATH: dir, ONEWINDOW_CACHE_DIR: join(dir, 'cache'), GOFLAGS: '-modcacherw' };
  return {
    cache: cacheDir(env),
    resolve: (signal?: AbortSignal) =>
      resolveTemporalCli({ env, log: (line) => lines.push(line), ...(signal ? { signal } : {}) }),
    lines,
    goflags: () => readFileSync(join(dir, 'goflags'), 'utf8').trim().split('\n'),
  };
}

describe('resolveTemporalCli building with Go', () => {
  test('tries the next tag when a build fails, and says why each failed', async () => {
    const go = withGo('echo "no module proxy" >&2; exit 1');
    const error = await go.resolve().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemporalCliUnavailableError);
    expect((error as Error).message).toMatch(/v1\.5\.1: go install exited 1: no module proxy/);
    expect((error as Error).message).toMatch(/v1\.4\.1: go install exited 1: no module proxy/);
    // Each build keeps the user's GOFLAGS, ours after them.
    expect(go.goflags()).toEqual(Array(3).fill('-modcacherw -buildvcs=false'));
    // No scratch folder left behind.
    expect(readdirSync(go.cache)).toEqual([]);
  });

  // `npm run dev` and `npm test` at once on a fresh machine: before, the second to finish
  // replaced the first's folder, or failed with ENOTEMPTY when the two met in the rename.
  test('keeps the binary another build put in place meanwhile, and drops its own', async () => {
    const mkdir = ['/bin/mkdir', '/usr/bin/mkdir'].find((path) => existsSync(path))!;
    const go = withGo(
      `${mkdir} -p "$ONEWINDOW_CACHE_DIR/temporal-cli/v1.5.1" && echo theirs > "$ONEWINDOW_CACHE_DIR/temporal-cli/v1.5.1/temporal"; echo ours > "$GOBIN/temporal"`,
    );
    const binary = await go.resolve();
    expect(binary).toBe(join(go.cache, 'v1.5.1', 'temporal'));
    expect(readFileSync(binary, 'utf8')).toBe('theirs\n');
    expect(readdirSync(go.cache)).toEqual(['v1.5.1']);
  });

  // A Ctrl-C reaches go too: building the next tag would go on for minutes, unasked.
  test('stops at a build ended by a signal, and tries no other tag', async () => {
    const go = withGo('kill -INT $$');
    await expect(go.resolve()).rejects.toThrow(
      new TemporalCliUnavailableError('building the Temporal CLI v1.5.1 was stopped (SIGINT)'),
    );
    expect(go.goflags()).toHaveLength(1);
    expect(go.lines.some((line) => line.includes('trying the next tag'))).toBe(false);
  });
});

// go itself catches the interrupt and exits with a code: only the caller knows it was stopped.
describe('resolveTemporalCli stopped by its caller', () => {
  test('kills the build under way and tries no other tag, even when go exits with a code', async () => {
    // By its full path: the PATH withGo gives holds only `go`. Before, `sleep` was not found,
    // each build ended at once, and whether the abort came during the first one was luck.
    const sleep = ['/bin/sleep', '/usr/bin/sleep'].find((path) => existsSync(path))!;
    const go = withGo(`trap 'kill $!; exit 3' TERM INT; ${sleep} 30 & wait`);
    const stop = new AbortController();
    const resolving = go.resolve(stop.signal);
    // On a loaded machine (CI beside other work) the fake go takes seconds to start: this test
    // timed out at 30 s in two CI runs beside integration tests.
    await vi.waitFor(() => expect(go.goflags()).toHaveLength(1), {
      timeout: 40_000,
      interval: 20,
    });
    stop.abort();
    await expect(resolving).rejects.toThrow(
      new TemporalCliUnavailableError('building the Temporal CLI v1.5.1 was stopped'),
    );
    expect(go.goflags()).toHaveLength(1);
  }, 60_000);
});

describe('cacheDir', () => {
  test('takes an empty ONEWINDOW_CACHE_DIR as unset, never a relative path', () => {
    expect(cacheDir({ ONEWINDOW_CACHE_DIR: '', XDG_CACHE_HOME: '/x' })).toBe(
      '/x/onewindow/temporal-cli',
    );
  });
});
