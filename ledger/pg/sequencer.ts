// The single sequencer of the log (ARCHITECTURE.md §3, Storage). Appenders verify their
// statement, then wait in a queue; one loop takes the queue as a batch and commits it in
// one transaction (group commit), so throughput is bounded by hashing and signature checks,
// not by one fsync per entry. A transaction-scoped advisory lock makes it the single
// sequencer across processes too: a second process's batch waits for the first to commit.
import type pg from 'pg';
import { MalformedStatementError, BadSignatureError } from '../../domain/errors.ts';
import { Entry, SignedStatement } from '../../domain/statement.ts';
import { chainEntries, GENESIS_PREV_LEAF_HASH } from '../entry.ts';
import { fromBase64 } from '../bytes.ts';
import { signCheckpoint } from '../checkpoint.ts';
import type { VerifySignature } from '../ed25519.ts';
import type { SigningKey } from '../keys.ts';
import { CompactRange, compactRangeNodes } from '../proof.ts';
import { verifyStatementSignature } from '../statement.ts';
import type { KeyRegistry } from './keyRegistry.ts';
import { verifyEd25519Node } from './nodeEd25519.ts';
import { fetchNodes } from './tree.ts';

const SEQUENCER_LOCK = 7002;

export interface Appended {
  entry: Entry;
  leafHash: Uint8Array;
  /** False when the statement id was already in the log (an idempotent retry). */
  created: boolean;
}

interface Pending {
  signed: SignedStatement;
  resolve: (appended: Appended) => void;
  reject: (error: unknown) => void;
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
  verify?: VerifySignature;
  now?: () => Date;
}

export class Sequencer {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private readonly maxBatch: number;
  private readonly verify: VerifySignature;
  private readonly now: () => Date;
  /** The tree's right border as of the last commit; reloaded when another process appended. */
  private range: CompactRange | undefined;
  private readonly listeners: ((size: number) => void)[] = [];

  constructor(
    private readonly pool: pg.Pool,
    private readonly keys: KeyRegistry,
    private readonly log: LogIdentity,
    options: SequencerOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 2000;
    this.verify = options.verify ?? verifyEd25519Node;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Verifies a signed statement against the key registry and appends it, once: a
   * statement id already in the log returns its existing entry.
   * @throws MalformedStatementError, UnknownKeyError, KeyNotAuthorizedError, BadSignatureError
   */
  async append(input: unknown): Promise<Appended> {
    const signed = await this.check(input);
    return new Promise<Appended>((resolve, reject) => {
      this.queue.push({ signed, resolve, reject });
      this.flushing ??= this.drain();
    });
  }

  /** Calls `listener` with the new tree size after each commit that added entries (e.g. to ask witnesses). */
  onCheckpoint(listener: (size: number) => void): void {
    this.listeners.push(listener);
  }

  /** Verify the signature over the bytes as received, then parse (STYLE.md habit 4). */
  private async check(input: unknown): Promise<SignedStatement> {
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
    const key = await this.keys.authorize(keyId, agency, issuedAt);
    if (!verifyStatementSignature(raw, key.publicKey, this.verify)) {
      throw new BadSignatureError(`signature does not verify under key ${keyId}`);
    }
    const parsed = SignedStatement.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new MalformedStatementError(`${issue.path.join('.')}: ${issue.message}`);
    }
    return parsed.data;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const results = await this.commit(batch.map((p) => p.signed));
          batch.forEach((p, i) => p.resolve(results[i]!));
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async loadRange(client: pg.PoolClient, size: number): Promise<CompactRange> {
    return new CompactRange(size, await fetchNodes(client, compactRangeNodes(size)));
  }

  private async commit(batch: SignedStatement[]): Promise<Appended[]> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SEQUENCER_LOCK]);
      const ids = [...new Set(batch.map((s) => s.statement.statementId))];
      const existing = new Map<string, Appended>();
      const found = await client.query<{ statement_id: string; entry: Buffer; leaf_hash: Buffer }>(
        'SELECT statement_id, entry, leaf_hash FROM ledger_entries WHERE statement_id = ANY($1)',
        [ids],
      );
      for (const row of found.rows) {
        existing.set(row.statement_id, {
          entry: Entry.parse(JSON.parse(row.entry.toString('utf8'))),
          leafHash: new Uint8Array(row.leaf_hash),
          created: false,
        });
      }
      const fresh: SignedStatement[] = [];
      const seen = new Set(existing.keys());
      for (const signed of batch) {
        if (seen.has(signed.statement.statementId)) continue;
        seen.add(signed.statement.statementId);
        fresh.push(signed);
      }
      const last = await client.query<{ idx: string; leaf_hash: Buffer }>(
        'SELECT idx, leaf_hash FROM ledger_entries ORDER BY idx DESC LIMIT 1',
      );
      const head = last.rows[0];
      const firstIndex = head ? Number(head.idx) + 1 : 0;
      const prev = head ? new Uint8Array(head.leaf_hash) : fromBase64(GENESIS_PREV_LEAF_HASH);
      const sequencedAt = this.now().toISOString();
      const chained = chainEntries(fresh, firstIndex, prev, sequencedAt);
      let range: CompactRange | undefined;
      if (chained.length > 0) {
        // Work on a copy: if the transaction fails, the remembered border stays right.
        const border =
          this.range?.size === firstIndex ? this.range : await this.loadRange(client, firstIndex);
        range = new CompactRange(border.size, border.hashes);
        const nodes = chained
          .flatMap((c) => range!.appendLeaf(c.leafHash))
          .filter((n) => n.id.level > 0);
        const size = firstIndex + chained.length;
        const rootHash = range.root();
        const note = signCheckpoint(
          { origin: this.log.origin, size, rootHash, extensions: [] },
          this.log.key,
          this.log.extraKeys,
        );
        await client.query(
          `INSERT INTO ledger_entries (idx, statement_id, case_id, entry, leaf_hash, sequenced_at)
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::timestamptz[])`,
          [
            chained.map((c) => c.entry.index),
            chained.map((c) => c.entry.statement.statementId),
            chained.map((c) => c.entry.statement.caseId),
            chained.map((c) => Buffer.from(c.bytes)),
            chained.map((c) => Buffer.from(c.leafHash)),
            chained.map(() => sequencedAt),
          ],
        );
        await client.query(
          'INSERT INTO tree_nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])',
          [
            nodes.map((n) => n.id.level),
            nodes.map((n) => n.id.index),
            nodes.map((n) => Buffer.from(n.hash)),
          ],
        );
        await client.query('INSERT INTO checkpoints (size, root_hash, note) VALUES ($1, $2, $3)', [
          size,
          Buffer.from(rootHash),
          note,
        ]);
      }
      await client.query('COMMIT');
      if (range) {
        this.range = range;
        for (const listener of this.listeners) listener(range.size);
      }
      const created = new Map(
        chained.map((c) => [
          c.entry.statement.statementId,
          { entry: c.entry, leafHash: c.leafHash, created: true },
        ]),
      );
      return batch.map(
        (s) => existing.get(s.statement.statementId) ?? created.get(s.statement.statementId)!,
      );
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
