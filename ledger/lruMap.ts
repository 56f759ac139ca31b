// A bounded map for values that never change once known (closed cases, a case's entries,
// complete subtree hashes): reading a value makes it the newest, and past `capacity` the
// least recently used goes first. Map keeps insertion order, so the oldest is its first key.
// `delete` drops a value that must not be kept (a case's status once the case is erased).
// `has` asks without reading (a verified token the API lets through a refused-token limit).

export class LruMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  /** Whether `key` is kept, without making it the newest. */
  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }

  delete(key: K): void {
    this.map.delete(key);
  }
}
