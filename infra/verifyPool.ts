// Ed25519 verification on every core: a small pool of worker threads running Node's
// built-in (OpenSSL) Ed25519. Used where throughput is bounded by signature checks: the
// ledger audit and the sequencer's hot path.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

export interface VerifyItem {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

// Plain JavaScript, evaluated in each thread: no TypeScript loader needed there.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const prefix = Buffer.from('302a300506032b6570032100', 'hex');
const keys = new Map();
function keyOf(raw) {
  const id = Buffer.from(raw).toString('hex');
  let key = keys.get(id);
  if (!key) {
    key = createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' });
    if (keys.size > 10000) keys.clear();
    keys.set(id, key);
  }
  return key;
}
parentPort.on('message', ({ id, items }) => {
  const results = new Uint8Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const { publicKey, message, signature } = items[i];
    try {
      results[i] = publicKey.length === 32 && signature.length === 64 && verify(null, message, keyOf(publicKey), signature) ? 1 : 0;
    } catch {
      results[i] = 0;
    }
  }
  parentPort.postMessage({ id, results }, [results.buffer]);
});
`;

export class VerifyPool {
  private readonly workers: Worker[];
  private readonly pending = new Map<
    number,
    { resolve: (results: Uint8Array) => void; reject: (error: Error) => void }
  >();
  private nextId = 0;
  private turn = 0;
  /** Set once a thread died or the pool closed: callers get an error, never a hang. */
  private failure: Error | undefined;

  constructor(readonly size: number = availableParallelism()) {
    this.workers = Array.from({ length: Math.max(1, size) }, () => {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref();
      worker.on('message', ({ id, results }: { id: number; results: Uint8Array }) => {
        this.pending.get(id)?.resolve(results);
        this.pending.delete(id);
      });
      worker.on('error', (error) => this.fail(error));
      worker.on('exit', (code) => this.fail(new Error(`a verify thread exited with code ${code}`)));
      return worker;
    });
  }

  /**
   * Verifies every item, spread over the threads; `true` where the signature is valid.
   * @throws Error when a thread died or the pool was closed.
   */
  async verifyBatch(items: readonly VerifyItem[]): Promise<boolean[]> {
    if (this.failure) throw this.failure;
    if (items.length === 0) return [];
    const chunk = Math.ceil(items.length / this.workers.length);
    const parts: Promise<Uint8Array>[] = [];
    for (let start = 0; start < items.length; start += chunk) {
      const id = this.nextId++;
      const worker = this.workers[this.turn++ % this.workers.length]!;
      parts.push(new Promise((resolve, reject) => this.pending.set(id, { resolve, reject })));
      // Only the three byte arrays cross to the thread (callers may pass richer objects).
      const part = items
        .slice(start, start + chunk)
        .map(({ publicKey, message, signature }) => ({ publicKey, message, signature }));
      worker.postMessage({ id, items: part });
    }
    const results = await Promise.all(parts);
    return results.flatMap((r) => Array.from(r, (v) => v === 1));
  }

  async close(): Promise<void> {
    this.fail(new Error('the verify pool is closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const { reject } of this.pending.values()) reject(this.failure);
    this.pending.clear();
  }
}
