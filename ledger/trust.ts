// What an independent verifier trusts, and nothing more: the log's origin and keys, the
// witnesses and the k-of-n policy, and the agencies' statement keys with their validity.
// Each agency can assemble this from keys published out of band; no operator is needed.
import { z } from 'zod';
import { fromBase64, toBase64 } from './bytes.ts';
import { isUnusablePublicKey, UNUSABLE_KEY } from './ed25519.ts';
import type { TrustedAgencyKey } from './audit.ts';
import { parseCosignerVerifierKey, type WitnessPolicy } from './cosignature.ts';
import { keyIdOf, parseVerifierKey, type VerifierKey } from './keys.ts';

export const TrustFile = z
  .object({
    origin: z.string().min(1),
    logKeys: z.array(z.string()).min(1, 'must name at least one log verifier key'),
    witnesses: z.array(z.string()),
    witnessThreshold: z.number().int().nonnegative(),
    agencyKeys: z.array(
      z.object({
        keyId: z.string(),
        agency: z.string(),
        publicKey: z.string(),
        validFrom: z.iso.datetime({ offset: true }),
        validUntil: z.iso.datetime({ offset: true }).nullable().optional(),
      }),
    ),
  })
  .refine((t) => t.witnessThreshold <= t.witnesses.length, {
    message: 'must not exceed the number of witnesses',
    path: ['witnessThreshold'],
  });
export type TrustFile = z.infer<typeof TrustFile>;

export interface Trust {
  origin: string;
  logKeys: VerifierKey[];
  policy: WitnessPolicy;
  agencyKeys: TrustedAgencyKey[];
}

export class TrustFileError extends Error {
  override name = 'TrustFileError';
}

/** Parses and checks a trust file. @throws TrustFileError naming the field at fault. */
export function loadTrust(json: unknown): Trust {
  const parsed = TrustFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TrustFileError(`trust file: ${issue.path.join('.')}: ${issue.message}`);
  }
  const t = parsed.data;
  try {
    const logKeys = distinctLogKeys(t.logKeys.map(parseVerifierKey));
    return {
      origin: t.origin,
      logKeys,
      policy: {
        witnesses: notTheLog(
          distinctWitnessKeys(t.witnesses.map(parseCosignerVerifierKey)),
          logKeys,
        ),
        threshold: t.witnessThreshold,
      },
      agencyKeys: distinctAgencyKeys(
        t.agencyKeys.map((k) => {
          const publicKey = fromBase64(k.publicKey);
          if (publicKey.length !== 32) throw new Error(`agency key ${k.keyId} must be 32 bytes`);
          if (isUnusablePublicKey(publicKey))
            throw new Error(`agency key ${k.keyId} ${UNUSABLE_KEY}`);
          // A key id names one public key (C2SP signed-note: the name and a hash of the key):
          // statements name their key by id, so an id listed with another key would have the
          // verifier check them under a key that is not the one named.
          const name = k.keyId.slice(0, k.keyId.lastIndexOf('+'));
          if (name === '' || keyIdOf(name, publicKey) !== k.keyId)
            throw new Error(
              `agency key ${k.keyId}: its id does not match its public key (the key's id under that name is ${keyIdOf(name || k.keyId, publicKey)})`,
            );
          return { ...k, publicKey };
        }),
      ),
    };
  } catch (error) {
    throw new TrustFileError(`trust file: ${(error as Error).message}`);
  }
}

/**
 * The agency keys, refusing one public key listed for two agencies: its holder would sign for
 * both. The same key listed twice for its agency stays (KeyTimeline trusts it only where both
 * windows agree).
 */
function distinctAgencyKeys(keys: TrustedAgencyKey[]): TrustedAgencyKey[] {
  // By public key, not by id: one key under two names has two ids, and would sign for both.
  const agencies = new Map<string, { agency: string; keyId: string }>();
  for (const k of keys) {
    const publicKey = toBase64(k.publicKey);
    const other = agencies.get(publicKey);
    if (other !== undefined && other.agency !== k.agency)
      throw new Error(
        `agency key ${k.keyId} is the public key of ${other.keyId}, listed for both ${other.agency} and ${k.agency}`,
      );
    agencies.set(publicKey, { agency: k.agency, keyId: k.keyId });
  }
  return keys;
}

/**
 * The witnesses, refusing one public key under two names: tlog-cosignature's signed message
 * does not commit to the cosigner's name, so one holder of the key could sign once and show
 * the signature under both, counting twice towards the policy.
 */
function distinctWitnessKeys(witnesses: WitnessPolicy['witnesses']): WitnessPolicy['witnesses'] {
  const names = new Map<string, string>();
  for (const w of witnesses) {
    const key = toBase64(w.publicKey);
    const other = names.get(key);
    if (other !== undefined)
      throw new Error(
        other === w.name
          ? `witnesses: ${w.name} is listed twice`
          : `witnesses: ${other} and ${w.name} have the same public key; one key counts as one witness`,
      );
    names.set(key, w.name);
  }
  return witnesses;
}

/** The log's keys, refusing one listed twice (a note's verifier would refuse it as ambiguous). */
function distinctLogKeys(keys: VerifierKey[]): VerifierKey[] {
  const seen = new Set<string>();
  for (const k of keys) {
    const key = toBase64(k.publicKey);
    if (seen.has(key)) throw new Error(`logKeys: ${k.name} is listed twice`);
    seen.add(key);
  }
  return keys;
}

/**
 * The witnesses, refusing one whose key is the log's: witnesses stand for parties other than
 * the operator, and the operator's own cosignature would count towards k of n.
 */
function notTheLog(
  witnesses: WitnessPolicy['witnesses'],
  logKeys: readonly VerifierKey[],
): WitnessPolicy['witnesses'] {
  const logs = new Set(logKeys.map((k) => toBase64(k.publicKey)));
  for (const w of witnesses)
    if (logs.has(toBase64(w.publicKey)))
      throw new Error(`witnesses: ${w.name} has a key of the log; the log cannot witness itself`);
  return witnesses;
}

export function agencyKeyJson(key: TrustedAgencyKey): TrustFile['agencyKeys'][number] {
  return { ...key, publicKey: toBase64(key.publicKey) };
}

/** An offline receipt: one entry, its inclusion proof, and the cosigned checkpoint it is bound to. */
/** Standard base64 (RFC 4648 §4), as `fromBase64` reads it. */
const base64Text = z.string().refine(
  (text) => {
    try {
      fromBase64(text);
      return true;
    } catch {
      return false;
    }
  },
  { error: 'must be standard base64' },
);

export const Receipt = z.object({
  type: z.literal('onewindow.receipt/v1'),
  origin: z.string(),
  index: z.number().int().nonnegative(),
  size: z.number().int().positive(),
  entry: base64Text,
  inclusionProof: z.array(base64Text),
  checkpoint: z.string(),
});
export type Receipt = z.infer<typeof Receipt>;
