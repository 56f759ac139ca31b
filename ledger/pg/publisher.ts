// Publishes checkpoints: sends the newest signed checkpoint to every witness (C2SP
// tlog-witness add-checkpoint, with a consistency proof from the size each witness last
// cosigned), keeps the cosignatures, and publishes the checkpoint once k of n witnesses
// cosigned it. Runs beside the sequencer; calls coalesce to the newest checkpoint, and rounds
// start at most every `minIntervalMs`, as real logs publish on an interval (Sunlight and
// Tessera about once a second): under a stream of commits each round takes the newest
// checkpoint of its interval instead of every commit costing every witness a round.
import type pg from 'pg';
import { toBase64 } from '../bytes.ts';
import { verifyCosignature, type CosignerKey } from '../cosignature.ts';
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

/** Least time between the starts of two rounds, unless the publisher is told otherwise. */
export const DEFAULT_PUBLISH_INTERVAL_MS = 250;

export class CheckpointPublisher {
  /** Size each witness last cosigned, learnt from its answers (409 tells us). */
  private readonly witnessSizes = new Map<string, number>();
  private running: Promise<void> | undefined;
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

  /** Resolves when no round is running (for a clean shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
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
    const results = await Promise.allSettled(
      this.policy.witnesses.map((w) => this.submit(w, size, newest.note, body)),
    );
    const lines: string[] = [];
    results.forEach((result, i) => {
      const witness = this.policy.witnesses[i]!;
      if (result.status === 'fulfilled') lines.push(result.value);
      else
        this.log(
          `witness ${witness.key.name} did not cosign size ${size}: ${String(result.reason)}`,
        );
    });
    if (lines.length > 0) {
      await this.pool.query(
        `INSERT INTO cosignatures (size, witness, signature_line)
         SELECT $1, * FROM unnest($2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
        [size, lines.map((l) => l.slice(2, l.indexOf(' ', 2))), lines],
      );
    }
    if (lines.length >= this.policy.threshold) {
      await this.pool.query(
        'INSERT INTO published_checkpoints (size, note) VALUES ($1, $2) ON CONFLICT DO NOTHING',
        [size, addSignatureLines(newest.note, lines)],
      );
    }
  }

  /** One add-checkpoint exchange; returns the verified cosignature line. */
  private async submit(
    witness: WitnessEndpoint,
    size: number,
    note: string,
    body: string,
  ): Promise<string> {
    for (let attempt = 0; attempt < 2; attempt++) {
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
      const text = await response.text();
      if (response.status === 409 && attempt === 0) {
        const current = Number(text.trim());
        if (!Number.isSafeInteger(current)) throw new Error(`409 without a size: ${text.trim()}`);
        this.witnessSizes.set(witness.key.name, current);
        continue;
      }
      if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${text.trim()}`);
      const line = text.split('\n').find((l) => l.startsWith(`\u2014 ${witness.key.name} `));
      if (!line) throw new Error('no cosignature from this witness in the answer');
      verifyCosignature(body, line, witness.key);
      this.witnessSizes.set(witness.key.name, size);
      return `${line}\n`;
    }
    throw new Error('witness kept answering 409');
  }
}
