// How processes learn about the log and its witnesses from the environment:
//   ONEWINDOW_LOG_ORIGIN            the log's origin line
//   ONEWINDOW_LOG_PUBLIC_KEY        the log's verifier key(s), space-separated (rotation)
//   ONEWINDOW_WITNESSES             space-separated <cosigner verifier key>@<add-checkpoint URL prefix>
//   ONEWINDOW_WITNESS_THRESHOLD     k of n
// and where a server listens (--host, by the rule of HOST).
// The rules and messages live in infra/config.ts; these are the parts a command needs alone.
import { z } from 'zod';
import { configFields, loadConfig, witnessPolicyOf, withWitnessCheck } from '../infra/config.ts';
import { UsageError } from './args.ts';
import type { VerifierKey } from '../ledger/keys.ts';
import type { WitnessPolicyConfig } from '../ledger/pg/publisher.ts';

/** The log's verifier keys. @throws ConfigError (a UsageError) naming ONEWINDOW_LOG_PUBLIC_KEY. */
export function logVerifierKeys(env: NodeJS.ProcessEnv): VerifierKey[] {
  return loadConfig(
    z.object({ ONEWINDOW_LOG_PUBLIC_KEY: configFields.ONEWINDOW_LOG_PUBLIC_KEY }),
    env,
  ).ONEWINDOW_LOG_PUBLIC_KEY;
}

/** The witnesses and k of n. @throws ConfigError (a UsageError) naming the variable. */
export function witnessPolicy(env: NodeJS.ProcessEnv): WitnessPolicyConfig {
  return witnessPolicyOf(
    loadConfig(
      withWitnessCheck(
        z.object({
          ONEWINDOW_WITNESSES: configFields.ONEWINDOW_WITNESSES,
          ONEWINDOW_WITNESS_THRESHOLD: configFields.ONEWINDOW_WITNESS_THRESHOLD,
        }),
      ),
      env,
    ),
  );
}

/**
 * `--host` by the rule of HOST: an address with no space or slash, and empty is HOST's
 * default, loopback (127.0.0.1, whatever HOST says), where Node would take it as every
 * interface. `undefined` when not given.
 * @throws UsageError naming --host and what it got.
 */
export function hostOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const host = configFields.HOST.safeParse(value);
  if (!host.success) throw new UsageError(`--host ${host.error.issues[0]?.message}`);
  return host.data;
}
