import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { KeyNotAuthorizedError } from '../../domain/errors.ts';
import { agencyKeyName, keyIdOf, signingKey } from '../keys.ts';
import { KeyRegistry, registerAgencyKey } from './keyRegistry.ts';

// Deterministic key: seed = 32 copies of one byte.
const water = signingKey(agencyKeyName('water'), new Uint8Array(32).fill(4));
const REVOKED_AT = new Date('2026-03-01T00:00:00Z');

/** The two tables `authorize` reads: the water key's row, and its revocations. */
function registryPool(revocations: Date[]): pg.Pool {
  return {
    query: (query: string | { name: string }) =>
      Promise.resolve(
        typeof query === 'string'
          ? {
              rows: [
                {
                  key_id: water.keyId,
                  agency: 'water',
                  public_key: Buffer.from(water.publicKey),
                  valid_from: new Date('2026-01-01T00:00:00Z'),
                  valid_until: null,
                },
              ],
            }
          : { rows: revocations.map((at) => ({ key_id: water.keyId, revoked_at: at })) },
      ),
  } as unknown as pg.Pool;
}

describe('KeyRegistry.authorize', () => {
  it('accepts a key that no revocation names, within its window', async () => {
    const key = await new KeyRegistry(registryPool([])).authorize(
      water.keyId,
      'water',
      '2026-02-15T00:00:00Z',
    );
    expect(key.keyId).toBe(water.keyId);
  });

  // A revocation row follows its key.revoke in the log: whatever is appended now comes after
  // it, and the holder of a compromised key chooses the issuedAt it signs.
  it.each(['2026-02-15T00:00:00Z', '2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z'])(
    'refuses a revoked key for a statement issued at %s, before its revokedAt or not',
    async (issuedAt) => {
      const registry = new KeyRegistry(registryPool([REVOKED_AT]));
      const refused = registry.authorize(water.keyId, 'water', issuedAt);
      await expect(refused).rejects.toBeInstanceOf(KeyNotAuthorizedError);
      await expect(refused).rejects.toThrow(
        `key ${water.keyId} was revoked at ${REVOKED_AT.toISOString()} and signs nothing appended after its revocation; statement issued at ${issuedAt}`,
      );
    },
  );
});

describe('registerAgencyKey', () => {
  it('refuses a public key of small order before writing anything, naming the key', async () => {
    const queries: string[] = [];
    const pool = {
      query: (query: string) => {
        queries.push(query);
        return Promise.resolve({ rows: [] });
      },
    } as unknown as pg.Pool;
    const identity = new Uint8Array(32);
    identity[0] = 1; // the identity point: R = B, S = 1 verify under it for any message
    await expect(
      registerAgencyKey(pool, {
        keyId: keyIdOf(agencyKeyName('water'), identity),
        agency: 'water',
        publicKey: identity,
        validFrom: new Date('2026-01-01T00:00:00Z'),
      }),
    ).rejects.toThrow(
      `key ${keyIdOf(agencyKeyName('water'), identity)} of water is no usable Ed25519 public key (no curve point, or one of small order, for which anyone can make a signature verify); refusing to register it`,
    );
    expect(queries).toEqual([]);
  });
});
