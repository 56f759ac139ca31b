import { describe, expect, it } from 'vitest';
import { toBase64 } from './bytes.ts';
import { agencyKeyName, formatVerifierKey, keyIdOf, signingKey } from './keys.ts';
import { loadTrust, TrustFileError, type TrustFile } from './trust.ts';

// Deterministic keys: seed = 32 copies of one byte.
const log = signingKey('trust.test/log', new Uint8Array(32).fill(1));
const water = signingKey(agencyKeyName('water'), new Uint8Array(32).fill(2));
const gas = signingKey(agencyKeyName('gas'), new Uint8Array(32).fill(3));

const anchor = (key: typeof water, agency: string) => ({
  keyId: key.keyId,
  agency,
  publicKey: toBase64(key.publicKey),
  validFrom: '2026-01-01T00:00:00Z',
});

const trustFile = (agencyKeys: TrustFile['agencyKeys']): TrustFile => ({
  origin: 'trust.test/log',
  logKeys: [formatVerifierKey(log.name, log.publicKey)],
  witnesses: [],
  witnessThreshold: 0,
  agencyKeys,
});

describe("a trust file's agency keys", () => {
  it('are taken when each id is the id of its public key', () => {
    const trust = loadTrust(trustFile([anchor(water, 'water'), anchor(gas, 'gas')]));
    expect(trust.agencyKeys.map((k) => k.keyId)).toEqual([water.keyId, gas.keyId]);
  });

  it('refuse an id listed with another public key, naming the id that key has', () => {
    const swapped = { ...anchor(water, 'water'), publicKey: toBase64(gas.publicKey) };
    const load = () => loadTrust(trustFile([swapped]));
    expect(load).toThrow(TrustFileError);
    expect(load).toThrow(
      `trust file: agency key ${water.keyId}: its id does not match its public key (the key's id under that name is ${keyIdOf(agencyKeyName('water'), gas.publicKey)})`,
    );
  });

  it('refuse one key listed for two agencies, under one name or two', () => {
    const load = () => loadTrust(trustFile([anchor(water, 'water'), anchor(water, 'gas')]));
    expect(load).toThrow(
      `trust file: agency key ${water.keyId} is the public key of ${water.keyId}, listed for both water and gas`,
    );
    // The same public key under gas's name: another id, the same signer.
    const renamed = signingKey(agencyKeyName('gas'), new Uint8Array(32).fill(2));
    const twoNames = () => loadTrust(trustFile([anchor(water, 'water'), anchor(renamed, 'gas')]));
    expect(twoNames).toThrow(
      `trust file: agency key ${renamed.keyId} is the public key of ${water.keyId}, listed for both water and gas`,
    );
  });

  it('keep one key listed twice for its agency', () => {
    const twice = loadTrust(trustFile([anchor(water, 'water'), anchor(water, 'water')]));
    expect(twice.agencyKeys).toHaveLength(2);
  });
});
