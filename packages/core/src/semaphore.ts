import type { AvailabilityMonitor } from './availability';
import { encodeValue } from './codec';
import type { ApiRequest, ConsulHttp } from './consulHttp';
import { LockConflictError } from './errors';
import { Hold, type Holdable, type HoldOptions } from './hold';
import type { Logger } from './logger';
import type { ConsulSession } from './session';

/** HashiCorp's `api.SemaphoreFlagValue`. */
export const SEMAPHORE_FLAGS = '16210313421097356768';
const SEMAPHORE_FLAGS_READ = Number(SEMAPHORE_FLAGS);
/** The coordination key inside the prefix (`api.DefaultSemaphoreKey`). */
const LOCK_KEY = '.lock';

export type SemaphoreOptions = HoldOptions;

/**
 * At most `limit` holders at a time under a KV prefix, laid out as HashiCorp's Go
 * `api.Semaphore` lays it out: a contender entry `<prefix>/<session>` acquired with the
 * holder's session, and `<prefix>/.lock` holding `{ Limit, Holders }`, changed only by
 * check-and-set, both with flags `SemaphoreFlagValue`.
 */
export interface ConsulSemaphore extends Holdable {
  /** The prefix, relative to the client's prefix. */
  readonly prefix: string;
  readonly limit: number;
}

/** An entry of a recursive read as Consul sends it: its value base64 text. */
interface ListedEntry {
  Key: string;
  Value: string | null;
  Flags: number;
  ModifyIndex: number;
  Session?: string;
}

/** The JSON under `<prefix>/.lock`, in Go's field names. */
interface SemaphoreLock {
  Limit: number;
  Holders: Record<string, boolean>;
}

/** Joins as Go's `path.Join` does for these keys: one slash between prefix and name. */
const join = (prefix: string, name: string) => `${prefix.replace(/\/+$/, '')}/${name}`;

/** ConsulSemaphore over the shared hold machinery. */
export class KvSemaphore extends Hold implements ConsulSemaphore {
  private readonly value: Buffer;
  private readonly lockPath: string;
  private contender: string | undefined;

  /** @internal use `client.semaphore()` */
  constructor(
    http: ConsulHttp,
    readonly prefix: string,
    private readonly path: string,
    readonly limit: number,
    options: SemaphoreOptions,
    logger: Logger,
    availability: Pick<AvailabilityMonitor, 'whenAvailable'>,
  ) {
    super(
      http,
      options,
      logger,
      `semaphore ${JSON.stringify(prefix)}`,
      { name: 'Consul API Semaphore', behavior: 'delete' },
      availability,
    );
    this.value = options.value === undefined ? Buffer.alloc(0) : encodeValue(options.value, prefix);
    this.lockPath = join(path, LOCK_KEY);
  }

  protected async attempt(session: ConsulSession, signal: AbortSignal, index: bigint | undefined) {
    if (this.contender !== session.id) {
      const made = await this.http.request<boolean>(
        `${this.what}: contender entry`,
        { signal },
        {
          method: 'PUT',
          path: `/kv/${encodeURIComponent(join(this.path, session.id))}`,
          query: `acquire=${encodeURIComponent(session.id)}&flags=${SEMAPHORE_FLAGS}`,
          body: this.value,
        },
      );
      if (made.body !== true)
        throw new LockConflictError(
          `${this.what}: Consul refused the contender entry for session ${session.id}`,
          this.prefix,
        );
      this.contender = session.id;
    }
    const res = await this.http.request<ListedEntry[]>(
      `${this.what}: read`,
      {
        ...(index === undefined ? {} : { index, waitMs: this.blockWaitMs }),
        signal,
        acceptStatus: [404],
      },
      this.holderRequest(),
    );
    if (this.wentBack(res.index)) return { taken: false, reset: true };
    const entries = res.body ?? [];
    const { entry, lock } = this.decode(entries);
    if (Object.keys(lock.Holders).length >= lock.Limit) return { taken: false, index: res.index };
    lock.Holders[session.id] = true;
    const swapped = await this.write(lock, entry?.ModifyIndex ?? 0, signal);
    // Lost a race with another contender: read again at once.
    return swapped ? { taken: true } : { taken: false };
  }

  protected holderRequest(): ApiRequest {
    return { path: `/kv/${encodeURIComponent(join(this.path, ''))}`, query: 'recurse=true' };
  }

  protected holds(session: ConsulSession, body: unknown): boolean {
    return this.decode((body as ListedEntry[] | undefined) ?? []).lock.Holders[session.id] === true;
  }

  protected async giveUp(session: ConsulSession): Promise<void> {
    for (;;) {
      const res = await this.http.request<ListedEntry[]>(
        `${this.what}: read`,
        { timeoutMs: 5_000, acceptStatus: [404] },
        this.holderRequest(),
      );
      const { entry, lock } = this.decode(res.body ?? [], false);
      if (!lock.Holders[session.id]) break;
      delete lock.Holders[session.id];
      if (await this.write(lock, entry?.ModifyIndex ?? 0)) break;
    }
    await this.abandon(session);
  }

  protected override async abandon(session: ConsulSession): Promise<void> {
    if (this.contender !== session.id) return;
    this.contender = undefined;
    await this.http.request(
      `${this.what}: remove contender entry`,
      { timeoutMs: 5_000 },
      {
        method: 'DELETE',
        path: `/kv/${encodeURIComponent(join(this.path, session.id))}`,
      },
    );
  }

  /**
   * The coordination entry and its lock, holders whose contender entry has no session pruned
   * (as Go's pruneDeadHolders does); a limit or flags that disagree are a conflict.
   */
  private decode(
    entries: ListedEntry[],
    prune = true,
  ): { entry?: ListedEntry; lock: SemaphoreLock } {
    const entry = entries.find((e) => e.Key === this.lockPath);
    if (entry && entry.Flags !== SEMAPHORE_FLAGS_READ)
      throw new LockConflictError(
        `${this.what}: ${this.lockPath} exists with flags ${entry.Flags}, so it is not a semaphore's (flags ${SEMAPHORE_FLAGS}). Use another prefix.`,
        this.prefix,
      );
    let lock: SemaphoreLock = { Limit: this.limit, Holders: {} };
    if (entry?.Value) {
      try {
        lock = JSON.parse(Buffer.from(entry.Value, 'base64').toString('utf8')) as SemaphoreLock;
      } catch {
        throw new LockConflictError(
          `${this.what}: ${this.lockPath} is not a semaphore's JSON`,
          this.prefix,
        );
      }
      lock.Holders = { ...(lock.Holders ?? {}) };
    }
    if (lock.Limit !== this.limit)
      throw new LockConflictError(
        `${this.what}: semaphore limit conflict (lock: ${lock.Limit}, local: ${this.limit}); every contender must use the same limit`,
        this.prefix,
      );
    if (prune) {
      const alive = new Set(entries.filter((e) => e.Session).map((e) => e.Session));
      for (const holder of Object.keys(lock.Holders))
        if (!alive.has(holder)) delete lock.Holders[holder];
    }
    return { entry, lock };
  }

  private async write(lock: SemaphoreLock, cas: number, signal?: AbortSignal): Promise<boolean> {
    const holders = Object.fromEntries(
      Object.keys(lock.Holders)
        .sort()
        .map((h) => [h, true]),
    );
    const res = await this.http.request<boolean>(
      `${this.what}: update holders`,
      { ...(signal ? { signal } : { timeoutMs: 5_000 }) },
      {
        method: 'PUT',
        path: `/kv/${encodeURIComponent(this.lockPath)}`,
        query: `cas=${cas}&flags=${SEMAPHORE_FLAGS}`,
        body: JSON.stringify({ Limit: lock.Limit, Holders: holders }),
      },
    );
    return res.body === true;
  }
}
