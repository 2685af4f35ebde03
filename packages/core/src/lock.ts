import type { AvailabilityMonitor } from './availability';
import { encodeValue } from './codec';
import type { ApiRequest, ConsulHttp } from './consulHttp';
import { LockConflictError } from './errors';
import { Hold, type Holdable, type HoldOptions } from './hold';
import type { RawKvEntry } from './kv';
import type { Logger } from './logger';
import type { ConsulSession } from './session';

/** HashiCorp's `api.LockFlagValue`: the flags of a key used as a lock by Go and Node alike. */
export const LOCK_FLAGS = '3304740253564472344';
/** The name of a lock's own session, as Go's `api.DefaultLockSessionName`. */
export const LOCK_SESSION_NAME = 'Consul API Lock';
/** Consul's JSON numbers are read as doubles; this is how the flags above read back. */
const LOCK_FLAGS_READ = Number(LOCK_FLAGS);

export type LockOptions = HoldOptions;

/**
 * A mutual-exclusion lock on one KV key, laid out as HashiCorp's Go `api.Lock` lays it out
 * (the key acquired with a session, flags `LockFlagValue`, the holder's value), so Go and
 * Node processes guarding one key exclude each other.
 */
export interface ConsulLock extends Holdable {
  /** The key, relative to the client's prefix. */
  readonly key: string;
}

/** ConsulLock over the shared hold machinery. */
export class KvLock extends Hold implements ConsulLock {
  private readonly value: Buffer;

  /** @internal use `client.lock()` */
  constructor(
    http: ConsulHttp,
    readonly key: string,
    private readonly path: string,
    options: LockOptions,
    logger: Logger,
    availability: Pick<AvailabilityMonitor, 'whenAvailable'>,
  ) {
    super(
      http,
      options,
      logger,
      `lock ${JSON.stringify(key)}`,
      { name: LOCK_SESSION_NAME },
      availability,
    );
    this.value = options.value === undefined ? Buffer.alloc(0) : encodeValue(options.value, key);
  }

  protected async attempt(session: ConsulSession, signal: AbortSignal, index: bigint | undefined) {
    const res = await this.http.request<RawKvEntry[]>(
      `${this.what}: read`,
      {
        ...(index === undefined ? {} : { index, waitMs: this.blockWaitMs }),
        signal,
        acceptStatus: [404],
      },
      this.holderRequest(),
    );
    if (this.wentBack(res.index)) return { taken: false, reset: true };
    const entry = res.body?.[0];
    if (entry && entry.Flags !== LOCK_FLAGS_READ)
      throw new LockConflictError(
        `${this.what}: the key exists with flags ${entry.Flags}, so it is not a lock (a lock's flags are ${LOCK_FLAGS}). Use another key, or delete this one if it is stale.`,
        this.key,
      );
    if (entry?.Session && entry.Session !== session.id) return { taken: false, index: res.index };
    const put = await this.http.request<boolean>(
      `${this.what}: acquire`,
      { signal },
      this.write('acquire', session.id),
    );
    return put.body === true ? { taken: true } : { taken: false, refused: true };
  }

  protected holderRequest(): ApiRequest {
    return { path: `/kv/${encodeURIComponent(this.path)}` };
  }

  /** The lock key written with Go's lock flags, taken or given back by `session`. */
  private write(verb: 'acquire' | 'release', session: string): ApiRequest {
    return {
      method: 'PUT',
      path: `/kv/${encodeURIComponent(this.path)}`,
      query: `${verb}=${encodeURIComponent(session)}&flags=${LOCK_FLAGS}`,
      body: this.value,
    };
  }

  protected holds(session: ConsulSession, body: unknown): boolean {
    return (body as RawKvEntry[] | undefined)?.[0]?.Session === session.id;
  }

  protected async giveUp(session: ConsulSession): Promise<void> {
    await this.http.request(
      `${this.what}: release`,
      { timeoutMs: 5_000 },
      this.write('release', session.id),
    );
  }
}
