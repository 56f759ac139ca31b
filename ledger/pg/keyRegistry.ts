// The agency key registry: which Ed25519 key may sign for which agency, and when.
// Rows of agency_keys never change (append-only); a revocation is a row of
// agency_key_revocations. Adding, rotating and revoking a key are ledger entries first
// (ledger/keyEvents.ts): the registry follows the ledger, which stays authoritative.
import type pg from 'pg';
import { KeyNotAuthorizedError, UnknownKeyError } from '../../domain/errors.ts';
import type { Signer } from '../../domain/agency.ts';
import { Entry, type SignedStatement, type Statement } from '../../domain/statement.ts';
import { bytesEqual, toBase64 } from '../bytes.ts';
import { canonicalJson } from '../canonicalJson.ts';
import { isUnusablePublicKey, UNUSABLE_KEY } from '../ed25519.ts';
import {
  KEY_ADD_STEP,
  KEY_REVOKE_STEP,
  KeyAddFacts,
  KeyRevokeFacts,
  keyAddStatement,
  keyEventCaseId,
  keyEventSequence,
  keyRevokeStatement,
  keysDisownedWith,
} from '../keyEvents.ts';
import type { SigningKey } from '../keys.ts';
import { signStatement } from '../statement.ts';

export interface AgencyKey {
  keyId: string;
  agency: string;
  publicKey: Uint8Array;
  validFrom: Date;
  validUntil: Date | null;
}

/**
 * Registers a key without a ledger entry: for the anchors a deployment starts from, which
 * verifiers take from their trust file. Idempotent on the key id: a key row never changes, so
 * registering a key id again keeps the window it was first registered with (a key added by a
 * rotation keeps the one its key.add gave it), and the row returned is the registered one,
 * which is what a trust file must list.
 * @throws Error if the key id is registered for another agency or public key.
 */
export async function registerAgencyKey(
  pool: pg.Pool,
  key: Omit<AgencyKey, 'validUntil'> & { validUntil?: Date | null },
): Promise<AgencyKey> {
  if (isUnusablePublicKey(key.publicKey))
    throw new Error(`key ${key.keyId} of ${key.agency} ${UNUSABLE_KEY}; refusing to register it`);
  await pool.query(
    `INSERT INTO agency_keys (key_id, agency, public_key, valid_from, valid_until) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (key_id) DO NOTHING`,
    [key.keyId, key.agency, Buffer.from(key.publicKey), key.validFrom, key.validUntil ?? null],
  );
  // A statement of its own: under READ COMMITTED it sees the row whichever insert won (the
  // one above waits for a concurrent one to commit), and rows never change (migrations.ts).
  const registered = await new KeyRegistry(pool).get(key.keyId);
  if (registered.agency !== key.agency || !bytesEqual(registered.publicKey, key.publicKey))
    throw new Error(
      `key id ${key.keyId} is registered for ${registered.agency} with public key ${toBase64(registered.publicKey)}; refusing to register it for ${key.agency} with ${toBase64(key.publicKey)}`,
    );
  return registered;
}

/** Appends a signed statement to the log (the sequencer's `append`). */
export type AppendStatement = (
  signed: SignedStatement,
) => Promise<{ entry: Entry; created: boolean }>;

/** The key events already in the log for `agency`, in log order, with when each was logged. */
async function loggedKeyEventsOf(
  pool: pg.Pool,
  agency: Signer,
): Promise<{ statement: Statement; sequencedAt: string }[]> {
  const { rows } = await pool.query<{ entry: Buffer }>(
    'SELECT entry FROM ledger_entries WHERE case_id = $1 ORDER BY idx',
    [keyEventCaseId(agency)],
  );
  return rows.map((row) => Entry.parse(JSON.parse(row.entry.toString('utf8'))));
}

/** The key events already in the log for `agency`, in log order. */
async function keyEventsOf(pool: pg.Pool, agency: Signer): Promise<Statement[]> {
  return (await loggedKeyEventsOf(pool, agency)).map((e) => e.statement);
}

/**
 * Appends the event `build(n)` with the next free sequence number n of its step. Another
 * writer may take the same n at once: the log then answers with its statement, not ours,
 * and we try the next n.
 */
async function appendKeyEvent(
  append: AppendStatement,
  existing: readonly Statement[],
  stepId: string,
  signingKey: SigningKey,
  build: (sequence: number) => Statement,
): Promise<Statement> {
  let sequence =
    Math.max(
      0,
      ...existing.filter((s) => s.stepId === stepId).map((s) => keyEventSequence(s) ?? 0),
    ) + 1;
  for (let attempt = 0; attempt < 5; attempt++, sequence++) {
    const statement = build(sequence);
    const appended = await append(signStatement(statement, signingKey));
    if (appended.created || canonicalJson(appended.entry.statement) === canonicalJson(statement))
      return statement;
  }
  throw new Error(`could not find a free ${stepId} sequence number for ${build(1).caseId}`);
}

/**
 * Adds `newKey` for its agency: appends a `key.add` event signed by `signingKey`, then
 * registers the key. Rotation: `signingKey` is a key of the agency valid now. Bootstrap: it
 * is `newKey` itself, allowed only while the agency has no other key; the row is then written
 * first, since the sequencer accepts only registered keys (verifiers anchor that key out of
 * band). A retry after a failure finds the event in the log and only completes the registry.
 * The key is valid from max(validFrom, now): an event cannot make a key valid before itself.
 * @throws KeyNotAuthorizedError, UnknownKeyError, BadSignatureError (from `append`), RangeError
 */
export async function addAgencyKey(
  pool: pg.Pool,
  append: AppendStatement,
  input: {
    newKey: { keyId: string; agency: Signer; publicKey: Uint8Array };
    signingKey: SigningKey;
    validFrom: Date;
    validUntil?: Date | null;
    now?: () => Date;
  },
): Promise<{ statementId: string; validFrom: Date; validUntil: Date | null }> {
  const { newKey, signingKey } = input;
  const issuedAt = (input.now ?? (() => new Date()))();
  const existing = await keyEventsOf(pool, newKey.agency);
  let event = existing.find(
    (s) => s.stepId === KEY_ADD_STEP && KeyAddFacts.safeParse(s.facts).data?.keyId === newKey.keyId,
  );
  const bootstrap = signingKey.keyId === newKey.keyId;
  const build = (sequence: number) =>
    keyAddStatement({
      agency: newKey.agency,
      key: newKey,
      signingKeyId: signingKey.keyId,
      validFrom: new Date(
        bootstrap
          ? input.validFrom.getTime()
          : Math.max(input.validFrom.getTime(), issuedAt.getTime()),
      ).toISOString(),
      validUntil: input.validUntil?.toISOString() ?? null,
      issuedAt: issuedAt.toISOString(),
      sequence,
    });
  if (!event && bootstrap) {
    build(1); // checks the key and window before anything is written
    const { rows } = await pool.query<{ key_id: string }>(
      'SELECT key_id FROM agency_keys WHERE agency = $1 AND key_id <> $2 LIMIT 1',
      [newKey.agency, newKey.keyId],
    );
    if (rows[0])
      throw new KeyNotAuthorizedError(
        `${newKey.agency} already has key ${rows[0].key_id}: a new key must be added by a valid key of the agency, not by itself`,
      );
    if (input.validFrom > issuedAt)
      throw new RangeError('a self-signed first key must be valid when it signs its own key.add');
    await registerAgencyKey(pool, {
      ...newKey,
      validFrom: input.validFrom,
      validUntil: input.validUntil ?? null,
    });
  }
  event ??= await appendKeyEvent(append, existing, KEY_ADD_STEP, signingKey, build);
  const facts = KeyAddFacts.parse(event.facts);
  const validFrom = new Date(facts.validFrom);
  const validUntil = facts.validUntil === null ? null : new Date(facts.validUntil);
  await registerAgencyKey(pool, { ...newKey, validFrom, validUntil });
  return { statementId: event.statementId, validFrom, validUntil };
}

/** The key asked to sign a revocation is one the revocation disowns (ledger/keyEvents.ts). */
export class DisownedSignerError extends KeyNotAuthorizedError {
  override name = 'DisownedSignerError';
}

/**
 * Revokes `keyId` from `revokedAt` on: appends a `key.revoke` event signed by `signingKey`
 * (any key of the same agency valid now, `keyId` itself included). The sequencer writes the
 * revocation's registry row in the commit that logs the event, and refuses the key from then
 * on, whatever a statement's issuedAt says (even with `revokedAt` in the future), also for a
 * statement whose check ran before the event landed. The insert here only completes the
 * registry for an event logged without its row (before the sequencer wrote them); a retry
 * finds the event in the log, and completes what a run cut short left.
 *
 * A revocation reaches back (ledger/keyEvents.ts): a key that `keyId` got added in the log
 * from `revokedAt` on (from the earliest revocation of it logged, so a retry without the
 * first one's time finishes its work), and any key that one added, is the thief's, and
 * verifiers disown it. Each is revoked here too, by its own event signed by `signingKey`, so
 * that the registry refuses it as they do; unless `signingKey` is `keyId`, which signs no
 * more: those are returned as `notRevoked`, for another valid key to revoke.
 * @throws DisownedSignerError before anything is written when `signingKey` is itself one
 *   of the keys disowned (added by `keyId` after the theft); UnknownKeyError,
 *   KeyNotAuthorizedError, BadSignatureError (from `append`), RangeError
 */
export async function revokeAgencyKey(
  pool: pg.Pool,
  append: AppendStatement,
  input: { keyId: string; signingKey: SigningKey; revokedAt: Date; now?: () => Date },
): Promise<{
  statementId: string;
  /** How far back the revocations of `keyId` reach: the earliest revokedAt logged. */
  from: string;
  alsoRevoked: { keyId: string; statementId: string }[];
  notRevoked: string[];
}> {
  const { rows } = await pool.query<{ agency: Signer }>(
    'SELECT agency FROM agency_keys WHERE key_id = $1',
    [input.keyId],
  );
  const agency = rows[0]?.agency;
  if (!agency) throw new UnknownKeyError(`no agency key is registered with id ${input.keyId}`);
  const revokedAt = input.revokedAt.toISOString();
  const issuedAt = (input.now ?? (() => new Date()))().toISOString();
  const revoke = async (keyId: string, existing: readonly Statement[], at: string) => {
    const build = (sequence: number) =>
      keyRevokeStatement({
        agency,
        keyId,
        signingKeyId: input.signingKey.keyId,
        revokedAt: at,
        issuedAt,
        sequence,
      });
    build(1); // checks the fields before anything is written
    const event =
      existing.find((s) => {
        const facts =
          s.stepId === KEY_REVOKE_STEP ? KeyRevokeFacts.safeParse(s.facts).data : undefined;
        return facts?.keyId === keyId && Date.parse(facts.revokedAt) === Date.parse(at);
      }) ?? (await appendKeyEvent(append, existing, KEY_REVOKE_STEP, input.signingKey, build));
    // A key logged but never registered (an add cut short before its registration) has no
    // row to revoke: the ledger never took it. Nor has a key of another agency: a thief's
    // key.add may name one (its id is public), which the registry refused to register for
    // this agency; the sequencer writes no row for it either (sequencer.ts, as KeyTimeline).
    await pool.query(
      `INSERT INTO agency_key_revocations (key_id, revoked_at, statement_id)
       SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM agency_keys WHERE key_id = $1 AND agency = $4)
       ON CONFLICT (statement_id) DO NOTHING`,
      [keyId, at, event.statementId, agency],
    );
    return event.statementId;
  };
  const logged = await loggedKeyEventsOf(pool, agency);
  const existing = logged.map((e) => e.statement);
  const earliest = existing.reduce((from, s) => {
    const facts = s.stepId === KEY_REVOKE_STEP ? KeyRevokeFacts.safeParse(s.facts).data : undefined;
    return facts?.keyId === input.keyId && Date.parse(facts.revokedAt) < Date.parse(from)
      ? facts.revokedAt
      : from;
  }, revokedAt);
  const disowned = keysDisownedWith(logged, input.keyId, earliest);
  // A key the stolen one added after the theft (a rotation made with it) is disowned with it:
  // its revocations would be too. Nothing is written.
  if (disowned.includes(input.signingKey.keyId))
    throw new DisownedSignerError(
      `${input.signingKey.keyId} was added by ${input.keyId} after ${earliest}, so verifiers disown it with ${input.keyId}: sign with a key of ${agency} that ${input.keyId} did not add after then (one registered out of band and anchored in the verifiers' trust files, docs/deploy.md §6)`,
    );
  // An earlier revocation reaching further stands for this one: nothing new is logged.
  const statementId = await revoke(input.keyId, existing, earliest);
  const canSign = input.signingKey.keyId !== input.keyId;
  const alsoRevoked: { keyId: string; statementId: string }[] = [];
  for (const keyId of canSign ? disowned : [])
    alsoRevoked.push({
      keyId,
      // From the same moment as the furthest revocation of the stolen key reaches.
      statementId: await revoke(keyId, await keyEventsOf(pool, agency), earliest),
    });
  return { statementId, from: earliest, alsoRevoked, notRevoked: canSign ? [] : disowned };
}

/**
 * Looks keys up by id. Key rows never change, so they are cached; revocations are looked up
 * on every check so that one takes effect at once, in one indexed query for all the checks
 * begun together (the sequencer begins a whole check batch at once).
 */
export class KeyRegistry {
  private readonly cache = new Map<string, AgencyKey>();
  private revocations: { keyIds: Set<string>; result: Promise<Map<string, Date>> } | undefined;

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

  /** The earliest revocation of `keyId`, or null; asked together with the checks of this tick. */
  revokedAt(keyId: string): Promise<Date | null> {
    if (!this.revocations) {
      const keyIds = new Set<string>();
      const result = Promise.resolve().then(async () => {
        this.revocations = undefined;
        // Named: asked with every check batch, so planned once per connection.
        const { rows } = await this.pool.query<{ key_id: string; revoked_at: Date }>({
          name: 'key-revocations',
          text: `SELECT key_id, min(revoked_at) AS revoked_at FROM agency_key_revocations
                 WHERE key_id = ANY($1) GROUP BY key_id`,
          values: [[...keyIds]],
        });
        return new Map(rows.map((row) => [row.key_id, row.revoked_at]));
      });
      this.revocations = { keyIds, result };
    }
    this.revocations.keyIds.add(keyId);
    return this.revocations.result.then((revoked) => revoked.get(keyId) ?? null);
  }

  /**
   * The key that may sign for `agency` at `issuedAt`, in a statement appended now, or a typed
   * error saying why not.
   */
  async authorize(keyId: string, agency: string, issuedAt: string): Promise<AgencyKey> {
    const [key, revokedAt] = await Promise.all([this.get(keyId), this.revokedAt(keyId)]);
    if (key.agency !== agency) {
      throw new KeyNotAuthorizedError(
        `key ${keyId} belongs to agency ${key.agency}, statement is for ${agency}`,
      );
    }
    // A revocation row follows a key.revoke already in the log, so whatever is appended now
    // comes after it, and a revoked key signs nothing logged after its revocation whatever
    // issuedAt it gives (ledger/keyEvents.ts): issuedAt is the signer's word, and whoever
    // holds a compromised key can backdate it, even on a key.add of a key of their own.
    if (revokedAt) {
      throw new KeyNotAuthorizedError(
        `key ${keyId} was revoked at ${revokedAt.toISOString()} and signs nothing appended after its revocation; statement issued at ${issuedAt}`,
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
