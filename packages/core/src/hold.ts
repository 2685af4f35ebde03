import type { AvailabilityMonitor } from './availability';
import { backoffDelay, pause } from './backoff';
import type { ApiRequest, ConsulHttp } from './consulHttp';
import {
  ConsulUnavailableError,
  InvalidInputError,
  type LockLossReason,
  LockLostError,
  TimeoutError,
} from './errors';
import type { Logger } from './logger';
import {
  type ConsulSession,
  checkSessionOptions,
  openSession,
  type SessionOptions,
  shown,
} from './session';

/** What a lock and a semaphore share: how they get a session and how long they wait. */
export interface HoldOptions {
  /** Written with the hold (the lock key's or the contender entry's value). */
  value?: unknown;
  /**
   * A session of your own (from `client.session()`), shared by several holds. By default
   * each acquisition opens its own session and destroys it on release.
   */
  session?: ConsulSession;
  /** Name of the session opened for you. */
  sessionName?: string;
  /** TTL of the session opened for you, ms. Default 15 000. */
  ttlMs?: number;
  /** Lock-delay of the session opened for you, ms. Default 15 000 (Consul's). */
  lockDelayMs?: number;
  /** Longest single blocking read while waiting, ms. Default 15 000. */
  waitMs?: number;
  /**
   * After Consul refused an acquisition of a free key (a lock-delay is running), how long
   * to wait before trying again, ms. Default 5 000.
   */
  retryMs?: number;
}

export interface AcquireOptions {
  /** Gives up waiting when it aborts; the promise rejects with its reason. */
  signal?: AbortSignal;
  /** Gives up waiting after this long; the promise rejects with a TimeoutError. */
  timeoutMs?: number;
}

const DEFAULT_WAIT_MS = 15_000;
const DEFAULT_RETRY_MS = 5_000;
const RETRY_BACKOFF = { baseMs: 100, maxMs: 2_000, slowMs: 30_000 };
const MONITOR_WAIT_MS = 5 * 60_000;

export function checkHoldOptions(options: HoldOptions, what: string): void {
  if (options === null || typeof options !== 'object')
    throw new InvalidInputError(`${what}: options must be an object`);
  checkSessionOptions(
    { name: options.sessionName, ttlMs: options.ttlMs, lockDelayMs: options.lockDelayMs },
    what,
    'sessionName',
  );
  for (const name of ['waitMs', 'retryMs'] as const) {
    const value = options[name];
    if (value !== undefined && !(typeof value === 'number' && value >= 1 && value <= 600_000))
      throw new InvalidInputError(
        `${what}: ${name} must be a number of milliseconds from 1 to 600000, got ${shown(value)}`,
      );
  }
  if (options.session !== undefined && !(options.session?.signal instanceof AbortSignal))
    throw new InvalidInputError(`${what}: session must be one returned by client.session()`);
}

/** What a lock and a semaphore slot offer their holder. */
export interface Holdable {
  /** True while held (the signal has not aborted). */
  readonly held: boolean;
  /** The current hold's signal; undefined when not held. */
  readonly signal: AbortSignal | undefined;
  /**
   * Waits until held; resolves with a signal that aborts (reason: a LockLostError) the moment
   * the hold is lost or released. Act as holder only while it has not aborted.
   */
  acquire(options?: AcquireOptions): Promise<AbortSignal>;
  /** One attempt: the signal when acquired, undefined when it is taken (or full). */
  tryAcquire(): Promise<AbortSignal | undefined>;
  /** Gives the hold up (the signal aborts first, reason 'released'); a no-op when not held. */
  release(): Promise<void>;
  /** Stops waiting, releases what is held, and refuses further acquisitions. */
  close(): Promise<void>;
}

/** True when `signal` aborted because the hold was lost for `reason`. */
const lostTo = (signal: AbortSignal, reason: LockLossReason): boolean =>
  signal.aborted && signal.reason instanceof LockLostError && signal.reason.reason === reason;

/** The next index to block on, by the index rules: a reset (lower index) reads afresh. */
function nextIndex(sent: bigint | undefined, got: bigint | undefined): bigint | undefined {
  if (got === undefined) return undefined;
  if (sent !== undefined && got < sent) return undefined;
  return got < 1n ? 1n : got;
}

/**
 * The machinery under a lock and a semaphore: one acquisition at a time, a session per
 * acquisition (or the caller's), a waiting loop that survives Consul going away, and while
 * held a signal that aborts the moment the hold is lost, from whichever side learns it first.
 */
export abstract class Hold implements Holdable {
  private current:
    | { controller: AbortController; session: ConsulSession; own: boolean; monitor: Promise<void> }
    | undefined;
  private busy = false;
  private closed = false;
  private waiting: AbortController | undefined;
  /** The acquisition under way, settled once its loop has cleaned up (its session destroyed). */
  private acquiring: Promise<void> | undefined;
  /** Why the last attempt of the acquisition under way failed, for a timeout's message. */
  private lastFailure: Error | undefined;
  /** Holds given up while Consul was away, whose key and session go back once it answers. */
  private readonly reclaims = new Set<Promise<void>>();
  private readonly closing = new AbortController();
  private seen: bigint | undefined;

  protected constructor(
    protected readonly http: ConsulHttp,
    protected readonly options: HoldOptions,
    protected readonly logger: Logger,
    protected readonly what: string,
    private readonly sessionDefaults: SessionOptions,
    /** The client's: it says when Consul answers again after an outage. */
    private readonly availability: Pick<AvailabilityMonitor, 'whenAvailable'>,
  ) {}

  /** True while held (the signal has not aborted). */
  get held(): boolean {
    return this.current !== undefined && !this.current.controller.signal.aborted;
  }

  /** The current hold's signal; undefined when not held. */
  get signal(): AbortSignal | undefined {
    return this.current?.controller.signal;
  }

  /** Waits until held; resolves with a signal that aborts when the hold is lost or released. */
  acquire(options: AcquireOptions = {}): Promise<AbortSignal> {
    return this.start(false, options) as Promise<AbortSignal>;
  }

  /** One attempt: the signal when acquired, undefined when someone else holds it. */
  tryAcquire(): Promise<AbortSignal | undefined> {
    return this.start(true, {});
  }

  /** Gives the hold up (the signal aborts first, reason 'released'); a no-op when not held. */
  async release(): Promise<void> {
    const hold = this.current;
    if (!hold) return;
    this.current = undefined;
    if (!hold.controller.signal.aborted)
      hold.controller.abort(new LockLostError(`${this.what}: released`, 'released'));
    await hold.monitor;
    // Lost while Consul was away: reclaim() gives the key and session back once it answers.
    if (lostTo(hold.controller.signal, 'unreachable')) return;
    try {
      if (!hold.session.signal.aborted) await this.giveUp(hold.session);
    } catch (error) {
      // The session's end (destroy below, or its TTL) frees what it held anyway.
      this.logger.warn(`consul-watch: ${(error as Error).message}`);
    }
    if (hold.own) await hold.session.destroy();
  }

  /** Stops waiting, releases what is held, and refuses further acquisitions. */
  async close(): Promise<void> {
    this.closed = true;
    this.waiting?.abort(new LockLostError(`${this.what}: closed`, 'released'));
    // A waiting acquisition destroys the session it opened on its way out: wait for that, so
    // that close() leaves no session behind (a waiter in a lock-delay has one).
    await this.acquiring;
    await this.release();
    this.closing.abort();
    await Promise.all(this.reclaims);
  }

  /** One try at taking the hold with `session`: true when taken, false when full or taken. */
  protected abstract attempt(
    session: ConsulSession,
    signal: AbortSignal,
    index: bigint | undefined,
  ): Promise<{ taken: boolean; index?: bigint; refused?: boolean; reset?: boolean }>;

  /** The read the monitor blocks on while held. */
  protected abstract holderRequest(): ApiRequest;

  /** Whether what `readHolder` answered still names `session` as a holder. */
  protected abstract holds(session: ConsulSession, body: unknown): boolean;

  /** Undoes the hold in Consul (release the key, leave the holders). */
  protected abstract giveUp(session: ConsulSession): Promise<void>;

  /**
   * Notes the index a read of the hold's key(s) answered with; true when it is lower than one
   * seen before, in this acquisition or an earlier one: the server's state was reset.
   */
  protected wentBack(index: bigint | undefined): boolean {
    if (index === undefined) return false;
    const back = this.seen !== undefined && index < this.seen;
    this.seen = index;
    return back;
  }

  /** Clears what an attempt left when the acquisition is abandoned with a shared session. */
  protected async abandon(_session: ConsulSession): Promise<void> {}

  private async start(once: boolean, options: AcquireOptions): Promise<AbortSignal | undefined> {
    if (this.closed) throw new InvalidInputError(`${this.what} is closed; create a new one`);
    if (this.busy || this.held)
      throw new InvalidInputError(
        `${this.what} is already held or being acquired; release it first`,
      );
    if (
      options.timeoutMs !== undefined &&
      !(typeof options.timeoutMs === 'number' && options.timeoutMs >= 0)
    )
      throw new InvalidInputError(`${this.what}: timeoutMs must be a number of milliseconds`);
    this.busy = true;
    this.lastFailure = undefined;
    const waiting = new AbortController();
    this.waiting = waiting;
    const onAbort = () => waiting.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => waiting.abort(this.timedOut(options.timeoutMs as number)),
            options.timeoutMs,
          );
    const run = this.wait(once, waiting.signal);
    this.acquiring = run.then(
      () => {},
      () => {},
    );
    try {
      return await run;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      this.waiting = undefined;
      this.busy = false;
    }
  }

  private async wait(once: boolean, signal: AbortSignal): Promise<AbortSignal | undefined> {
    const shared = this.options.session;
    let session: ConsulSession | undefined;
    let index: bigint | undefined;
    let failures = 0;
    let taken = false;
    try {
      for (;;) {
        signal.throwIfAborted();
        if (shared?.signal.aborted) throw shared.signal.reason;
        let outcome: Awaited<ReturnType<Hold['attempt']>>;
        try {
          if (!session || session.signal.aborted) {
            if (session && lostTo(session.signal, 'unreachable')) this.reclaim(session, true);
            session = shared ?? (await this.openOwn(signal));
            index = undefined;
          }
          outcome = await this.attempt(session, signal, index);
          failures = 0;
        } catch (error) {
          if (signal.aborted) throw signal.reason;
          if (once || !(error instanceof ConsulUnavailableError)) throw error;
          this.lastFailure = error;
          // Consul away, or the session gone under us: start over once Consul answers.
          await this.afterUnavailable(error, failures++, signal);
          index = undefined;
          continue;
        }
        if (outcome.taken) {
          taken = true;
          return this.take(session, shared === undefined);
        }
        if (once) return undefined;
        if (outcome.reset) {
          // Consul's state went back in time (a snapshot restore): a holder the rewrite dropped
          // may not know yet. Its monitor or its session tells it within one TTL; wait that long.
          index = undefined;
          await pause(session.ttlMs, signal);
        } else if (outcome.refused) {
          index = undefined;
          await pause(this.options.retryMs ?? DEFAULT_RETRY_MS, signal);
        } else index = nextIndex(index, outcome.index);
      }
    } finally {
      if (!taken && session) {
        if (session === shared) await this.abandon(session).catch(() => {});
        else await session.destroy();
      }
    }
  }

  protected get blockWaitMs(): number {
    return this.options.waitMs ?? DEFAULT_WAIT_MS;
  }

  private openOwn(signal: AbortSignal): Promise<ConsulSession> {
    signal.throwIfAborted();
    return openSession(
      this.http,
      {
        ...this.sessionDefaults,
        ...(this.options.sessionName !== undefined ? { name: this.options.sessionName } : {}),
        ...(this.options.ttlMs !== undefined ? { ttlMs: this.options.ttlMs } : {}),
        ...(this.options.lockDelayMs !== undefined
          ? { lockDelayMs: this.options.lockDelayMs }
          : {}),
      },
      this.logger,
      this.what,
      signal,
    );
  }

  /** The TimeoutError of an acquisition that ran out, with what kept it from Consul if anything. */
  private timedOut(timeoutMs: number): TimeoutError {
    const failure = this.lastFailure;
    return new TimeoutError(
      `${this.what}: not acquired within ${timeoutMs} ms${failure ? `; the last attempt failed: ${failure.message}` : ''}`,
      failure ? { cause: failure } : undefined,
    );
  }

  /**
   * After a request failed as unavailable: waits until the client's availability monitor hears
   * Consul again, so a hold resumes within a probe of Consul's return rather than after a
   * back-off; and backs off too when Consul answers the probes but this request keeps failing.
   */
  private async afterUnavailable(
    error: ConsulUnavailableError,
    failures: number,
    signal: AbortSignal,
  ): Promise<void> {
    await this.availability.whenAvailable(error, signal);
    if (failures > 0) await pause(backoffDelay(failures - 1, RETRY_BACKOFF), signal);
  }

  /**
   * A hold given up because Consul was away may still be held in Consul: its session lives
   * until Consul's own deadline (twice the TTL, started afresh by a restarted Consul). Once
   * Consul answers, give the key back (a release sets no lock-delay, an invalidation would)
   * and destroy the session, so that another holder takes over at once.
   */
  private reclaim(session: ConsulSession, own: boolean): void {
    const stop = this.closing.signal;
    const task = (async () => {
      for (let failures = 0; ; failures++) {
        try {
          await this.giveUp(session);
          break;
        } catch (error) {
          if (!(error instanceof ConsulUnavailableError)) {
            this.logger.warn(`consul-watch: ${(error as Error).message}`);
            break;
          }
          await this.afterUnavailable(error, failures, stop);
          // Closed while Consul is still away: the session's TTL frees what it holds.
          if (stop.aborted) return;
        }
      }
      if (own) await session.destroy();
    })();
    this.reclaims.add(task);
    // It does not reject: every failure above is caught, and destroy() reports its own.
    void task.finally(() => this.reclaims.delete(task));
  }

  private take(session: ConsulSession, own: boolean): AbortSignal {
    const controller = new AbortController();
    controller.signal.addEventListener(
      'abort',
      () => {
        if (lostTo(controller.signal, 'unreachable')) this.reclaim(session, own);
      },
      { once: true },
    );
    const lose = (reason: unknown) => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    const onSession = () => lose(session.signal.reason);
    session.signal.addEventListener('abort', onSession, { once: true });
    if (session.signal.aborted) onSession();
    const monitor = this.monitor(session, controller.signal)
      .then((reason) => {
        if (reason === 'session-invalidated')
          lose(
            new LockLostError(
              `${this.what}: Consul invalidated the holder's session ${session.id} (destroyed, expired, or a check it names failed)`,
              reason,
            ),
          );
        else if (reason)
          lose(
            new LockLostError(
              `${this.what}: the key no longer names this holder (deleted, or taken by another session)`,
              reason,
            ),
          );
      })
      .finally(() => session.signal.removeEventListener('abort', onSession));
    this.current = { controller, session, own, monitor };
    return controller.signal;
  }

  /** A holder record this code cannot read (overwritten by hand) is not a hold either. */
  private stillHolds(session: ConsulSession, body: unknown): boolean {
    try {
      return this.holds(session, body);
    } catch {
      return false;
    }
  }

  /**
   * Why the key stopped naming this holder, as Consul tells: its session is gone (invalidated:
   * destroyed, expired, a check failed), or it lives and the key was deleted or taken. One
   * round trip, bounded well within a TTL: the holder must stop soon whatever the answer.
   */
  private async lossReason(session: ConsulSession, signal: AbortSignal): Promise<LockLossReason> {
    try {
      const res = await this.http.request<unknown>(
        `${this.what}: read the holder's session`,
        { signal, timeoutMs: Math.min(1_000, session.ttlMs / 4), consistency: 'consistent' },
        { path: `/session/info/${encodeURIComponent(session.id)}` },
      );
      // Consul answers an unknown session with an empty list (older agents: null).
      return Array.isArray(res.body) && res.body.length > 0 ? 'lock-taken' : 'session-invalidated';
    } catch {
      // Unanswered: the key says only that it is not ours.
      return 'lock-taken';
    }
  }

  /** Blocks on the hold's key(s) until it is no longer ours; undefined when stopped by `signal`. */
  private async monitor(
    session: ConsulSession,
    signal: AbortSignal,
  ): Promise<LockLossReason | undefined> {
    let index: bigint | undefined;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const res = await this.http.request<unknown>(
          `${this.what}: watch the holder`,
          {
            ...(index === undefined ? {} : { index, waitMs: MONITOR_WAIT_MS }),
            consistency: 'consistent',
            signal,
            acceptStatus: [404],
          },
          this.holderRequest(),
        );
        failures = 0;
        this.wentBack(res.index);
        if (!this.stillHolds(session, res.body)) return await this.lossReason(session, signal);
        index = nextIndex(index, res.index);
      } catch {
        if (signal.aborted) return undefined;
        // Read afresh, without the index: a server that came back from an older snapshot would
        // park a read at the old, higher index and never tell this holder the key moved on.
        index = undefined;
        // Unreachable: the session's own deadline decides when the hold counts as lost. Retry
        // well within a TTL, so a waiter held back by a reset (one TTL) finds this holder told.
        await pause(
          backoffDelay(failures++, {
            ...RETRY_BACKOFF,
            maxMs: Math.min(RETRY_BACKOFF.maxMs, session.ttlMs / 4),
          }),
          signal,
        );
      }
    }
    return undefined;
  }
}
