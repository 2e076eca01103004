/**
 * A small least-recently-used cache for the per-bandwidth tables of the harmonic transforms
 * (Wigner-d tables, DFT matrices). Entries are evicted when either the number of entries or their
 * total size in bytes exceeds its limit; the entry just inserted is always kept.
 */
export class LruCache<V> {
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private totalBytes = 0;

  constructor(private readonly maxEntries: number, private readonly maxBytes: number) {}

  /** The cached value for `key`, built by `build` (and sized by `sizeOf`) on a miss. */
  get(key: string, build: () => V, sizeOf: (value: V) => number): V {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      // Re-insert so that the Map's insertion order is the recency order.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.value;
    }

    const value = build();
    const bytes = sizeOf(value);
    this.entries.set(key, { value, bytes });
    this.totalBytes += bytes;
    for (const [oldKey, old] of this.entries) {
      if (this.entries.size <= 1) break;
      if (this.entries.size <= this.maxEntries && this.totalBytes <= this.maxBytes) break;
      this.entries.delete(oldKey);
      this.totalBytes -= old.bytes;
    }
    return value;
  }

  /** The cached value for `key`, if any, without building it or changing the recency order. */
  peek(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** Drops every entry. */
  clear(): void {
    this.entries.clear();
    this.totalBytes = 0;
  }

  get size(): number {
    return this.entries.size;
  }
}
