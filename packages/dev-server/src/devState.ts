import { Agent, type TtlDefinition } from './agent';
import { type CatalogSnapshot, CatalogStore, topics } from './catalogStore';
import { type EventSnapshot, EventStore } from './eventStore';
import { type KvSnapshot, KvStore } from './kvStore';
import { Raft } from './raft';
import { type SessionSnapshot, SessionStore } from './sessionStore';
import { Waiters } from './waiters';

/** Everything the server holds, as `snapshot()` returns it and `restore()` takes it back. */
export interface DevServerSnapshot {
  version: 1;
  index: number;
  kv: KvSnapshot;
  catalog: CatalogSnapshot;
  events: EventSnapshot;
  ttlChecks: [string, TtlDefinition][];
  /** Absent in files written before sessions existed. */
  sessions?: SessionSnapshot;
}

export const kvTopics = {
  key: (key: string) => `kv:${key}`,
  prefix: (prefix: string) => `kvp:${prefix}`,
};
const PREFIX_TOPIC_LENGTH = kvTopics.prefix('').length;

/**
 * The server's whole state and the parked queries that read it. Writes name the topics
 * they touch; the wake-ups run once the write is complete (on the microtask after it), so
 * a watcher never sees a write half applied.
 */
export class DevState {
  readonly raft = new Raft();
  readonly waiters = new Waiters();
  readonly kv = new KvStore((key) => this.kvChanged(key));
  readonly catalog = new CatalogStore((topic) => {
    this.changed(topic);
    // As in Consul, a session dies in the same write as its node or a check it names.
    if (topic === topics.checks || topic === topics.nodes)
      this.sessions.checkHealth(this.raft.index);
  });
  readonly events = new EventStore((topic) => this.changed(topic));
  readonly sessions: SessionStore;
  readonly agent: Agent;
  private pending = new Set<string>();
  private flushing = false;

  constructor(
    node: string,
    datacenter: string,
    /** Called after every write (the data file's save); none: nothing to call. */
    private readonly onChange?: () => void,
    sessionTtlMinMs?: number,
  ) {
    this.agent = new Agent(node, datacenter, this.raft, this.catalog);
    this.sessions = new SessionStore(
      this.kv,
      this.catalog,
      () => this.raft.next(),
      (topic) => this.changed(topic),
      sessionTtlMinMs,
    );
  }

  private kvChanged(key: string): void {
    // With no query parked there is no topic worth naming.
    if (this.waiters.size > 0) {
      this.changed(kvTopics.key(key));
      // A key wakes the watchers of every prefix it lies under. Only a prefix as long as some
      // parked topic can have watchers, so that is all this looks up: no lookup at all when
      // nobody watches a prefix, where it used to be one per character of the key.
      for (const length of this.waiters.topicLengths()) {
        const end = length - PREFIX_TOPIC_LENGTH;
        if (end >= 0 && end <= key.length) this.changed(kvTopics.prefix(key.slice(0, end)));
      }
    }
    this.afterWrite();
  }

  /**
   * Queues the wake-up of the queries parked on `topic`. A query that parks after this write
   * has already read its result, so a topic nobody waits on now needs no wake-up.
   */
  private changed(topic: string): void {
    if (this.waiters.has(topic)) this.pending.add(topic);
    this.afterWrite();
  }

  /** Wakes what the write touched and calls onChange, once the write is complete. */
  private afterWrite(): void {
    if (this.flushing || (this.pending.size === 0 && !this.onChange)) return;
    this.flushing = true;
    queueMicrotask(this.flush);
  }

  private readonly flush = () => {
    this.flushing = false;
    if (this.pending.size > 0) {
      const topics = this.pending;
      this.pending = new Set();
      for (const t of topics) this.waiters.wake(t);
    }
    this.onChange?.();
  };

  snapshot(): DevServerSnapshot {
    return {
      version: 1,
      index: this.raft.index,
      kv: this.kv.snapshot(),
      catalog: this.catalog.snapshot(),
      events: this.events.snapshot(),
      ttlChecks: this.agent.ttlDefinitions(),
      sessions: this.sessions.snapshot(),
    };
  }

  /**
   * Replaces the state with a snapshot. As after a real snapshot restore, the index may go
   * backwards, and every parked query answers at once with what it reads now.
   */
  restore(snapshot: DevServerSnapshot): void {
    if (snapshot?.version !== 1)
      throw new TypeError('restore() takes a value returned by snapshot()');
    this.raft.index = snapshot.index;
    this.kv.restore(structuredClone(snapshot.kv));
    this.catalog.restore(snapshot.catalog);
    this.events.restore(snapshot.events);
    this.agent.resume(snapshot.ttlChecks);
    this.sessions.restore(snapshot.sessions);
    this.waiters.abandonAll();
    this.onChange?.();
  }

  close(): void {
    this.agent.stop();
    this.sessions.stop();
    this.waiters.abandonAll();
  }
}
