// Runs the real `onewindow` command as a child process, as a user or CI would.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { toBase64 } from '../../ledger/bytes.ts';
import { formatCosignerVerifierKey } from '../../ledger/cosignature.ts';
import { formatVerifierKey } from '../../ledger/keys.ts';
import type { TrustFile } from '../../ledger/trust.ts';
import { TEST_LOG_ORIGIN, type Stack } from './stack.ts';

const BIN = fileURLToPath(new URL('../../bin/onewindow.mjs', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function onewindow(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The trust file an independent verifier would hold for the test stack: public keys only.
 * The integration database is shared by every test file, each with its own agency keys, so
 * the agency keys are all those the suite registered.
 */
export async function writeTrustFile(stack: Stack, path: string): Promise<void> {
  const { rows } = await stack.pool.query<{ key_id: string; agency: string; public_key: Buffer }>(
    'SELECT key_id, agency, public_key FROM agency_keys',
  );
  const trust: TrustFile = {
    origin: TEST_LOG_ORIGIN,
    logKeys: [formatVerifierKey(stack.logKey.name, stack.logKey.publicKey)],
    witnesses: stack.witnessKeys.map((k) => formatCosignerVerifierKey(k.name, k.publicKey)),
    witnessThreshold: 2,
    agencyKeys: rows.map((row) => ({
      keyId: row.key_id,
      agency: row.agency,
      publicKey: toBase64(new Uint8Array(row.public_key)),
      validFrom: new Date(0).toISOString(),
    })),
  };
  writeFileSync(path, JSON.stringify(trust, null, 2));
}
