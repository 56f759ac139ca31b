// A witness's own database. An agency's witness is there so the agencies need not trust the
// log's operator (ARCHITECTURE.md §3); a witness keeping its state in the log's database
// leaves that state in the operator's hands: the database's owner can delete the rows. With
// ONEWINDOW_WITNESS_DATABASE_URL the witness keeps it in a database of the agency's instead,
// and creates there only the two tables witnessStore.ts reads and writes: the same columns
// as the log's migrations 2 and 9 give them (test/integration/witnessDatabase.test.ts holds
// the two to each other), append-only in the same way.
import type pg from 'pg';

const WITNESS_SCHEMA = `
CREATE OR REPLACE FUNCTION onewindow_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

-- Every checkpoint this witness cosigned, with its own cosignature line; its state for a
-- log is the largest size whose row that cosignature verifies (witnessStore.ts).
CREATE TABLE witness_checkpoints (
  id              bigserial PRIMARY KEY,
  witness         text NOT NULL,
  public_key      bytea CHECK (length(public_key) = 32),
  origin          text NOT NULL,
  size            bigint NOT NULL CHECK (size >= 0),
  root_hash       bytea NOT NULL CHECK (length(root_hash) = 32),
  checkpoint_body text,
  cosignature     text,
  -- Only the log's migration 9 sets it (rows carried over there); never true here.
  migrated        boolean NOT NULL DEFAULT false,
  cosigned_at     timestamptz NOT NULL DEFAULT now(),
  CHECK (migrated OR (public_key IS NOT NULL AND checkpoint_body IS NOT NULL AND cosignature IS NOT NULL))
);
CREATE INDEX witness_checkpoints_latest
  ON witness_checkpoints (witness, origin, public_key, size DESC, id DESC);

-- What the witness refused and why: evidence of a misbehaving log.
CREATE TABLE witness_alarms (
  id         bigserial PRIMARY KEY,
  witness    text NOT NULL,
  origin     text NOT NULL,
  reason     text NOT NULL,
  request    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER witness_checkpoints_append_only BEFORE UPDATE OR DELETE ON witness_checkpoints
  FOR EACH ROW EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER witness_checkpoints_no_truncate BEFORE TRUNCATE ON witness_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER witness_alarms_append_only BEFORE UPDATE OR DELETE ON witness_alarms
  FOR EACH ROW EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER witness_alarms_no_truncate BEFORE TRUNCATE ON witness_alarms
  FOR EACH STATEMENT EXECUTE FUNCTION onewindow_refuse_change();
`;

/**
 * Creates the witness's tables in `pool`'s database unless they are there (a database the
 * witness made before, or the log's own, whose migrations made them). Concurrent starts
 * take turns on an advisory lock.
 * @returns whether it created them.
 */
export async function prepareWitnessDatabase(pool: pg.Pool): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Not the migrations' 7001 nor the sequencer's 7002, should this be the log's database.
    await client.query('SELECT pg_advisory_xact_lock(7003)');
    const { rows } = await client.query<{ present: boolean }>(
      "SELECT to_regclass('witness_checkpoints') IS NOT NULL AND to_regclass('witness_alarms') IS NOT NULL AS present",
    );
    if (rows[0]!.present) {
      await client.query('COMMIT');
      return false;
    }
    await client.query(WITNESS_SCHEMA);
    await client.query('COMMIT');
    return true;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
