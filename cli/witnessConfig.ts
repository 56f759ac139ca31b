// How processes learn about the log and its witnesses from the environment:
//   ONEWINDOW_LOG_ORIGIN            the log's origin line
//   ONEWINDOW_LOG_PUBLIC_KEY        the log's verifier key(s), space-separated (rotation)
//   ONEWINDOW_WITNESSES             space-separated <cosigner verifier key>@<add-checkpoint URL prefix>
//   ONEWINDOW_WITNESS_THRESHOLD     k of n
import { parseCosignerVerifierKey } from '../ledger/cosignature.ts';
import { parseVerifierKey, type VerifierKey } from '../ledger/keys.ts';
import type { WitnessPolicyConfig } from '../ledger/pg/publisher.ts';
import { intOption, UsageError } from './args.ts';

export function logVerifierKeys(env: NodeJS.ProcessEnv): VerifierKey[] {
  const text = env.ONEWINDOW_LOG_PUBLIC_KEY?.trim();
  if (!text) throw new UsageError('ONEWINDOW_LOG_PUBLIC_KEY is not set: the log verifier key(s)');
  return text.split(/\s+/).map((key) => {
    try {
      return parseVerifierKey(key);
    } catch (error) {
      throw new UsageError(`ONEWINDOW_LOG_PUBLIC_KEY: ${(error as Error).message}`);
    }
  });
}

export function witnessPolicy(env: NodeJS.ProcessEnv): WitnessPolicyConfig {
  const entries = (env.ONEWINDOW_WITNESSES ?? '').trim().split(/\s+/).filter(Boolean);
  const witnesses = entries.map((entry) => {
    const at = entry.indexOf('@');
    if (at < 0)
      throw new UsageError(
        `ONEWINDOW_WITNESSES: expected <verifier key>@<url>, got ${JSON.stringify(entry)}`,
      );
    try {
      const url = new URL(entry.slice(at + 1));
      return { key: parseCosignerVerifierKey(entry.slice(0, at)), url: url.toString() };
    } catch (error) {
      throw new UsageError(`ONEWINDOW_WITNESSES: ${(error as Error).message}`);
    }
  });
  const threshold = intOption(
    env.ONEWINDOW_WITNESS_THRESHOLD,
    'ONEWINDOW_WITNESS_THRESHOLD',
    witnesses.length === 0 ? 0 : Math.floor(witnesses.length / 2) + 1,
    0,
    witnesses.length,
  );
  return { witnesses, threshold };
}
