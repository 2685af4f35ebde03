import type { Reply } from './http';

/** What a blocking read computes: its answer and the index that answer carries. */
export interface QueryResult extends Reply {
  index: bigint;
}

export interface Waiter {
  /** Answers the parked request with this result (or a fresh one after a restore). */
  answer(result: QueryResult): void;
  /** True when this result is news for the waiter (index moved past its `index`). */
  isNews(result: QueryResult): boolean;
}

interface Group {
  run: () => QueryResult;
  waiters: Set<Waiter>;
}

/**
 * The parked blocking queries, indexed by what they read. A write names the topics it
 * touched (a KV key and its prefixes, a catalog table, a service name), so it reaches only
 * the queries that read them: its cost does not grow with unrelated waiters. Waiters that
 * sent the same query share one group, and a wake-up runs that query once for all of them.
 */
export class Waiters {
  private readonly topics = new Map<string, Map<string, Group>>();
  private count = 0;
  private readonly parkWatchers = new Set<() => void>();

  /** Calls `listener` after every park; returns how to stop listening. */
  onPark(listener: () => void): () => void {
    this.parkWatchers.add(listener);
    return () => this.parkWatchers.delete(listener);
  }

  get size(): number {
    return this.count;
  }

  park(topic: string, signature: string, run: () => QueryResult, waiter: Waiter): () => void {
    let groups = this.topics.get(topic);
    if (!groups) {
      groups = new Map();
      this.topics.set(topic, groups);
    }
    let group = groups.get(signature);
    if (!group) {
      group = { run, waiters: new Set() };
      groups.set(signature, group);
    }
    group.waiters.add(waiter);
    this.count++;
    for (const listener of [...this.parkWatchers]) listener();
    const owner = group;
    return () => {
      if (!owner.waiters.delete(waiter)) return;
      this.count--;
      if (owner.waiters.size === 0) {
        groups.delete(signature);
        if (groups.size === 0) this.topics.delete(topic);
      }
    };
  }

  has(topic: string): boolean {
    return this.topics.has(topic);
  }

  /** Re-runs each query parked on `topic` once and answers the waiters it has news for. */
  wake(topic: string): void {
    const groups = this.topics.get(topic);
    if (!groups) return;
    for (const group of [...groups.values()]) {
      const result = group.run();
      for (const waiter of [...group.waiters]) {
        if (waiter.isNews(result)) waiter.answer(result);
      }
    }
  }

  /**
   * Answers every parked query at once with its current result, as Consul does when a
   * snapshot restore abandons the state store: clients then see the (possibly lower) index.
   */
  abandonAll(): void {
    for (const groups of [...this.topics.values()]) {
      for (const group of [...groups.values()]) {
        const result = group.run();
        for (const waiter of [...group.waiters]) waiter.answer(result);
      }
    }
  }
}
