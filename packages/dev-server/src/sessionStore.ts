import { randomUUID } from 'node:crypto';
import type { CatalogStore } from './catalogStore';
import { formatGoDuration, parseGoDuration as parseDuration } from './goDuration';
import { HttpError } from './http';
import type { KvStore } from './kvStore';

export type SessionBehavior = 'release' | 'delete';

/** A session as Consul's session endpoints return it (LockDelay in nanoseconds). */
export interface Session {
  ID: string;
  Name: string;
  Node: string;
  LockDelay: number;
  Behavior: SessionBehavior;
  TTL: string;
  NodeChecks: string[] | null;
  ServiceChecks: { ID: string; Namespace: string }[] | null;
  CreateIndex: number;
  ModifyIndex: number;
}

export type SessionInput = Omit<Session, 'ID' | 'CreateIndex' | 'ModifyIndex'>;

export interface SessionSnapshot {
  tableIndex: number;
  sessions: Session[];
}

export const SESSIONS_TOPIC = 'sessions';

/** Consul's `session_ttl_min` default and its fixed maximum. */
export const SESSION_TTL_MIN_MS = 10_000;
export const SESSION_TTL_MAX_MS = 24 * 3600_000;
/** Consul caps the lock-delay it applies at 60 s, whatever the session asked for. */
const MAX_LOCK_DELAY_MS = 60_000;
/** A session's TTL timer runs for twice its TTL, as Consul's does. */
const TTL_MULTIPLIER = 2;

const NS_PER_MS = 1_000_000;

/**
 * The session table: sessions, their TTL timers and the lock-delays their invalidation left
 * on keys. Invalidating a session (destroy, TTL expiry, a check it names turning critical or
 * going away, its node leaving) releases or deletes the keys it holds at the same index.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly lockDelays = new Map<string, number>();
  private tableIndex = 0;

  constructor(
    private readonly kv: KvStore,
    private readonly catalog: CatalogStore,
    private readonly nextIndex: () => number,
    private readonly notify: (topic: string) => void,
    private readonly ttlMinMs = SESSION_TTL_MIN_MS,
  ) {}

  get index(): number {
    return this.tableIndex;
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  list(): Session[] {
    return [...this.sessions.values()].sort((a, b) => a.CreateIndex - b.CreateIndex);
  }

  ofNode(node: string): Session[] {
    return this.list().filter((s) => s.Node === node);
  }

  /** Checks what Consul's server checks, then stores the session; errors are Consul's 500s. */
  create(input: SessionInput): Session {
    if (input.TTL !== '') this.checkTtl(input.TTL);
    if (!this.catalog.node(input.Node)) throw new HttpError(500, 'Missing node registration');
    for (const id of input.NodeChecks ?? []) this.checkUsable(input.Node, id);
    for (const c of input.ServiceChecks ?? []) this.checkUsable(input.Node, c.ID);
    const index = this.nextIndex();
    const session: Session = { ...input, ID: randomUUID(), CreateIndex: index, ModifyIndex: index };
    this.sessions.set(session.ID, session);
    this.touch(index);
    this.arm(session);
    return session;
  }

  /** Restarts the session's TTL; undefined when there is no such session. */
  renew(id: string): Session | undefined {
    const session = this.sessions.get(id);
    if (session) this.arm(session);
    return session;
  }

  destroy(id: string): void {
    if (this.sessions.has(id)) this.invalidate(id, this.nextIndex());
  }

  /** True while a key is under the lock-delay its holder's invalidation left on it. */
  lockDelayed(key: string): boolean {
    const until = this.lockDelays.get(key);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    this.lockDelays.delete(key);
    return false;
  }

  /**
   * Invalidates every session whose node is gone or whose named checks are missing or
   * critical. Called after each catalog change to nodes or checks, at that change's index.
   */
  checkHealth(index: number): void {
    for (const session of [...this.sessions.values()]) {
      if (!this.healthy(session)) this.invalidate(session.ID, index);
    }
  }

  snapshot(): SessionSnapshot {
    return { tableIndex: this.tableIndex, sessions: structuredClone(this.list()) };
  }

  /** Replaces the table; TTL timers start again in full, as after a leader election. */
  restore(snapshot: SessionSnapshot | undefined): void {
    this.stop();
    this.sessions.clear();
    this.lockDelays.clear();
    this.tableIndex = snapshot?.tableIndex ?? 0;
    for (const s of snapshot?.sessions ?? []) {
      this.sessions.set(s.ID, structuredClone(s));
      this.arm(s);
    }
    this.notify(SESSIONS_TOPIC);
  }

  stop(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private invalidate(id: string, index: number): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
    const keys = this.kv.dropSession(id, session.Behavior, index);
    const delayMs = Math.min(session.LockDelay / NS_PER_MS, MAX_LOCK_DELAY_MS);
    if (delayMs > 0) {
      const until = Date.now() + delayMs;
      for (const key of keys) this.lockDelays.set(key, until);
    }
    this.touch(index);
  }

  private healthy(session: Session): boolean {
    if (!this.catalog.node(session.Node)) return false;
    const ids = [...(session.NodeChecks ?? []), ...(session.ServiceChecks ?? []).map((c) => c.ID)];
    return ids.every((id) => {
      const check = this.catalog.check(session.Node, id);
      return check !== undefined && check.Status !== 'critical';
    });
  }

  private checkUsable(node: string, id: string): void {
    const check = this.catalog.check(node, id);
    if (!check) throw new HttpError(500, `Missing check '${id}' registration`);
    if (check.Status === 'critical') throw new HttpError(500, `Check '${id}' is in critical state`);
  }

  private checkTtl(ttl: string): void {
    const ms = parseDuration(ttl);
    if (ms === undefined)
      throw new HttpError(500, `Session TTL '${ttl}' invalid: time: invalid duration "${ttl}"`);
    if (ms !== 0 && (ms < this.ttlMinMs || ms > SESSION_TTL_MAX_MS)) {
      throw new HttpError(
        500,
        `Invalid Session TTL '${ms * NS_PER_MS}', must be between [${formatGoDuration(this.ttlMinMs)}=${formatGoDuration(SESSION_TTL_MAX_MS)}]`,
      );
    }
  }

  private arm(session: Session): void {
    clearTimeout(this.timers.get(session.ID));
    const ms = session.TTL === '' ? 0 : (parseDuration(session.TTL) ?? 0);
    if (ms === 0) return;
    const timer = setTimeout(() => {
      this.timers.delete(session.ID);
      this.invalidate(session.ID, this.nextIndex());
    }, ms * TTL_MULTIPLIER);
    timer.unref();
    this.timers.set(session.ID, timer);
  }

  private touch(index: number): void {
    if (index > this.tableIndex) this.tableIndex = index;
    this.notify(SESSIONS_TOPIC);
  }
}
