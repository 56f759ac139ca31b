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
  {
    version: 2,
    name: 'tree, checkpoints, cosignatures, witness state',
    sql: `
-- Perfect-subtree hashes above the leaves (level >= 1; leaf hashes live with the entries).
-- Each is written once, when the append that completes its subtree commits.
CREATE TABLE tree_nodes (
  level smallint NOT NULL CHECK (level >= 1 AND level < 64),
  idx   bigint   NOT NULL CHECK (idx >= 0),
  hash  bytea    NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
);

-- Every checkpoint the log signed (one per committed batch), in C2SP signed-note form.
CREATE TABLE checkpoints (
  size       bigint PRIMARY KEY CHECK (size > 0),
  root_hash  bytea NOT NULL CHECK (length(root_hash) = 32),
  note       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Witness cosignatures (C2SP tlog-cosignature) received for a checkpoint.
CREATE TABLE cosignatures (
  size           bigint NOT NULL REFERENCES checkpoints (size),
  witness        text NOT NULL,
  signature_line text NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (size, witness)
);

-- Checkpoints whose witness policy was met: the note carries the log signature and the cosignatures.
CREATE TABLE published_checkpoints (
  size         bigint PRIMARY KEY REFERENCES checkpoints (size),
  note         text NOT NULL,
  published_at timestamptz NOT NULL DEFAULT now()
);

-- A witness's latest cosigned checkpoint per log (C2SP tlog-witness), updated by compare-and-set.
CREATE TABLE witness_state (
  witness    text NOT NULL,
  origin     text NOT NULL,
  size       bigint NOT NULL,
  root_hash  bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (witness, origin)
);

-- What witnesses refused and why: evidence of a misbehaving log, kept for the operators.
CREATE TABLE witness_alarms (
  id         bigserial PRIMARY KEY,
  witness    text NOT NULL,
  origin     text NOT NULL,
  reason     text NOT NULL,
  request    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER tree_nodes_append_only BEFORE UPDATE OR DELETE ON tree_nodes
  FOR EACH ROW EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
  FOR EACH ROW EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER cosignatures_append_only BEFORE UPDATE OR DELETE ON cosignatures
  FOR EACH ROW EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER published_checkpoints_append_only BEFORE UPDATE OR DELETE ON published_checkpoints
  FOR EACH ROW EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER witness_alarms_append_only BEFORE UPDATE OR DELETE ON witness_alarms
  FOR EACH ROW EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER tree_nodes_no_truncate BEFORE TRUNCATE ON tree_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER cosignatures_no_truncate BEFORE TRUNCATE ON cosignatures
  FOR EACH STATEMENT EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER published_checkpoints_no_truncate BEFORE TRUNCATE ON published_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER agency_keys_no_truncate BEFORE TRUNCATE ON agency_keys
  FOR EACH STATEMENT EXECUTE FUNCTION onewindow_refuse_change();
`,
  },
  {
    version: 3,
    name: 'notifications',
    sql: `
-- Reminders and notices for whoever owes an action; no personal data beyond the case id.
CREATE TABLE notifications (
  id         bigserial PRIMARY KEY,
  case_id    text NOT NULL,
  party      text NOT NULL,
  kind       text NOT NULL,
  step_id    text NOT NULL,
  message    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_case ON notifications (case_id, id);
`,
  },
  {
    version: 4,
    name: 'agency key revocations',
    sql: `
-- Revocations of agency keys (ledger/keyEvents.ts): agency_keys rows never change, so a
-- revocation is a row of its own, written once its key.revoke statement is in the log.
-- A key with several revocations is revoked from the earliest.
CREATE TABLE agency_key_revocations (
  statement_id text PRIMARY KEY,
  key_id       text NOT NULL REFERENCES agency_keys (key_id),
  revoked_at   timestamptz NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agency_key_revocations_key_id ON agency_key_revocations (key_id, revoked_at);

CREATE TRIGGER agency_key_revocations_append_only BEFORE UPDATE OR DELETE ON agency_key_revocations
  FOR EACH ROW EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER agency_key_revocations_no_truncate BEFORE TRUNCATE ON agency_key_revocations
  FOR EACH STATEMENT EXECUTE FUNCTION onewindow_refuse_change();
`,
  },
  {
    version: 5,
    name: 'case erasure',
    sql: `
-- When a case's personal data was erased: its salt and application are gone from
-- case_secrets and its Temporal history deleted; the ledger keeps only commitments.
ALTER TABLE cases ADD COLUMN erased_at timestamptz;
`,
  },
  {
    version: 6,
    name: 'case applicant',
    sql: `
-- Who applied (the citizen token's subject): a citizen sees only their own cases.
ALTER TABLE cases ADD COLUMN applicant text;
CREATE INDEX cases_applicant ON cases (applicant, created_at);
`,
  },
  {
    version: 7,
    name: 'notification once',
    sql: `
-- The local activity that wrote each notice (its workflow run and activity id, the same on
-- every attempt): a retry after the insert committed finds its notice there and adds none.
-- Notices from before have neither, and NULLs never conflict.
ALTER TABLE notifications ADD COLUMN run_id text, ADD COLUMN activity_id text;
CREATE UNIQUE INDEX notifications_once ON notifications (run_id, activity_id);
`,
  },
  {
    version: 8,
    name: 'escalation notices',
    sql: `
-- The supervisors' list of open escalations (api/escalations.ts) reads escalation notices
-- newest first; they are a small part of all notices, so it gets an index of its own.
CREATE INDEX notifications_escalations ON notifications (id)
  WHERE party = 'supervisor' AND kind = 'escalation';
`,
  },
  {
    version: 9,
    name: 'append-only witness state',
    sql: `
-- Every checkpoint a witness cosigned, with its text and the witness's own cosignature line:
-- append-only, as the ledger's tables. Its state for a log is the largest size whose row its
-- own cosignature verifies (ledger/pg/witnessStore.ts), so whoever can insert here (the log's
-- operator) can neither roll the state back nor forge a row the witness would act on.
CREATE TABLE witness_checkpoints (
  -- No unique key on the size: a row someone else wrote first must never keep the witness's
  -- own row out (the state would stay behind, and the witness cosign a second root there).
  id              bigserial PRIMARY KEY,
  witness         text NOT NULL,
  -- The witness key that cosigned: each key keeps a state of its own, as a new witness
  -- would (a rotated key starts afresh; rows of its earlier key are not forgeries).
  public_key      bytea CHECK (length(public_key) = 32),
  origin          text NOT NULL,
  size            bigint NOT NULL CHECK (size >= 0),
  root_hash       bytea NOT NULL CHECK (length(root_hash) = 32),
  checkpoint_body text,
  cosignature     text,
  -- Carried over from witness_state below, from before witnesses kept their cosignatures. The
  -- application role may not set it (its INSERT grant leaves this column out).
  migrated        boolean NOT NULL DEFAULT false,
  cosigned_at     timestamptz NOT NULL DEFAULT now(),
  CHECK (migrated OR (public_key IS NOT NULL AND checkpoint_body IS NOT NULL AND cosignature IS NOT NULL))
);
CREATE INDEX witness_checkpoints_latest
  ON witness_checkpoints (witness, origin, public_key, size DESC, id DESC);
INSERT INTO witness_checkpoints (witness, origin, size, root_hash, migrated)
  SELECT witness, origin, size, root_hash, true FROM witness_state;
CREATE TRIGGER witness_checkpoints_append_only BEFORE UPDATE OR DELETE ON witness_checkpoints
  FOR EACH ROW EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER witness_checkpoints_no_truncate BEFORE TRUNCATE ON witness_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION onewindow_refuse_change();
-- The old table stays as it was, read by nothing.
CREATE TRIGGER witness_state_append_only BEFORE UPDATE OR DELETE ON witness_state
  FOR EACH ROW EXECUTE FUNCTION onewindow_refuse_change();
CREATE TRIGGER witness_state_no_truncate BEFORE TRUNCATE ON witness_state
  FOR EACH STATEMENT EXECUTE FUNCTION onewindow_refuse_change();
`,
  },
  {
    version: 10,
    name: 'access records',
    sql: `
-- Who read a case's personal data and why (api/access.ts): the access entry on the ledger
-- shows only the reader's role and agency and the fields read, and commits to this record
-- under this salt. Erasing the case deletes its rows (infra/erasure.ts).
CREATE TABLE access_records (
  statement_id text PRIMARY KEY,
  case_id      text NOT NULL,
  salt         bytea NOT NULL CHECK (length(salt) = 32),
  record       jsonb NOT NULL
);
CREATE INDEX access_records_case ON access_records (case_id);
`,
  },
  {
    version: 11,
    name: 'erased cases keep no applicant',
    sql: `
-- Erasure clears who applied (infra/erasure.ts) since this migration; cases erased before
-- it are cleared here.
UPDATE cases SET applicant = NULL WHERE erased_at IS NOT NULL AND applicant IS NOT NULL;
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
  await client.query(
    `GRANT SELECT, INSERT ON ledger_entries, agency_keys, tree_nodes, checkpoints, cosignatures, published_checkpoints, witness_alarms TO ${APP_ROLE}`,
  );
  await client.query(`GRANT USAGE ON SEQUENCE witness_alarms_id_seq TO ${APP_ROLE}`);
  // Written before migration 9, read by nothing since; a witness now only inserts its
  // cosigned checkpoints, and never the `migrated` column.
  await client.query(`REVOKE ALL ON witness_state FROM ${APP_ROLE}`);
  await client.query(
    `GRANT SELECT, INSERT (witness, public_key, origin, size, root_hash, checkpoint_body, cosignature) ON witness_checkpoints TO ${APP_ROLE}`,
  );
  await client.query(`GRANT USAGE ON SEQUENCE witness_checkpoints_id_seq TO ${APP_ROLE}`);
  // DELETE for erasure only (infra/erasure.ts): a notice's message may quote what an agency
  // said about the case.
  await client.query(`GRANT SELECT, INSERT, DELETE ON notifications TO ${APP_ROLE}`);
  await client.query(`GRANT USAGE ON SEQUENCE notifications_id_seq TO ${APP_ROLE}`);
  await client.query(`GRANT SELECT, INSERT ON agency_key_revocations TO ${APP_ROLE}`);
  // DELETE for erasure only (infra/erasure.ts).
  await client.query(`GRANT SELECT, INSERT, DELETE ON access_records TO ${APP_ROLE}`);
  await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON cases, case_secrets TO ${APP_ROLE}`);
  await client.query(`GRANT SELECT ON schema_migrations TO ${APP_ROLE}`);
}
