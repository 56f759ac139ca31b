// A tool that tests need from Debian (docker-compose to validate the compose file, chromium
// for the browser tests): found on PATH, or installed with apt-get when we run as root (CI
// containers), or a clear error saying what to install.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export class DebianPackageError extends Error {
  override name = 'DebianPackageError';
}

/** Installs in flight, by package: two test files asking at once share one apt-get. */
const installing = new Map<string, Promise<void>>();

/**
 * Returns the path of `binary`, installing Debian package `pkg` with apt-get first if the
 * binary is not on PATH (or in /usr/bin, /usr/sbin) and we are root.
 * Requires a bare command name (`docker-compose`, not a path).
 * @throws DebianPackageError naming the binary and the package when neither works.
 * @example const compose = await ensureDebianPackage('docker-compose', 'docker-compose');
 */
export async function ensureDebianPackage(binary: string, pkg: string): Promise<string> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(binary))
    throw new TypeError(`binary must be a command name, got ${JSON.stringify(binary)}`);
  if (!/^[a-z0-9][a-z0-9.+-]+$/.test(pkg))
    throw new TypeError(`pkg must be a Debian package name, got ${JSON.stringify(pkg)}`);
  const found = which(binary);
  if (found) return found;

  const install = `apt-get install -y ${pkg}`;
  if (process.getuid?.() !== 0)
    throw new DebianPackageError(
      `${binary} is not installed and this is not root, so it cannot be installed here: run \`sudo ${install}\` (Debian/Ubuntu)`,
    );
  const aptGet = which('apt-get');
  if (!aptGet)
    throw new DebianPackageError(
      `${binary} is not installed and there is no apt-get to install it: install the package that provides it (${pkg} on Debian)`,
    );
  let pending = installing.get(pkg);
  if (!pending) {
    pending = aptInstall(aptGet, pkg).finally(() => installing.delete(pkg));
    installing.set(pkg, pending);
  }
  await pending;
  const installed = which(binary);
  if (!installed)
    throw new DebianPackageError(`\`${install}\` succeeded but no ${binary} is on PATH afterwards`);
  return installed;
}

function which(binary: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const path = join(dir, binary);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not here; try the next directory.
    }
  }
  return undefined;
}

/** `apt-get install`, and once more after `apt-get update` (a fresh image has no package lists). */
async function aptInstall(aptGet: string, pkg: string): Promise<void> {
  // Wait for another apt/dpkg (a parallel job) rather than fail on its lock.
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  const install = [...lock, 'install', '-y', '--no-install-recommends', pkg];
  const first = await run(aptGet, install);
  if (first.code === 0) return;
  const update = await run(aptGet, [...lock, 'update']);
  const second = update.code === 0 ? await run(aptGet, install) : update;
  if (second.code !== 0)
    throw new DebianPackageError(
      `could not install ${pkg}: \`apt-get ${second.args.join(' ')}\` exited ${second.code}: ${lastLines(second.output)}`,
    );
}

interface RunResult {
  args: string[];
  code: number | null;
  output: string;
}

function run(command: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (error) => resolve({ args, code: null, output: error.message }));
    child.on('close', (code) => resolve({ args, code, output }));
  });
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ');
}
