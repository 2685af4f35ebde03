import { Deadlines, type Timed } from './deadlines';
import type { Reply } from './http';

/** What a blocking read computes: its answer and the index that answer carries. */
export interface QueryResult extends Reply {
  index: bigint;
}

/**
 * A parked request. The fields Waiters and Deadlines keep on it stand in for the Sets, maps
 * and closures that held it before: with 10,000 parked queries each object per query was
 * measurable in the server's memory (bench/dev-server.bench.mjs).
 */
export interface Waiter extends Timed {
  /** The group it is parked in; undefined once it is not parked any more. */
  group: Group | undefined;
  /** Its place in `group.waiters`, so leaving the group is no search. */
  slot: number;
  /** Answers the parked request with this result (or a fresh one after a restore). */
  answer(result: QueryResult): void;
  /** True when a result with this index is news for the waiter. */
  isNews(index: bigint): boolean;
}

/** The waiters that sent one query (same topic, same signature): one run answers them all. */
export class Group {
  readonly waiters: Waiter[];

  constructor(
    readonly topic: string,
    readonly signature: string,
    readonly run: () => QueryResult,
    first: Waiter,
  ) {
    this.waiters = [first];
  }
}

/**
 * The parked blocking queries, indexed by what they read. A write names the topics it
 * touched (a KV key and its prefixes, a catalog table, a service name), so it reaches only
 * the queries that read them: its cost does not grow with unrelated waiters. Waiters that
 * sent the same query share one group, and a wake-up runs that query once for all of them.
 * Each waiter also has a deadline; when it passes, the waiter is answered with what its
 * query reads then.
 */
export class Waiters {
  private readonly topics = new Map<string, Group[]>();
  /** How many topics with parked queries have each length (see `topicLengths`). */
  private readonly lengths = new Map<number, number>();
  private readonly deadlines = new Deadlines<Waiter>((waiter) => this.expire(waiter));
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

  /** Parks `waiter` on `topic` until it is woken with news, unparked, or `timeoutMs` passes. */
  park(
    waiter: Waiter,
    topic: string,
    signature: string,
    run: () => QueryResult,
    timeoutMs: number,
  ): void {
    const groups = this.topics.get(topic);
    let group: Group | undefined;
    if (groups) {
      for (const g of groups) if (g.signature === signature) group = g;
    }
    if (group) waiter.slot = group.waiters.push(waiter) - 1;
    else {
      group = new Group(topic, signature, run, waiter);
      waiter.slot = 0;
      if (groups) groups.push(group);
      else {
        this.topics.set(topic, [group]);
        this.lengths.set(topic.length, (this.lengths.get(topic.length) ?? 0) + 1);
      }
    }
    waiter.group = group;
    this.deadlines.add(waiter, timeoutMs);
    this.count++;
    if (this.parkWatchers.size > 0) for (const listener of [...this.parkWatchers]) listener();
  }

  /** Forgets `waiter` without answering it (its client went away). False if it was not parked. */
  unpark(waiter: Waiter): boolean {
    const group = waiter.group;
    if (!group) return false;
    waiter.group = undefined;
    const waiters = group.waiters;
    const last = waiters.pop()!;
    if (last !== waiter) {
      waiters[waiter.slot] = last;
      last.slot = waiter.slot;
    }
    if (waiters.length === 0) this.dropGroup(group);
    this.deadlines.remove(waiter);
    this.count--;
    return true;
  }

  has(topic: string): boolean {
    return this.topics.has(topic);
  }

  /**
   * The distinct lengths of the topics queries are parked on. A write that could touch a
   * topic for each prefix of a name (a KV key) tries only the prefixes of these lengths
   * instead of all of them.
   */
  topicLengths(): IterableIterator<number> {
    return this.lengths.keys();
  }

  /** Re-runs each query parked on `topic` once and answers the waiters it has news for. */
  wake(topic: string): void {
    const groups = this.topics.get(topic);
    if (!groups) return;
    for (const group of [...groups]) {
      const result = group.run();
      for (const waiter of [...group.waiters]) {
        if (waiter.isNews(result.index) && this.unpark(waiter)) waiter.answer(result);
      }
    }
  }

  /**
   * Answers every parked query at once with its current result, as Consul does when a
   * snapshot restore abandons the state store: clients then see the (possibly lower) index.
   */
  abandonAll(): void {
    for (const groups of [...this.topics.values()]) {
      for (const group of [...groups]) {
        const result = group.run();
        for (const waiter of [...group.waiters]) if (this.unpark(waiter)) waiter.answer(result);
      }
    }
  }

  private expire(waiter: Waiter): void {
    const group = waiter.group;
    if (group && this.unpark(waiter)) waiter.answer(group.run());
  }

  private dropGroup(group: Group): void {
    const groups = this.topics.get(group.topic)!;
    groups.splice(groups.indexOf(group), 1);
    if (groups.length > 0) return;
    this.topics.delete(group.topic);
    const length = group.topic.length;
    const left = this.lengths.get(length)! - 1;
    if (left === 0) this.lengths.delete(length);
    else this.lengths.set(length, left);
  }
}
