// A witness's state in PostgreSQL. tlog-witness requires checking the old size and storing
// the new checkpoint atomically; a transaction-scoped advisory lock per (witness, origin)
// makes the read, the decision and the write one step. The state is append-only
// (witness_checkpoints, migration 9): each cosigned checkpoint is a row with the witness's
// own cosignature, and the state is the largest size whose row that cosignature verifies.
import type pg from 'pg';
import { bytesEqual } from '../bytes.ts';
import {
  decideOpenedAddCheckpoint,
  openAddCheckpoint,
  stateFromRecord,
  type WitnessAnswer,
  type WitnessConfig,
  type WitnessState,
} from '../witness.ts';

export async function addCheckpoint(
  pool: pg.Pool,
  config: WitnessConfig,
  body: string,
): Promise<WitnessAnswer> {
  const witness = config.key.name;
  // What needs no state is decided before a connection and the lock are taken: a flood of
  // requests the log never signed must not queue the log's own behind it.
  const opened = openAddCheckpoint(config, body);
  if ('status' in opened) return opened;
  const { origin } = opened;
  const client = await pool.connect();
  try {
    // READ COMMITTED whatever the database's default: under REPEATABLE READ the lock's own
    // statement takes the snapshot, before the wait, so a request that waited on another
    // would read the state from before that one's commit and could cosign a second
    // checkpoint of the same size (a split view) without an alarm.
    await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [
      witness,
      origin,
    ]);
    const { state, forged } = await latestCosigned(client, config, witness, origin);
    // Reported once each: the rows cannot be deleted, and every request reads past them.
    for (const size of forged)
      await alarmOnce(
        client,
        [witness, origin],
        `stored state of size ${size} does not carry this witness's cosignature: ignored`,
        body,
      );
    const answer = decideOpenedAddCheckpoint(config, opened, state);
    if (answer.status === 200) {
      // The checkpoint it holds, cosigned again, needs no second row.
      const cosignedBefore =
        state?.size === answer.checkpoint.size &&
        bytesEqual(state.rootHash, answer.checkpoint.rootHash);
      if (!cosignedBefore)
        await client.query(
          `INSERT INTO witness_checkpoints (witness, origin, size, root_hash, checkpoint_body, cosignature, public_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            witness,
            origin,
            answer.checkpoint.size,
            Buffer.from(answer.checkpoint.rootHash),
            answer.checkpointBody,
            answer.body,
            Buffer.from(config.key.publicKey),
          ],
        );
    } else if (answer.alarm) {
      // Once each: the same request sent again (by anyone) adds no row to a table that
      // cannot be cleaned up; each alarm's reason names its checkpoint.
      await alarmOnce(client, [witness, origin], answer.alarm, body);
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

/** Records an alarm unless one with the same reason is there (witness_alarms is append-only). */
async function alarmOnce(
  client: pg.PoolClient,
  [witness, origin]: [string, string],
  reason: string,
  request: string,
): Promise<void> {
  await client.query(
    `INSERT INTO witness_alarms (witness, origin, reason, request)
     SELECT $1, $2, $3, $4 WHERE NOT EXISTS
       (SELECT 1 FROM witness_alarms WHERE witness = $1 AND origin = $2 AND reason = $3)`,
    [witness, origin, reason, request],
  );
}

/** Rows without the witness's cosignature read past before the witness stops answering. */
const MAX_UNCOSIGNED_ROWS = 64;

interface CosignedRow {
  id: string;
  size: string;
  root_hash: Buffer;
  checkpoint_body: string | null;
  cosignature: string | null;
  migrated: boolean;
}

/**
 * The witness's state for `origin`: the largest cosigned checkpoint whose row, stored under
 * the witness's current key, carries that key's cosignature (or was carried over by migration
 * 9), and the sizes of any larger rows under that key that do not (written by someone without
 * the key), which the caller reports. Rows of an earlier key of the witness are not read.
 */
async function latestCosigned(
  client: pg.PoolClient,
  config: WitnessConfig,
  witness: string,
  origin: string,
): Promise<{ state: WitnessState | undefined; forged: number[] }> {
  const forged: number[] = [];
  let unverified = 0;
  // Keyset paging on (size, id): several rows may hold one size.
  let below: { size: string; id: string } | undefined;
  for (;;) {
    // Fail closed rather than read without end past rows someone else wrote.
    if (unverified >= MAX_UNCOSIGNED_ROWS)
      throw new Error(
        `witness ${witness}: more than ${MAX_UNCOSIGNED_ROWS} stored states of ${origin} above its own lack its cosignature; refusing to cosign until they are looked into`,
      );
    const { rows }: pg.QueryResult<CosignedRow> = await client.query<CosignedRow>(
      `SELECT id, size, root_hash, checkpoint_body, cosignature, migrated FROM witness_checkpoints
        WHERE witness = $1 AND origin = $2 AND (public_key = $3 OR migrated)
          AND ($4::bigint IS NULL OR (size, id) < ($4, $5::bigint))
        ORDER BY size DESC, id DESC LIMIT 16`,
      [witness, origin, Buffer.from(config.key.publicKey), below?.size ?? null, below?.id ?? null],
    );
    if (rows.length === 0) return { state: undefined, forged };
    for (const row of rows) {
      const rootHash = new Uint8Array(row.root_hash);
      const state = row.migrated
        ? { size: Number(row.size), rootHash }
        : stateFromRecord(
            {
              size: Number(row.size),
              rootHash,
              checkpointBody: row.checkpoint_body ?? '',
              cosignature: row.cosignature ?? '',
            },
            config.key,
            origin,
          );
      if (state) return { state, forged };
      unverified++;
      if (!forged.includes(Number(row.size))) forged.push(Number(row.size));
    }
    below = rows.at(-1)!;
  }
}
