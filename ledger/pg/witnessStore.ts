// A witness's state in PostgreSQL. tlog-witness requires checking the old size and storing
// the new checkpoint atomically; a transaction-scoped advisory lock per (witness, origin)
// makes the read, the decision and the write one step.
import type pg from 'pg';
import { splitNote } from '../note.ts';
import {
  decideAddCheckpoint,
  parseAddCheckpoint,
  type WitnessAnswer,
  type WitnessConfig,
} from '../witness.ts';

function originOf(body: string): string | undefined {
  const request = parseAddCheckpoint(body);
  if (typeof request === 'string') return undefined;
  try {
    return splitNote(request.note).text.split('\n')[0];
  } catch {
    return undefined;
  }
}

export async function addCheckpoint(
  pool: pg.Pool,
  config: WitnessConfig,
  body: string,
): Promise<WitnessAnswer> {
  const witness = config.key.name;
  const origin = originOf(body);
  if (origin === undefined || !config.logs.has(origin))
    return decideAddCheckpoint(config, body, () => undefined);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [
      witness,
      origin,
    ]);
    const { rows } = await client.query<{ size: string; root_hash: Buffer }>(
      'SELECT size, root_hash FROM witness_state WHERE witness = $1 AND origin = $2',
      [witness, origin],
    );
    const row = rows[0];
    const state = row && { size: Number(row.size), rootHash: new Uint8Array(row.root_hash) };
    const answer = decideAddCheckpoint(config, body, () => state);
    if (answer.status === 200) {
      await client.query(
        `INSERT INTO witness_state (witness, origin, size, root_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (witness, origin) DO UPDATE SET size = EXCLUDED.size, root_hash = EXCLUDED.root_hash, updated_at = now()`,
        [witness, origin, answer.checkpoint.size, Buffer.from(answer.checkpoint.rootHash)],
      );
    } else if (answer.alarm) {
      await client.query(
        'INSERT INTO witness_alarms (witness, origin, reason, request) VALUES ($1, $2, $3, $4)',
        [witness, origin, answer.alarm, body],
      );
    }
    await client.query('COMMIT');
    return answer;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
