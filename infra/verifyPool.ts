// Ed25519 verification on every core: a small pool of worker threads running libsodium's
// Ed25519 (ledger/pg/sodiumEd25519.ts: about twice OpenSSL's rate here, and stricter), or
// Node's built-in (OpenSSL) one where sodium-native's binary cannot load. Used where
// throughput is bounded by signature checks: the ledger audit and the sequencer's hot path.
// The threads run at a lower CPU priority (nice 10 by default): a check waits a little
// without harm, while the sequencer's one commit at a time, PostgreSQL's backend writing it
// and the event loop answering requests are each on someone's critical path. With the CPU
// not saturated they lose nothing; when it is, the work others wait for runs first.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { isUnusablePublicKey } from '../ledger/ed25519.ts';
import { sodiumModulePath } from '../ledger/pg/sodiumEd25519.ts';

export interface VerifyItem {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

// Plain JavaScript, evaluated in each thread: no TypeScript loader needed there.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const sodium = workerData.sodiumModulePath ? require(workerData.sodiumModulePath) : undefined;
const prefix = Buffer.from('302a300506032b6570032100', 'hex');
// Linux gives each thread its own nice value; setpriority(2) on the thread's id sets this one.
if (workerData.nice) {
  try {
    const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
    require('node:os').setPriority(tid, workerData.nice);
  } catch {
    // No /proc (not Linux): the thread keeps the process's priority.
  }
}
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
// One transferred buffer per batch (see pack): items are [4-byte big-endian message length,
// or 0xffffffff for an item that cannot verify][32-byte key][64-byte signature][message].
parentPort.on('message', ({ count, packed }) => {
  const bytes = new Uint8Array(packed);
  const view = new DataView(packed);
  const results = new Uint8Array(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(at);
    if (length === 0xffffffff) {
      at += 100;
      continue;
    }
    const publicKey = bytes.subarray(at + 4, at + 36);
    const signature = bytes.subarray(at + 36, at + 100);
    const message = bytes.subarray(at + 100, at + 100 + length);
    at += 100 + length;
    try {
      const valid = sodium
        ? sodium.crypto_sign_verify_detached(signature, message, publicKey)
        : verify(null, message, keyOf(publicKey), signature);
      results[i] = valid ? 1 : 0;
    } catch {
      results[i] = 0;
    }
  }
  parentPort.postMessage({ results }, [results.buffer]);
});
`;

/**
 * The verify threads' nice value: CFS then gives a nice-0 thread about ten times their share
 * of a core (sched(7); the kernel's weights are 1024 and 110), so a waiting commit or request
 * runs first. Measured in alternating runs with nice 0 (README, ledger benchmark): a commit
 * of ~80 entries at 256 appenders in flight took p50 4.9-6.7 ms against 6.3-7.2, and the
 * audit's rate rose ~7 %; appends/s moved within this machine's noise.
 */
const VERIFY_THREAD_NICE = 10;

/**
 * Items a thread is sent at once. A batch is cut into chunks of at most this many, and each
 * thread is handed the next chunk as it answers one (at most CHUNKS_A_THREAD waiting), so a
 * thread the scheduler gives less of a core takes fewer chunks: with a batch split in halves,
 * the audit's two verify threads (nice 10, sharing the cores with its main thread) finished
 * their halves apart and the quicker one idled (measured on an exported 200,000-entry log:
 * the machine was ~94 % busy through the audit).
 */
const MAX_CHUNK = 256;
const CHUNKS_A_THREAD = 2;

interface Chunk {
  items: readonly VerifyItem[];
  resolve: (results: Uint8Array) => void;
  reject: (error: Error) => void;
}

export class VerifyPool {
  private readonly workers: Worker[];
  /** Chunks sent to each thread and not yet answered, oldest first (a thread answers in order). */
  private readonly sent: Chunk[][];
  private readonly queue: Chunk[] = [];
  /** Set once a thread died or the pool closed: callers get an error, never a hang. */
  private failure: Error | undefined;

  /**
   * @param size threads, one a core by default.
   * @param options.nice the threads' nice value (0 to 19; 0 keeps the process's priority).
   */
  constructor(
    readonly size: number = availableParallelism(),
    options: { nice?: number } = {},
  ) {
    const nice = options.nice ?? VERIFY_THREAD_NICE;
    if (!Number.isInteger(nice) || nice < 0 || nice > 19)
      throw new RangeError(`nice must be an integer from 0 to 19, not ${nice}`);
    const threads = Math.max(1, size);
    this.sent = Array.from({ length: threads }, () => []);
    this.workers = Array.from({ length: threads }, (_, w) => {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { sodiumModulePath, nice },
      });
      worker.unref();
      worker.on('message', ({ results }: { results: Uint8Array }) => {
        this.sent[w]!.shift()?.resolve(results);
        this.dispatch();
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
    // A small batch (the sequencer's) still goes to every thread at once.
    const chunkSize = Math.min(MAX_CHUNK, Math.ceil(items.length / this.workers.length));
    const parts: Promise<Uint8Array>[] = [];
    for (let start = 0; start < items.length; start += chunkSize) {
      const chunk = items.slice(start, start + chunkSize);
      parts.push(
        new Promise((resolve, reject) => this.queue.push({ items: chunk, resolve, reject })),
      );
    }
    this.dispatch();
    const results = await Promise.all(parts);
    return results.flatMap((r) => Array.from(r, (v) => v === 1));
  }

  async close(): Promise<void> {
    this.fail(new Error('the verify pool is closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** Hands queued chunks to threads with room, the least loaded first. */
  private dispatch(): void {
    while (this.queue.length > 0 && !this.failure) {
      let w = 0;
      for (let i = 1; i < this.sent.length; i++)
        if (this.sent[i]!.length < this.sent[w]!.length) w = i;
      if (this.sent[w]!.length >= CHUNKS_A_THREAD) return;
      const chunk = this.queue.shift()!;
      // Recorded as sent only once it was: a thread's answers are matched to its chunks in
      // order, so one counted but never posted would hand every later batch another's results.
      try {
        const packed = pack(chunk.items);
        this.workers[w]!.postMessage({ count: chunk.items.length, packed }, [packed]);
      } catch (error) {
        chunk.reject(error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      this.sent[w]!.push(chunk);
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const chunk of [...this.sent.flat(), ...this.queue]) chunk.reject(this.failure);
    for (const sent of this.sent) sent.length = 0;
    this.queue.length = 0;
  }
}

/**
 * The items as one buffer the thread receives by transfer, not by structured clone of three
 * arrays an item (measured: the clone cost ~7 µs a statement on the sequencer's thread).
 */
function pack(items: readonly VerifyItem[]): ArrayBuffer {
  // libsodium refuses a key of small order itself; OpenSSL, the threads' check where
  // sodium-native cannot load, does not (ledger/ed25519.ts): such an item goes as one that
  // cannot verify.
  const wellFormed = ({ publicKey, signature }: VerifyItem) =>
    publicKey.length === 32 &&
    signature.length === 64 &&
    (sodiumModulePath !== undefined || !isUnusablePublicKey(publicKey));
  const sendable = items.map(wellFormed);
  let total = 0;
  for (const [i, item] of items.entries()) total += 100 + (sendable[i] ? item.message.length : 0);
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const [i, item] of items.entries()) {
    if (!sendable[i]) {
      view.setUint32(at, 0xffffffff);
      at += 100;
      continue;
    }
    view.setUint32(at, item.message.length);
    bytes.set(item.publicKey, at + 4);
    bytes.set(item.signature, at + 36);
    bytes.set(item.message, at + 100);
    at += 100 + item.message.length;
  }
  return bytes.buffer;
}
