// Runs the real `onewindow` command as a child process, as a user or CI would.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { registeredTrust, type Stack } from './stack.ts';

const BIN = fileURLToPath(new URL('../../bin/onewindow.mjs', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `onewindow args`, with `env` added to this process's environment. */
export function onewindow(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { timeout: 120_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * The trust file an independent verifier would hold for the test stack: public keys only.
 * The integration database is shared by every test file, each with its own agency keys, so
 * the agency keys are all those the suite registered.
 */
export async function writeTrustFile(stack: Stack, path: string): Promise<void> {
  const trust = await registeredTrust(stack.pool, stack.logKey, stack.witnessKeys);
  writeFileSync(path, JSON.stringify(trust, null, 2));
}
