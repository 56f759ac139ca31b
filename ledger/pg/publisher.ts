// Publishes checkpoints: sends the newest signed checkpoint to every witness (C2SP
// tlog-witness add-checkpoint, with a consistency proof from the size each witness last
// cosigned), keeps the cosignatures, and publishes the checkpoint once k of n witnesses
// cosigned it. Runs beside the sequencer; calls coalesce to the newest checkpoint, and rounds
// start at most every `minIntervalMs`, as real logs publish on an interval (Sunlight and
// Tessera about once a second): under a stream of commits each round takes the newest
// checkpoint of its interval instead of every commit costing every witness a round.
import type pg from 'pg';
import { readAtMost, toBase64 } from '../bytes.ts';
import { cosignatureLineOf, verifyCosignature, type CosignerKey } from '../cosignature.ts';
import { addSignatureLines, splitNote } from '../note.ts';
import { consistencyProofAsync } from '../proof.ts';
import { formatAddCheckpoint } from '../witness.ts';
import { fetchNodes } from './tree.ts';

export interface WitnessEndpoint {
  /** The witness's add-checkpoint URL prefix (`<prefix>/add-checkpoint`). */
  url: string;
  key: CosignerKey;
}

export interface WitnessPolicyConfig {
  witnesses: readonly WitnessEndpoint[];
  /** k of n: how many distinct witnesses must cosign before a checkpoint is published. */
  threshold: number;
}

/** add-checkpoint requests to one witness for one checkpoint (see `submit`). */
const SUBMIT_ATTEMPTS = 3;

/** Least time between the starts of two rounds, unless the publisher is told otherwise. */
export const DEFAULT_PUBLISH_INTERVAL_MS = 250;

export class CheckpointPublisher {
  /** Size each witness last cosigned, learnt from its answers (409 tells us). */
  private readonly witnessSizes = new Map<string, number>();
  private running: Promise<void> | undefined;
  /** Witnesses' answers still coming in after their round published (see publishNewest). */
  private readonly stragglers = new Set<Promise<unknown>>();
  private again = false;
  /** When the last round started (performance.now()). */
  private lastRound = -Infinity;

  constructor(
    private readonly pool: pg.Pool,
    private readonly policy: WitnessPolicyConfig,
    private readonly log: (line: string) => void = console.error,
    private readonly minIntervalMs = DEFAULT_PUBLISH_INTERVAL_MS,
  ) {
    if (policy.threshold < 0 || policy.threshold > policy.witnesses.length) {
      throw new RangeError(
        `witness threshold must be 0..${policy.witnesses.length}, got ${policy.threshold}`,
      );
    }
    if (!(minIntervalMs >= 0))
      throw new RangeError(`the publish interval must be >= 0 ms, got ${minIntervalMs}`);
  }

  /**
   * Asks for the newest checkpoint to be witnessed; resolves when a round that started after
   * this call ends. A round starts no sooner than `minIntervalMs` after the previous one did.
   */
  request(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          const wait = this.lastRound + this.minIntervalMs - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          // Cleared only now: the round below reads the newest checkpoint, so it answers the
          // requests made while it waited; only those made while it runs need another round.
          this.again = false;
          this.lastRound = performance.now();
          await this.publishNewest();
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Retries every `ms` so a checkpoint still waiting for witnesses gets published when they return. */
  every(ms: number): () => void {
    const timer = setInterval(() => {
      this.request().catch((error: unknown) =>
        this.log(`publishing a checkpoint failed: ${String(error)}`),
      );
    }, ms);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Resolves when no round is running and every witness answered (for a clean shutdown). */
  async idle(): Promise<void> {
    while (this.running || this.stragglers.size > 0) {
      await this.running?.catch(() => undefined);
      await Promise.all(this.stragglers);
    }
  }

  private async publishNewest(): Promise<void> {
    const { rows } = await this.pool.query<{ size: string; note: string; published: boolean }>(
      `SELECT c.size, c.note, p.size IS NOT NULL AS published FROM checkpoints c
       LEFT JOIN published_checkpoints p USING (size) ORDER BY c.size DESC LIMIT 1`,
    );
    const newest = rows[0];
    if (!newest || newest.published) return;
    const size = Number(newest.size);
    const body = splitNote(newest.note).text;
    // Published as soon as k witnesses cosigned: a slow or absent witness holds up neither
    // this checkpoint nor the next round. The others' answers still come in and are kept.
    const lines: string[] = [];
    let enough!: () => void;
    const cosigned = new Promise<void>((resolve) => (enough = resolve));
    if (this.policy.threshold === 0) enough();
    const answers = this.policy.witnesses.map(async (witness) => {
      let line: string;
      try {
        line = await this.submit(witness, size, newest.note, body);
      } catch (error) {
        this.log(`witness ${witness.key.name} did not cosign size ${size}: ${String(error)}`);
        return;
      }
      lines.push(line);
      if (lines.length >= this.policy.threshold) enough();
      await this.keepCosignature(size, line).catch((error: unknown) =>
        this.log(
          `the cosignature of ${witness.key.name} for size ${size} was not kept: ${String(error)}`,
        ),
      );
    });
    // Never rejects: each answer logs its own failure.
    const all = Promise.all(answers).then(() => undefined);
    this.stragglers.add(all);
    void all.then(() => this.stragglers.delete(all));
    await Promise.race([all, cosigned]);
    if (lines.length >= this.policy.threshold) {
      // tlog-witness publication: the log's note with the cosignatures gathered so far.
      // Never below one published before it (another publisher of the log may be ahead), and
      // not again when another publisher published the same size meanwhile (both read before
      // either wrote): its note stands, and this round ends without an error.
      await this.pool.query(
        `INSERT INTO published_checkpoints (size, note)
         SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM published_checkpoints WHERE size >= $1)
         ON CONFLICT (size) DO NOTHING`,
        [size, addSignatureLines(newest.note, [...lines])],
      );
    }
  }

  /** Keeps a cosignature line (`— <witness> <signature>`) of the checkpoint of `size`. */
  private async keepCosignature(size: number, line: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO cosignatures (size, witness, signature_line) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING`,
      [size, line.slice(2, line.indexOf(' ', 2)), line],
    );
  }

  /** One add-checkpoint exchange; returns the verified cosignature line. */
  private async submit(
    witness: WitnessEndpoint,
    size: number,
    note: string,
    body: string,
  ): Promise<string> {
    // A 409 teaches the witness's size; another publisher of the log (the API's beside the
    // orchestrator's) may move it on once more before the next attempt, hence a third.
    for (let attempt = 1; ; attempt++) {
      const oldSize = Math.min(this.witnessSizes.get(witness.key.name) ?? 0, size);
      const proof =
        oldSize === 0 || oldSize === size
          ? []
          : await consistencyProofAsync(oldSize, size, (ids) => fetchNodes(this.pool, ids));
      const response = await fetch(`${witness.url.replace(/\/$/, '')}/add-checkpoint`, {
        method: 'POST',
        body: formatAddCheckpoint(oldSize, proof.map(toBase64), note),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await answerText(response);
      if (response.status === 409) {
        // tlog-witness: the body of a 409 is the witness's size, in decimal.
        const current = /^\d{1,16}$/.test(text.trim()) ? Number(text.trim()) : NaN;
        if (!Number.isSafeInteger(current))
          throw new Error(`409 without a size: ${JSON.stringify(text.trim().slice(0, 40))}`);
        this.witnessSizes.set(witness.key.name, current);
        if (attempt < SUBMIT_ATTEMPTS) continue;
        throw new Error(`witness answered 409 ${SUBMIT_ATTEMPTS} times, last at size ${current}`);
      }
      if (response.status !== 200)
        throw new Error(`HTTP ${response.status}: ${JSON.stringify(text.trim().slice(0, 200))}`);
      const line = cosignatureLineOf(text, witness.key);
      if (!line) throw new Error("no cosignature by this witness's key in the answer");
      verifyCosignature(body, line, witness.key);
      this.witnessSizes.set(witness.key.name, size);
      return `${line}\n`;
    }
  }
}

/**
 * The most of a witness's answer read: a few cosignature lines, or a size. Witnesses are other
 * agencies' services, not parts of this process: one (or a proxy before it) streaming on
 * must not fill the memory of the process that also runs the sequencer. The witness itself
 * takes requests of at most 64 KiB (api/witnessApp.ts).
 */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The answer's text, read as a stream; past MAX_ANSWER_BYTES the witness counts as failed. */
async function answerText(response: Response): Promise<string> {
  const { bytes, whole } = await readAtMost(response.body, MAX_ANSWER_BYTES);
  if (!whole) throw new Error(`an answer of more than ${MAX_ANSWER_BYTES} bytes`);
  return new TextDecoder().decode(bytes);
}
