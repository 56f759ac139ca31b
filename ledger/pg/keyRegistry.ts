// The agency key registry: which Ed25519 key may sign for which agency, and when.
import type pg from 'pg';
import { KeyNotAuthorizedError, UnknownKeyError } from '../../domain/errors.ts';

export interface AgencyKey {
  keyId: string;
  agency: string;
  publicKey: Uint8Array;
  validFrom: Date;
  validUntil: Date | null;
}

export async function registerAgencyKey(
  pool: pg.Pool,
  key: Omit<AgencyKey, 'validUntil'> & { validUntil?: Date | null },
): Promise<void> {
  await pool.query(
    `INSERT INTO agency_keys (key_id, agency, public_key, valid_from, valid_until) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (key_id) DO NOTHING`,
    [key.keyId, key.agency, Buffer.from(key.publicKey), key.validFrom, key.validUntil ?? null],
  );
}

/** Looks keys up by id; caches what it found, since registered keys never change in place. */
export class KeyRegistry {
  private readonly cache = new Map<string, AgencyKey>();

  constructor(private readonly pool: pg.Pool) {}

  async get(keyId: string): Promise<AgencyKey> {
    const cached = this.cache.get(keyId);
    if (cached) return cached;
    const { rows } = await this.pool.query<{
      key_id: string;
      agency: string;
      public_key: Buffer;
      valid_from: Date;
      valid_until: Date | null;
    }>(
      'SELECT key_id, agency, public_key, valid_from, valid_until FROM agency_keys WHERE key_id = $1',
      [keyId],
    );
    const row = rows[0];
    if (!row) throw new UnknownKeyError(`no agency key is registered with id ${keyId}`);
    const key: AgencyKey = {
      keyId: row.key_id,
      agency: row.agency,
      publicKey: new Uint8Array(row.public_key),
      validFrom: row.valid_from,
      validUntil: row.valid_until,
    };
    this.cache.set(keyId, key);
    return key;
  }

  /** The key that may sign for `agency` at `issuedAt`, or a typed error saying why not. */
  async authorize(keyId: string, agency: string, issuedAt: string): Promise<AgencyKey> {
    const key = await this.get(keyId);
    if (key.agency !== agency) {
      throw new KeyNotAuthorizedError(
        `key ${keyId} belongs to agency ${key.agency}, statement is for ${agency}`,
      );
    }
    const at = new Date(issuedAt);
    if (at < key.validFrom || (key.validUntil && at >= key.validUntil)) {
      throw new KeyNotAuthorizedError(
        `key ${keyId} is valid from ${key.validFrom.toISOString()} until ${key.validUntil?.toISOString() ?? 'revoked'}, statement issued at ${issuedAt}`,
      );
    }
    return key;
  }
}
