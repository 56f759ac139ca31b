// The single sequencer of the log (ARCHITECTURE.md §3, Storage). Appenders only enqueue.
// Two stages then overlap: statements are checked (key, signature, format) in small batches,
// several in flight, on worker threads when a VerifyPool is given; whatever has passed is
// committed in one transaction (group commit) as soon as the previous commit is done. So
// throughput is bounded by hashing and signature checks, not by one fsync per entry, and
// neither stage waits for the other. A transaction-scoped advisory lock makes it the single
// sequencer across processes too: a second process's batch waits for the first to commit.
import type pg from 'pg';
import {
  BadSignatureError,
  KeyNotAuthorizedError,
  MalformedStatementError,
} from '../../domain/errors.ts';
import { Entry, KeyId, SignedStatement } from '../../domain/statement.ts';
import { chainEntries, encodeEntry, GENESIS_PREV_LEAF_HASH } from '../entry.ts';
import { bytesEqual, fromBase64, toBase64, utf8 } from '../bytes.ts';
import { signCheckpoint } from '../checkpoint.ts';
import type { VerifySignature } from '../ed25519.ts';
import { isKeyEvent, keyEventProblem, revocationIn } from '../keyEvents.ts';
import type { SigningKey } from '../keys.ts';
import { CompactRange, compactRangeNodes } from '../proof.ts';
import { STATEMENT_CONTEXT } from '../statement.ts';
import { canonicalJson } from '../canonicalJson.ts';
import { MAX_BUNDLE_ENTRY_SIZE } from '../tiles.ts';
import type { KeyRegistry } from './keyRegistry.ts';
import { processEd25519 } from './sodiumEd25519.ts';
import { hashChildrenNode, hashLeafNode } from './nodeSha256.ts';
import { fetchNodes } from './tree.ts';

/** The advisory lock a commit holds: one sequencer at a time across processes. */
export const SEQUENCER_LOCK = 7002;

/** An entry the log holds, as a retry of its statement gets it. */
function loggedEntry(row: { entry: Buffer; leaf_hash: Buffer }): Appended {
  return {
    entry: Entry.parse(JSON.parse(row.entry.toString('utf8'))),
    leafHash: new Uint8Array(row.leaf_hash),
    created: false,
  };
}

/**
 * Statements per check batch, and check batches in flight: small enough that a commit's
 * worth of appenders splits into several batches (so verifying overlaps committing), and
 * enough of them that every verify thread always has a batch queued.
 */
const CHECK_BATCH = 64;
const CHECKS_IN_FLIGHT = 4;
/**
 * A check batch this small is verified on the sequencer's own thread even with a verify
 * pool: handing it to a pool thread and back costs more CPU than the check (two messages and
 * a thread woken each way, ~3 % of the main thread under --cpu-prof in bench/cases.ts,
 * where appends come a few at a time), and at such a rate the pool gains nothing.
 */
const VERIFY_HERE_AT_MOST = 4;

/**
 * The bytes an entry adds around its statement's canonical JSON, at the longest index a
 * JavaScript number holds: an entry must fit a tlog-tiles bundle (2-byte length) whatever
 * index it gets, so the check can run before sequencing (conservative by the index digits).
 */
const ENTRY_OVERHEAD =
  encodeEntry({
    index: Number.MAX_SAFE_INTEGER,
    prevLeafHash: GENESIS_PREV_LEAF_HASH,
    statement: {} as Entry['statement'],
    signature: toBase64(new Uint8Array(64)),
    sequencedAt: new Date(0).toISOString(),
  }).length - '{}'.length;

/** The log does not end where a batch was chained after: nothing of the batch was written. */
class HeadMovedError extends Error {
  constructor(size: number) {
    super(`the log's entry ${size - 1} is not the one this batch was chained after`);
    this.name = 'HeadMovedError';
  }
}

/** PostgreSQL's SQLSTATE for a unique key refusing a row. */
const UNIQUE_VIOLATION = '23505';
const SERIALIZATION_FAILURE = '40001';

const CONTEXT_LENGTH = new TextEncoder().encode(STATEMENT_CONTEXT).length;

/**
 * The log as a commit left it: the tree's right border (its size is the log's), the last leaf
 * hash, and that entry's sequencedAt (undefined for an empty log).
 */
interface LogTip {
  range: CompactRange;
  leafHash: Uint8Array;
  sequencedAt: string | undefined;
}

export interface Appended {
  entry: Entry;
  leafHash: Uint8Array;
  /**
   * False when the statement id was already in the log (an idempotent retry) or taken by an
   * earlier statement of the same commit: `entry` is then that one, which may differ.
   */
  created: boolean;
}

interface Waiter {
  resolve: (appended: Appended) => void;
  reject: (error: unknown) => void;
}
type Received = Waiter & { input: unknown };
/** A statement that passed its check, with its RFC 8785 JSON as signed, which its entry reuses. */
interface Checked {
  signed: SignedStatement;
  statementJson: string;
}
type Accepted = Waiter & Checked;

/** Verifies Ed25519 signatures in bulk (e.g. infra/verifyPool.ts on every core). */
export interface BatchVerifier {
  verifyBatch(
    items: readonly { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }[],
  ): Promise<boolean[]>;
}

/** The log's identity: its C2SP origin line and the key that signs its checkpoints. */
export interface LogIdentity {
  origin: string;
  key: SigningKey;
  /** During a log key rotation, the next key signs every checkpoint too. */
  extraKeys?: SigningKey[];
}

export interface SequencerOptions {
  maxBatch?: number;
  /** Checks signatures on the sequencer's thread: without a `verifyPool`, or for a small batch. */
  verify?: VerifySignature;
  /**
   * Checks each batch of more than VERIFY_HERE_AT_MOST signatures in parallel (worker
   * threads); the caller closes it.
   */
  verifyPool?: BatchVerifier;
  now?: () => Date;
}

export class Sequencer {
  /** Appended, not yet being checked. */
  private queue: Received[] = [];
  /** Check batches in arrival order; `accepted` is set when the batch's check is done. */
  private checks: { accepted?: Accepted[] }[] = [];
  private checking = 0;
  private committing = false;
  private readonly maxBatch: number;
  private readonly verify: VerifySignature;
  private readonly verifyPool: BatchVerifier | undefined;
  private readonly now: () => Date;
  /** The log as this sequencer's last commit left it; reloaded when another process appended. */
  private tip: LogTip | undefined;
  private readonly listeners: ((size: number) => void)[] = [];

  constructor(
    private readonly pool: pg.Pool,
    private readonly keys: KeyRegistry,
    private readonly log: LogIdentity,
    options: SequencerOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 2000;
    this.verify = options.verify ?? processEd25519.verify;
    this.verifyPool = options.verifyPool;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Verifies a signed statement against the key registry and appends it, once: a
   * statement id already in the log returns its existing entry.
   * @throws MalformedStatementError, UnknownKeyError, KeyNotAuthorizedError, BadSignatureError
   */
  append(input: unknown): Promise<Appended> {
    return new Promise<Appended>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.pump();
    });
  }

  /** Calls `listener` with the new tree size after each commit that added entries (e.g. to ask witnesses). */
  onCheckpoint(listener: (size: number) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Starts whatever work can start: more check batches while fewer than CHECKS_IN_FLIGHT run,
   * and a commit of the checked statements, in arrival order, when none is running. Called
   * on every append and whenever a check or a commit finishes; neither ever rejects.
   */
  private pump(): void {
    while (this.queue.length > 0 && this.checking < CHECKS_IN_FLIGHT) {
      const slot: { accepted?: Accepted[] } = {};
      this.checks.push(slot);
      this.checking++;
      void this.check(this.queue.splice(0, CHECK_BATCH)).then((accepted) => {
        slot.accepted = accepted;
        this.checking--;
        this.pump();
      });
    }
    if (this.committing) return;
    const batch: Accepted[] = [];
    while (batch.length < this.maxBatch && this.checks[0]?.accepted) {
      const head = this.checks[0].accepted;
      batch.push(...head.splice(0, this.maxBatch - batch.length));
      if (head.length === 0) this.checks.shift();
    }
    if (batch.length === 0) return;
    this.committing = true;
    void this.commitAndSettle(batch).then(() => {
      this.committing = false;
      this.pump();
    });
  }

  /**
   * Checks a batch and rejects the bad statements one by one; returns the rest, parsed.
   * Verify the signature over the bytes as received, then parse (STYLE.md habit 4).
   */
  private async check(batch: Received[]): Promise<Accepted[]> {
    try {
      const prepared = await Promise.all(
        batch.map((p) =>
          this.prepare(p.input).catch(async (error: unknown) => {
            // A retry of a statement logged while its key was valid (its answer was lost,
            // then the key revoked or expired) gets its entry, as refuseRevoked gives it.
            const logged =
              error instanceof KeyNotAuthorizedError ? await this.loggedAs(p.input) : undefined;
            if (logged) p.resolve(logged);
            else p.reject(error);
            return undefined;
          }),
        ),
      );
      const candidates = batch.flatMap((p, i) => {
        const item = prepared[i];
        return item ? [{ ...p, ...item }] : [];
      });
      const valid =
        this.verifyPool && candidates.length > VERIFY_HERE_AT_MOST
          ? await this.verifyPool.verifyBatch(
              candidates.map(({ publicKey, message, signature }) => ({
                publicKey,
                message,
                signature,
              })),
            )
          : candidates.map((c) => this.verify(c.publicKey, c.message, c.signature));
      return candidates.flatMap((c, i) => {
        if (!valid[i]) {
          c.reject(new BadSignatureError(`signature does not verify under key ${c.keyId}`));
          return [];
        }
        const parsed = SignedStatement.safeParse(c.input);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          c.reject(new MalformedStatementError(`${issue.path.join('.')}: ${issue.message}`));
          return [];
        }
        // A key event the audit would ignore and report is refused here: malformed, it would
        // stay a finding of every audit for good, and a revocation's facts go to PostgreSQL.
        const { statement } = parsed.data;
        const malformed = isKeyEvent(statement) ? keyEventProblem(statement) : undefined;
        if (malformed) {
          c.reject(new MalformedStatementError(`key event ${statement.statementId}: ${malformed}`));
          return [];
        }
        return [
          {
            resolve: c.resolve,
            reject: c.reject,
            signed: parsed.data,
            statementJson: c.statementJson,
          },
        ];
      });
    } catch (error) {
      // The verifier itself failed (e.g. a worker died): nobody in this batch is appended.
      for (const p of batch) p.reject(error);
      return [];
    }
  }

  /**
   * The entry already logged for exactly this signed statement (same id, same signature over
   * the same statement), or undefined. Only for one whose key is refused now: any other
   * statement is found in the commit's own lookup.
   */
  private async loggedAs(input: unknown): Promise<Appended | undefined> {
    const raw = input as { statement?: { statementId?: unknown }; signature?: unknown };
    const statementId = raw.statement?.statementId;
    if (typeof statementId !== 'string' || typeof raw.signature !== 'string') return undefined;
    try {
      const { rows } = await this.pool.query<{ leaf_hash: Buffer; entry: Buffer }>(
        'SELECT leaf_hash, entry FROM ledger_entries WHERE statement_id = $1',
        [statementId],
      );
      if (rows.length === 0) return undefined;
      const logged = loggedEntry(rows[0]!);
      const { entry } = logged;
      if (
        entry.signature !== raw.signature ||
        canonicalJson(entry.statement) !== canonicalJson(raw.statement)
      )
        return undefined;
      return logged;
    } catch {
      // Not serialisable, or the lookup failed: the key's refusal stands.
      return undefined;
    }
  }

  /** What the signature check needs: the key allowed to sign, the signed bytes, the signature. */
  private async prepare(input: unknown): Promise<{
    keyId: string;
    publicKey: Uint8Array;
    message: Uint8Array;
    signature: Uint8Array;
    statementJson: string;
  }> {
    if (typeof input !== 'object' || input === null)
      throw new MalformedStatementError('a signed statement must be an object');
    const raw = input as { statement?: unknown; signature?: unknown };
    const keyId = (raw.statement as { keyId?: unknown } | undefined)?.keyId;
    const agency = (raw.statement as { agency?: unknown } | undefined)?.agency;
    const issuedAt = (raw.statement as { issuedAt?: unknown } | undefined)?.issuedAt;
    if (typeof keyId !== 'string' || typeof agency !== 'string' || typeof issuedAt !== 'string') {
      throw new MalformedStatementError(
        'statement.keyId, statement.agency and statement.issuedAt must be strings',
      );
    }
    if (Number.isNaN(Date.parse(issuedAt)))
      throw new MalformedStatementError(`statement.issuedAt is not a date: ${issuedAt}`);
    // Before any query: the registry asks for the revocations of a whole tick's keys at once,
    // and a key id PostgreSQL cannot take as text (a NUL) failed every statement checked with
    // it, this one retried for ever. No control character is part of a key name.
    if (!KeyId.safeParse(keyId).success)
      throw new MalformedStatementError(
        `statement.keyId ${JSON.stringify(keyId)} is not a key id (<key name>+<8 hex digits>, no control characters)`,
      );
    const key = await this.keys.authorize(keyId, agency, issuedAt);
    let message: Uint8Array;
    let signature: Uint8Array;
    let statementJson: string;
    try {
      if (typeof raw.signature !== 'string') throw new TypeError('signature is not a string');
      // Serialised once: the signed bytes, and later the statement inside the entry.
      statementJson = canonicalJson(raw.statement);
      message = utf8(`${STATEMENT_CONTEXT}${statementJson}`);
      signature = fromBase64(raw.signature);
    } catch {
      // Not serialisable, or no base64 signature: no signature can be over these bytes.
      throw new BadSignatureError(`signature does not verify under key ${keyId}`);
    }
    // Refused before any signature work, so an oversized statement costs no verification.
    const entryLength = ENTRY_OVERHEAD + message.length - CONTEXT_LENGTH;
    if (entryLength > MAX_BUNDLE_ENTRY_SIZE) {
      throw new MalformedStatementError(
        `the entry would be ${entryLength} bytes, a tlog-tiles entry bundle holds at most ${MAX_BUNDLE_ENTRY_SIZE}`,
      );
    }
    return { keyId, publicKey: key.publicKey, message, signature, statementJson };
  }

  private async commitAndSettle(batch: Accepted[]): Promise<void> {
    try {
      const results = await this.commit(batch);
      batch.forEach((p, i) => {
        const result = results[i]!;
        if (result instanceof Error) p.reject(result);
        else p.resolve(result);
      });
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }

  private async loadRange(client: pg.PoolClient, size: number): Promise<CompactRange> {
    const border = await fetchNodes(client, compactRangeNodes(size));
    return new CompactRange(size, border, hashChildrenNode);
  }

  /**
   * Appends the batch. When this sequencer made the log's last commit, it knows the head and
   * the tree's border, so the whole append is one statement in its own transaction: one round
   * trip instead of four (BEGIN and the lock, the head and the batch's ids, the append,
   * COMMIT), which made up about half of a commit's time with 256 appenders in flight. That
   * statement still takes the advisory lock, and every row it writes is keyed (entry index,
   * statement id, tree node, checkpoint size): if another process appended meanwhile, or a
   * statement of the batch is already in the log (a retry), a unique key refuses the whole
   * statement and nothing is written; if the log no longer ends with the entry remembered (a
   * restore from a backup), the statement writes nothing. Either way the batch then takes the
   * locked path, which reads the head and the existing ids first. The same goes when a key
   * of the batch was revoked since its check: the locked path refuses that key's statements.
   * And when the batch holds a key.revoke (rare): a statement after it may be a retry of one
   * logged before the revocation, which gets its entry, and only the locked path reads the ids
   * already logged.
   */
  private async commit(batch: readonly Checked[]): Promise<Committed[]> {
    const { tip } = this;
    if (tip && !batch.some((checked) => revocationIn(checked.signed.statement))) {
      try {
        // The statement writes only after the remembered last entry, whose leaf hash binds
        // its sequencedAt: the tip's time is the log's.
        const appended = await this.write(this.pool, tip, batch, new Map());
        this.committed(appended);
        return appended.results;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        // A serialization failure, on a database whose default isolation is stricter than
        // READ COMMITTED, is as much a refusal: the statement wrote nothing.
        const refused =
          error instanceof HeadMovedError ||
          code === UNIQUE_VIOLATION ||
          code === SERIALIZATION_FAILURE;
        if (!refused) throw error;
      }
    }
    return this.commitLocked(batch);
  }

  /** The append in a transaction that holds the lock before it reads the log's head. */
  private async commitLocked(batch: readonly Checked[]): Promise<Committed[]> {
    const client = await this.pool.connect();
    try {
      // One round trip for both: a simple query may hold several statements. The lock must
      // be taken by a statement of its own, before the next one takes its snapshot; and in
      // READ COMMITTED whatever the database's default, since under REPEATABLE READ the
      // transaction's one snapshot is taken by the lock's statement, before the wait, and a
      // commit that waited would read the head from before the one it waited for.
      await client.query(
        `BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(${SEQUENCER_LOCK})`,
      );
      const ids = [...new Set(batch.map((c) => c.signed.statement.statementId))];
      const existing = new Map<string, Appended>();
      // The log's last entry (statement_id NULL) and the batch's ids already in the log.
      const found = await client.query<{
        idx: string;
        leaf_hash: Buffer;
        sequenced_at: Date | null;
        statement_id: string | null;
        entry: Buffer | null;
      }>({
        name: 'sequencer-head-and-existing',
        text: `(SELECT idx, leaf_hash, sequenced_at, NULL::text AS statement_id, NULL::bytea AS entry
                FROM ledger_entries ORDER BY idx DESC LIMIT 1)
               UNION ALL
               SELECT idx, leaf_hash, NULL::timestamptz, statement_id, entry FROM ledger_entries
               WHERE statement_id = ANY($1)`,
        values: [ids],
      });
      let head: { idx: string; leaf_hash: Buffer; sequenced_at: Date | null } | undefined;
      for (const row of found.rows) {
        if (row.statement_id === null) {
          head = row;
          continue;
        }
        existing.set(
          row.statement_id,
          loggedEntry({ entry: row.entry!, leaf_hash: row.leaf_hash }),
        );
      }
      // Keys revoked since the batch was checked: their key.revoke entries are in the log, so
      // the statements they signed would come after them (see refuseRevoked).
      const revoked = await client.query<{ key_id: string }>({
        name: 'sequencer-revoked-keys',
        text: 'SELECT DISTINCT key_id FROM agency_key_revocations WHERE key_id = ANY($1)',
        values: [[...new Set(batch.map((c) => c.signed.statement.keyId))]],
      });
      const { allowed, merge } = refuseRevoked(
        batch,
        new Set(revoked.rows.map((row) => row.key_id)),
        existing,
      );
      const size = head ? Number(head.idx) + 1 : 0;
      const prev = head ? new Uint8Array(head.leaf_hash) : fromBase64(GENESIS_PREV_LEAF_HASH);
      // The remembered border only if the log still ends with the remembered leaf: after a
      // restore and other appends, a log of the same size may hold other entries.
      const { tip } = this;
      const border =
        tip?.range.size === size && bytesEqual(tip.leafHash, prev)
          ? tip.range
          : await this.loadRange(client, size);
      const appended = await this.write(
        client,
        { range: border, leafHash: prev, sequencedAt: head?.sequenced_at?.toISOString() },
        allowed,
        existing,
      );
      await client.query('COMMIT');
      this.committed(appended);
      return merge(appended.results);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Chains the batch's new statements after the log `after` (its border, last leaf hash and
   * that entry's sequencedAt), and writes entries, tree nodes and the checkpoint in one
   * statement. Works on a copy of the border: if the transaction fails, the remembered one
   * stays right.
   */
  private async write(
    db: pg.Pool | pg.PoolClient,
    after: LogTip,
    batch: readonly Checked[],
    existing: ReadonlyMap<string, Appended>,
  ): Promise<{ tip: LogTip; created: boolean; results: Appended[] }> {
    const fresh: Checked[] = [];
    const seen = new Set(existing.keys());
    for (const checked of batch) {
      const id = checked.signed.statement.statementId;
      if (seen.has(id)) continue;
      seen.add(id);
      fresh.push(checked);
    }
    const { range: border, leafHash: prev } = after;
    const firstIndex = border.size;
    // The log's clock never runs backwards: a revocation disowns what its key got logged from
    // its revokedAt on by this clock (ledger/keyEvents.ts), and the audit reports an entry
    // sequenced before the one before it (LogClock). So a wall clock stepped back (NTP) gives
    // the last entry's time again, never an earlier one.
    const now = this.now();
    const sequencedAt =
      after.sequencedAt !== undefined && Date.parse(after.sequencedAt) > now.getTime()
        ? after.sequencedAt
        : now.toISOString();
    const chained = chainEntries(
      fresh.map((c) => c.signed),
      firstIndex,
      prev,
      sequencedAt,
      { statementJson: fresh.map((c) => c.statementJson), hashLeaf: hashLeafNode },
    );
    const range = border.copy();
    if (chained.length > 0) {
      const nodes = chained
        .flatMap((c) => range.appendLeaf(c.leafHash))
        .filter((n) => n.id.level > 0);
      const size = firstIndex + chained.length;
      const rootHash = range.root();
      const note = signCheckpoint(
        { origin: this.log.origin, size, rootHash, extensions: [] },
        this.log.key,
        this.log.extraKeys,
      );
      // Entries, tree nodes and the checkpoint in one statement (one round trip), which takes
      // the lock itself when it runs alone (`FROM lock`: each insert needs its one row first;
      // a CTE with a volatile function is evaluated once, never inlined). It writes nothing
      // unless the entry the batch chains after is in the log as it sees it, so a log rolled
      // back under a running sequencer (a restore from a backup) gets no gap. Bytes go as one
      // binary parameter each (node-pg sends a Buffer as binary, but an array of Buffers as
      // hex text): half the bytes on the wire, no hex to encode or decode. Indices are
      // contiguous, so each entry's is firstIndex + its ordinal - 1.
      // Key revocations: nothing is written if a signer of the batch was revoked since its
      // check (the batch then takes the locked path, which refuses that key's statements), and
      // a key.revoke's registry row is written with its entry, so no statement of that key is
      // accepted after the entry and before the row (ledger/keyEvents.ts: a revoked key signs
      // nothing logged after its revocation). The row is written only for a key of the
      // revoking agency, as the audit's KeyTimeline applies it.
      const revocations = chained.flatMap(({ entry: { statement } }) => {
        const revocation = revocationIn(statement);
        return revocation ? [{ ...revocation, statement }] : [];
      });
      const entries = chained.map((c) => c.bytes);
      const { rowCount } = await db.query({
        name: 'sequencer-append',
        text: `WITH lock AS (
                 SELECT pg_advisory_xact_lock(${SEQUENCER_LOCK})
                 WHERE ($1::bigint = 0 OR EXISTS (
                   SELECT 1 FROM ledger_entries WHERE idx = $1::bigint - 1 AND leaf_hash = $15))
                   AND NOT EXISTS (
                     SELECT 1 FROM agency_key_revocations WHERE key_id = ANY($16::text[]))
               ),
               appended AS (
                 INSERT INTO ledger_entries (idx, statement_id, case_id, entry, leaf_hash, sequenced_at)
                 SELECT $1::bigint + r.n - 1, r.statement_id, r.case_id,
                        substring($4::bytea FROM r.start FOR r.length),
                        substring($5::bytea FROM (r.n - 1)::int * 32 + 1 FOR 32), $6
                 FROM lock, unnest($2::text[], $3::text[], $7::int[], $8::int[])
                      WITH ORDINALITY AS r(statement_id, case_id, start, length, n)
               ), nodes AS (
                 INSERT INTO tree_nodes (level, idx, hash)
                 SELECT r.level, r.idx, substring($11::bytea FROM (r.n - 1)::int * 32 + 1 FOR 32)
                 FROM lock, unnest($9::smallint[], $10::bigint[]) WITH ORDINALITY AS r(level, idx, n)
               ), revocations AS (
                 INSERT INTO agency_key_revocations (key_id, revoked_at, statement_id)
                 SELECT r.key_id, r.revoked_at, r.statement_id
                 FROM lock
                 CROSS JOIN unnest($17::text[], $18::timestamptz[], $19::text[], $20::text[])
                      AS r(key_id, revoked_at, statement_id, agency)
                 JOIN agency_keys k ON k.key_id = r.key_id AND k.agency = r.agency
                 ON CONFLICT (statement_id) DO NOTHING
               )
               INSERT INTO checkpoints (size, root_hash, note) SELECT $12, $13, $14 FROM lock`,
        values: [
          firstIndex,
          chained.map((c) => c.entry.statement.statementId),
          chained.map((c) => c.entry.statement.caseId),
          Buffer.concat(entries),
          Buffer.concat(chained.map((c) => c.leafHash)),
          sequencedAt,
          startsOf(entries),
          entries.map((e) => e.length),
          nodes.map((n) => n.id.level),
          nodes.map((n) => n.id.index),
          Buffer.concat(nodes.map((n) => n.hash)),
          size,
          Buffer.from(rootHash),
          note,
          Buffer.from(prev),
          [...new Set(chained.map((c) => c.entry.statement.keyId))],
          revocations.map((r) => r.keyId),
          revocations.map((r) => r.revokedAt),
          revocations.map((r) => r.statement.statementId),
          revocations.map((r) => r.statement.agency),
        ],
      });
      if (rowCount !== 1) throw new HeadMovedError(firstIndex);
    }
    const appended = new Map(
      chained.map((c) => [
        c.entry.statement.statementId,
        { entry: c.entry, leafHash: c.leafHash, created: false },
      ]),
    );
    // Only the item actually chained was created. Another of the batch with the same
    // statement id (a retry, or another statement under that id) gets the entry the log
    // holds, as from `existing`: key.add/key.revoke writers (keyRegistry.ts) read `created`
    // to learn whether the sequence number they chose was theirs.
    const chainedItems = new Set(fresh);
    return {
      tip:
        chained.length > 0
          ? { range, leafHash: chained.at(-1)!.leafHash, sequencedAt }
          : { range, leafHash: prev, sequencedAt: after.sequencedAt },
      created: chained.length > 0,
      results: batch.map((checked) => {
        const id = checked.signed.statement.statementId;
        const found = existing.get(id) ?? appended.get(id)!;
        return chainedItems.has(checked) ? { ...found, created: true } : found;
      }),
    };
  }

  /** Remembers the log as this commit left it, and tells the listeners of a new checkpoint. */
  private committed({ tip, created }: { tip: LogTip; created: boolean }): void {
    this.tip = tip;
    if (created) for (const listener of this.listeners) listener(tip.range.size);
  }
}

/** What a commit gives each statement of its batch: its entry, or why it was refused. */
type Committed = Appended | KeyNotAuthorizedError;

/**
 * Splits off the statements whose key is revoked, in the log (`revoked`) or by a key.revoke
 * earlier in the batch, which is chained before them: a revoked key signs nothing logged after
 * its revocation, and the registry's check of these statements came before it. Statements
 * already in the log (`existing`) or earlier in the batch keep their entries. `merge` puts the
 * results of writing `allowed` back in the batch's order, among the refusals.
 */
function refuseRevoked(
  batch: readonly Checked[],
  revoked: ReadonlySet<string>,
  existing: ReadonlyMap<string, Appended>,
): { allowed: Checked[]; merge: (results: readonly Appended[]) => Committed[] } {
  // Key ids a key.revoke of the batch names, each with the agencies that revoked it: the
  // registry records a revocation only for a key of the revoking agency (write's
  // `revocations`), and the audit ignores any other (KeyTimeline.apply). A statement's key is
  // its agency's (KeyRegistry.authorize), so (agency, key id) is the key the registry means.
  const revokedHere = new Map<string, Set<string>>();
  // Statement ids with an entry before this place: a retry gets that entry, logged when its
  // key was valid, so a later revocation does not refuse it.
  const logged = new Set(existing.keys());
  const refused = new Map<Checked, KeyNotAuthorizedError>();
  const allowed: Checked[] = [];
  for (const checked of batch) {
    const { statement } = checked.signed;
    const isRevoked =
      revoked.has(statement.keyId) ||
      revokedHere.get(statement.keyId)?.has(statement.agency) === true;
    if (isRevoked && !logged.has(statement.statementId)) {
      refused.set(
        checked,
        new KeyNotAuthorizedError(
          `key ${statement.keyId} was revoked by an entry before this statement's place in the log, and signs nothing appended after its revocation`,
        ),
      );
      continue;
    }
    allowed.push(checked);
    logged.add(statement.statementId);
    const revocation = revocationIn(statement);
    if (revocation) {
      const agencies = revokedHere.get(revocation.keyId) ?? new Set<string>();
      revokedHere.set(revocation.keyId, agencies.add(statement.agency));
    }
  }
  return {
    allowed,
    merge: (results) => {
      let next = 0;
      return batch.map((checked) => refused.get(checked) ?? results[next++]!);
    },
  };
}

/** Each byte string's 1-based start in their concatenation (SQL substring positions). */
function startsOf(parts: readonly Uint8Array[]): number[] {
  let start = 1;
  return parts.map((part) => {
    const at = start;
    start += part.length;
    return at;
  });
}
