// Which entry first held each statement id: the full audit's check that no statement was
// appended twice (appends are idempotent on statementId, ARCHITECTURE.md §3), over a whole
// log. The ids are kept as bytes in one growing arena and found through an open-
// addressing table of typed arrays, none of which the collector traces. A Map of a million
// id strings did the same, but every major collection walked all of them: measured on an
// exported 200,000-entry log, the audit's main thread took ~1 µs an entry more with it.

const EMPTY = 0;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export class FirstIndexById {
  private arena = new Uint8Array(1 << 16);
  private used = 0;
  /** Per id, in order of first sight: where its bytes start in the arena, their length, its entry index. */
  private starts = new Float64Array(1 << 10);
  private lengths = new Uint16Array(1 << 10);
  private indices = new Float64Array(1 << 10);
  private count = 0;
  /** The hash of the id `encode` wrote last. */
  private hash = 0;
  /**
   * Open addressing, linear probing, two numbers a slot: the id's hash, then its number + 1
   * (EMPTY for none). The hash beside it spares a probe a second cache miss. Slots a power of two.
   */
  private slots = new Uint32Array(2 << 11);

  /** How many distinct ids were seen. */
  get size(): number {
    return this.count;
  }

  /**
   * The index of the entry that first held `id`, if one did; otherwise records `index` as
   * that entry and returns undefined.
   */
  firstOrAdd(id: string, index: number): number | undefined {
    const start = this.encode(id);
    const length = this.used - start;
    const hash = this.hash;
    const mask = this.slots.length / 2 - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const held = this.slots[2 * slot + 1]!;
      if (held === EMPTY) break;
      const n = held - 1;
      if (this.slots[2 * slot] === hash && this.sameBytes(n, start, length)) {
        this.used = start; // seen before: its bytes are not kept twice
        return this.indices[n];
      }
    }
    if (length > 0xffff) {
      this.used = start;
      throw new RangeError(`statement id of ${length} bytes`);
    }
    this.remember(start, length, index, hash);
    return undefined;
  }

  /**
   * Writes `id` at the end of the arena and hashes what it wrote; returns where it starts. An ASCII id is written a
   * byte a character; any other as 0xff (never in an ASCII one) then two bytes a UTF-16 code
   * unit, so lone surrogates stay apart too (UTF-8 would write each as U+FFFD).
   */
  private encode(id: string): number {
    const start = this.used;
    this.reserve(1 + 2 * id.length);
    const arena = this.arena;
    let at = start;
    // FNV-1a of the bytes as they are written: one pass.
    let hash = FNV_OFFSET;
    for (let i = 0; i < id.length; i++) {
      const code = id.charCodeAt(i);
      if (code >= 0x80) {
        at = start;
        arena[at++] = 0xff;
        for (let j = 0; j < id.length; j++) {
          const unit = id.charCodeAt(j);
          arena[at++] = unit >>> 8;
          arena[at++] = unit & 0xff;
        }
        hash = FNV_OFFSET;
        for (let j = start; j < at; j++) hash = Math.imul(hash ^ arena[j]!, FNV_PRIME);
        break;
      }
      arena[at++] = code;
      hash = Math.imul(hash ^ code, FNV_PRIME);
    }
    this.used = at;
    this.hash = hash >>> 0;
    return start;
  }

  private sameBytes(n: number, start: number, length: number): boolean {
    if (this.lengths[n] !== length) return false;
    const other = this.starts[n]!;
    for (let i = 0; i < length; i++)
      if (this.arena[other + i] !== this.arena[start + i]) return false;
    return true;
  }

  private remember(start: number, length: number, index: number, hash: number): void {
    if (this.count === this.starts.length) {
      this.starts = grown(this.starts, Float64Array);
      this.lengths = grown(this.lengths, Uint16Array);
      this.indices = grown(this.indices, Float64Array);
    }
    const n = this.count++;
    this.starts[n] = start;
    this.lengths[n] = length;
    this.indices[n] = index;
    // At most half full, so a probe ends soon.
    if (4 * this.count > this.slots.length) this.rehash(2 * this.slots.length);
    this.place(hash, n + 1);
  }

  /** Puts `(hash, held)` in the first free slot from the hash's own. */
  private place(hash: number, held: number): void {
    const mask = this.slots.length / 2 - 1;
    let slot = hash & mask;
    while (this.slots[2 * slot + 1] !== EMPTY) slot = (slot + 1) & mask;
    this.slots[2 * slot] = hash;
    this.slots[2 * slot + 1] = held;
  }

  /** `length`: of the slots array, two numbers a slot. Every held slot moves over, hash and all. */
  private rehash(length: number): void {
    const old = this.slots;
    this.slots = new Uint32Array(length);
    for (let i = 0; i < old.length; i += 2)
      if (old[i + 1] !== EMPTY) this.place(old[i]!, old[i + 1]!);
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.arena.length) return;
    const next = new Uint8Array(Math.max(2 * this.arena.length, this.used + bytes));
    next.set(this.arena.subarray(0, this.used));
    this.arena = next;
  }
}

function grown<T extends Float64Array | Uint16Array>(array: T, Kind: new (length: number) => T): T {
  const next = new Kind(2 * array.length);
  next.set(array);
  return next;
}
