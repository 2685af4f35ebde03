/** Keys per chunk after a split; a chunk splits when it passes twice this. */
const CHUNK = 512;

/** Index of the first of `keys` (sorted) that is not below `key`. */
function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Keys kept in byte order (as Consul's radix tree returns them), so a prefix read is a
 * binary search and a walk rather than a scan of every key.
 *
 * They sit in sorted chunks of at most 2 × CHUNK keys, not one flat array: inserting into a
 * flat array moved every key after the new one, which past ~100,000 keys cost over 100 µs
 * per new key and capped PUT throughput (bench/dev-server.bench.mjs). A chunk bounds that
 * move; the list of chunks is n / CHUNK long.
 */
export class SortedKeys {
  /** Non-empty, each sorted, every key of one below every key of the next. */
  private readonly chunks: string[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Index of the first chunk whose last key is not below `key` (chunks.length if none). */
  private chunkFor(key: string): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = this.chunks[mid]!;
      if (chunk[chunk.length - 1]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(key: string): void {
    const last = this.chunks.length - 1;
    if (last < 0) {
      this.chunks.push([key]);
      this.count = 1;
      return;
    }
    // A key above every other goes to the end of the last chunk.
    const c = Math.min(this.chunkFor(key), last);
    const chunk = this.chunks[c]!;
    const at = lowerBound(chunk, key);
    if (chunk[at] === key) return;
    chunk.splice(at, 0, key);
    this.count++;
    if (chunk.length > 2 * CHUNK) this.chunks.splice(c + 1, 0, chunk.splice(CHUNK));
  }

  delete(key: string): void {
    const c = this.chunkFor(key);
    const chunk = this.chunks[c];
    if (!chunk) return;
    const at = lowerBound(chunk, key);
    if (chunk[at] !== key) return;
    chunk.splice(at, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(c, 1);
  }

  clear(): void {
    this.chunks.length = 0;
    this.count = 0;
  }

  /** Every key starting with `prefix`, in order. */
  *withPrefix(prefix: string): IterableIterator<string> {
    const first = this.chunkFor(prefix);
    for (let c = first; c < this.chunks.length; c++) {
      const chunk = this.chunks[c]!;
      for (let i = c === first ? lowerBound(chunk, prefix) : 0; i < chunk.length; i++) {
        const key = chunk[i]!;
        if (!key.startsWith(prefix)) return;
        yield key;
      }
    }
  }
}
