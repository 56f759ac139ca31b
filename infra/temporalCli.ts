// Finds or builds the Temporal CLI, which carries the dev server. No internet reaches the
// machines this runs on, so the SDK's own download cannot work; the Go module proxy can.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, renameSync, rmSync, mkdtempSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { makeDirectorySync } from './directories.ts';

/** Tags tried in order. Later tags add a `replace` directive and cannot be `go install`ed. */
export const TEMPORAL_CLI_TAGS = ['v1.5.1', 'v1.5.0', 'v1.4.1'] as const;

export class TemporalCliUnavailableError extends Error {
  override name = 'TemporalCliUnavailableError';
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  /** Stops a build under way (its `go` is killed) and tries no further tag. */
  signal?: AbortSignal;
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(
    // Empty is unset, as infra/config.ts reads it: never a cache relative to the working directory.
    env.ONEWINDOW_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'onewindow'),
    'temporal-cli',
  );
}

function onPath(command: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/**
 * Returns a Temporal CLI binary: `TEMPORAL_CLI_PATH`, else `temporal` on PATH, else a
 * cached build, else a fresh `go install` into the cache.
 * @throws TemporalCliUnavailableError when none of these works, saying what to install.
 */
export async function resolveTemporalCli({
  env = process.env,
  log = console.error,
  signal,
}: ResolveOptions = {}): Promise<string> {
  if (env.TEMPORAL_CLI_PATH) {
    if (!existsSync(env.TEMPORAL_CLI_PATH)) {
      throw new TemporalCliUnavailableError(
        `TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} does not exist`,
      );
    }
    return env.TEMPORAL_CLI_PATH;
  }
  const found = onPath('temporal', env);
  if (found) return found;
  for (const tag of TEMPORAL_CLI_TAGS) {
    const cached = join(cacheDir(env), tag, 'temporal');
    if (existsSync(cached)) return cached;
  }
  const go =
    onPath('go', env) ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) {
    throw new TemporalCliUnavailableError(
      'No Temporal CLI found and no Go toolchain to build one. Install Go 1.21 or later (https://go.dev/dl; it fetches the newer toolchain the CLI asks for from the module proxy) ' +
        'or set TEMPORAL_CLI_PATH to a `temporal` binary.',
    );
  }
  const failures: string[] = [];
  for (const tag of TEMPORAL_CLI_TAGS) {
    if (signal?.aborted)
      throw new TemporalCliUnavailableError(`building the Temporal CLI ${tag} was stopped`);
    try {
      return await buildTemporalCli(go, tag, env, log, signal);
    } catch (error) {
      // Stopped, by a signal go got or by our caller (go itself catches SIGINT and exits with a
      // code): the next tag would build for minutes unasked.
      if (error instanceof BuildStoppedError || signal?.aborted)
        throw new TemporalCliUnavailableError(
          error instanceof BuildStoppedError
            ? error.message
            : `building the Temporal CLI ${tag} was stopped`,
        );
      failures.push(`${tag}: ${(error as Error).message}`);
      log(`temporal CLI ${tag} did not build; trying the next tag`);
    }
  }
  throw new TemporalCliUnavailableError(
    `could not build the Temporal CLI:\n  ${failures.join('\n  ')}`,
  );
}

/** `go install` ended by a signal, not by a failed build. */
class BuildStoppedError extends Error {
  override name = 'BuildStoppedError';
}

async function buildTemporalCli(
  go: string,
  tag: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<string> {
  const target = join(cacheDir(env), tag);
  const binary = join(target, 'temporal');
  makeDirectorySync(cacheDir(env));
  // Build into a scratch folder and rename: a half-built binary is never mistaken for a cached one.
  const scratch = mkdtempSync(join(cacheDir(env), `.build-${tag}-`));
  try {
    const started = Date.now();
    await goInstall(go, tag, scratch, env, log, signal);
    // Two builds at once (`npm run dev` and `npm test` on a fresh machine): the one that
    // finished first is kept, and this one's binary is dropped with the scratch folder.
    if (!existsSync(binary)) {
      try {
        // A folder without its binary (emptied by hand) would stop the rename.
        rmSync(target, { recursive: true, force: true });
        renameSync(scratch, target);
      } catch (error) {
        // The other build renamed its folder in between (ENOTEMPTY): use its binary.
        if (!existsSync(binary)) throw error;
      }
    }
    log(
      `built the Temporal CLI ${tag} in ${Math.round((Date.now() - started) / 1000)} s → ${binary}`,
    );
    return binary;
  } finally {
    // Gone already when renamed; otherwise a failed, stopped or surplus build.
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Runs `go install` of the CLI at `tag` into `gobin`. @throws BuildStoppedError, or Error with go's last lines. */
async function goInstall(
  go: string,
  tag: string,
  gobin: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const started = Date.now();
  log(
    `building the Temporal CLI ${tag} with Go (first run only; about 3 minutes on 2 cores, ~2 GB of modules)…`,
  );
  const child = spawn(go, ['install', `github.com/temporalio/cli/cmd/temporal@${tag}`], {
    env: {
      ...env,
      CGO_ENABLED: '0',
      GOBIN: gobin,
      // The user's own flags kept (a -mod or -modcacherw of theirs), ours after them.
      GOFLAGS: [env.GOFLAGS, '-buildvcs=false'].filter(Boolean).join(' '),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(signal ? { signal } : {}),
  });
  // An abort kills go; the 'close' below then says how it ended.
  child.on('error', () => undefined);
  let downloads = 0;
  let tail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    downloads += chunk.split('go: downloading').length - 1;
    tail = (tail + chunk).slice(-4000);
  });
  const ticker = setInterval(() => {
    log(
      `  … ${Math.round((Date.now() - started) / 1000)} s, ${downloads} modules downloaded, compiling`,
    );
  }, 15_000);
  const [code, killedBy] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
  );
  clearInterval(ticker);
  if (killedBy)
    throw new BuildStoppedError(`building the Temporal CLI ${tag} was stopped (${killedBy})`);
  if (code !== 0 || !existsSync(join(gobin, 'temporal')))
    throw new Error(`go install exited ${code}: ${tail.trim().split('\n').slice(-3).join(' | ')}`);
}

/** The version line the binary prints, to show which one runs. */
export function temporalCliVersion(path: string): string {
  const out = spawnSync(path, ['--version'], { encoding: 'utf8' });
  return (out.stdout || out.stderr).trim();
}
