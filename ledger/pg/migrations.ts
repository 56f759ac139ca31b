// Schema migrations, applied in order at start by the database owner. The application
// connects as APP_ROLE, which may only INSERT and SELECT the ledger's tables; triggers
// refuse UPDATE, DELETE and TRUNCATE even for roles that hold those privileges.
import type pg from 'pg';

export const APP_ROLE = 'onewindow_app';

export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'ledger and cases',
    sql: `
CREATE FUNCTION onewindow_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TABLE agency_keys (
  key_id      text PRIMARY KEY,
  agency      text NOT NULL,
  public_key  bytea NOT NULL CHECK (length(public_key) = 32),
  valid_from  timestamptz NOT NULL,
  valid_until timestamptz,
  registered_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entries (
  idx          bigint PRIMARY KEY CHECK (idx >= 0),
  statement_id text NOT NULL UNIQUE,
  case_id      text NOT NULL,
  entry        bytea NOT NULL,
  leaf_hash    bytea NOT NULL CHECK (length(leaf_hash) = 32),
  sequenced_at timestamptz NOT NULL
);
CREATE INDEX ledger_entries_case_id ON ledger_entries (case_id, idx);

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER agency_keys_append_only BEFORE UPDATE OR DELETE ON agency_keys
  FOR EACH ROW EXECUTE FUNCTION onewindow_refuse_change();

-- Off-ledger: which case runs in which workflow. Personal data lives in case_secrets,
-- erasable on request; the ledger holds only commitments to it.
CREATE TABLE cases (
  case_id     text PRIMARY KEY,
  unit_id     text NOT NULL,
  workflow_id text NOT NULL,
  run_id      text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_unit_id ON cases (unit_id, created_at);

CREATE TABLE case_secrets (
  case_id     text PRIMARY KEY REFERENCES cases (case_id),
  salt        bytea NOT NULL CHECK (length(salt) >= 16),
  application jsonb NOT NULL
);
`,
  },
];

/** Applies pending migrations under an advisory lock, so concurrent starts do not race. */
export async function migrate(pool: pg.Pool, appPassword?: string): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock(7001)');
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
          migration.version,
          migration.name,
        ]);
        await client.query('COMMIT');
        applied.push(migration.version);
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
    if (appPassword !== undefined) await grantAppRole(client, appPassword);
  } finally {
    await client.query('SELECT pg_advisory_unlock(7001)').catch(() => undefined);
    client.release();
  }
  return applied;
}

/** Creates (or re-keys) the application role with its least privileges. */
async function grantAppRole(client: pg.PoolClient, password: string): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [APP_ROLE]);
  const quoted = `'${password.replaceAll("'", "''")}'`;
  if (exists.rowCount === 0) await client.query(`CREATE ROLE ${APP_ROLE} LOGIN PASSWORD ${quoted}`);
  else await client.query(`ALTER ROLE ${APP_ROLE} PASSWORD ${quoted}`);
  await client.query(`GRANT SELECT, INSERT ON ledger_entries, agency_keys TO ${APP_ROLE}`);
  await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON cases, case_secrets TO ${APP_ROLE}`);
  await client.query(`GRANT SELECT ON schema_migrations TO ${APP_ROLE}`);
}
