import type { ConsulHttp } from './consulHttp';
import { ConsulUnavailableError, InvalidInputError, LockLostError } from './errors';
import type { Logger } from './logger';

export interface SessionOptions {
  /** Shown in Consul's session list. Default 'consul-watch'. */
  name?: string;
  /**
   * How long Consul keeps the session without a renewal, ms (Consul invalidates it after twice
   * this). Renewed every half TTL while open. Consul accepts 10 s to 24 h. Default 15 000.
   */
  ttlMs?: number;
  /** What happens to keys the session holds when it is invalidated. Default 'release'. */
  behavior?: 'release' | 'delete';
  /**
   * After an invalidation, how long Consul refuses to let another session acquire the keys this
   * one held, ms (at most 60 000). Default 15 000, Consul's.
   */
  lockDelayMs?: number;
  /** Node checks that must stay healthy; default Consul's (`serfHealth`). */
  checks?: string[];
}

export const DEFAULT_SESSION = { name: 'consul-watch', ttlMs: 15_000, lockDelayMs: 15_000 };

/** A Consul session this process keeps alive. */
export interface ConsulSession {
  readonly id: string;
  readonly ttlMs: number;
  /**
   * Aborted (reason: a LockLostError) once the session is gone or may be: Consul invalidated
   * it, or no renewal got through within one TTL, before Consul's own deadline of two.
   */
  readonly signal: AbortSignal;
  /** Stops renewing and destroys the session, releasing (or deleting) what it holds. */
  destroy(): Promise<void>;
}

/** A value as a message shows it: strings quoted, so `"15000"` is told apart from 15000. */
export const shown = (value: unknown): string =>
  typeof value === 'string' ? JSON.stringify(value) : String(value);

/** Refuses session settings Consul would refuse or that would renew in a tight loop. */
export function checkSessionOptions(
  options: SessionOptions,
  what: string,
  nameOption = 'name',
): void {
  const { name, ttlMs, behavior, lockDelayMs, checks } = options;
  if (name !== undefined && typeof name !== 'string')
    throw new InvalidInputError(`${what}: ${nameOption} must be a string`);
  if (ttlMs !== undefined && !(typeof ttlMs === 'number' && ttlMs >= 10 && ttlMs <= 86_400_000))
    throw new InvalidInputError(
      `${what}: ttlMs must be a number of milliseconds from 10 to 86400000 (Consul accepts 10000 and up unless its session_ttl_min is lower), got ${shown(ttlMs)}`,
    );
  if (behavior !== undefined && behavior !== 'release' && behavior !== 'delete')
    throw new InvalidInputError(
      `${what}: behavior must be 'release' or 'delete', got ${JSON.stringify(behavior)}`,
    );
  if (
    lockDelayMs !== undefined &&
    !(typeof lockDelayMs === 'number' && lockDelayMs >= 0 && lockDelayMs <= 60_000)
  )
    throw new InvalidInputError(
      `${what}: lockDelayMs must be a number of milliseconds from 0 to 60000, got ${shown(lockDelayMs)}`,
    );
  if (
    checks !== undefined &&
    !(Array.isArray(checks) && checks.every((c) => typeof c === 'string'))
  )
    throw new InvalidInputError(`${what}: checks must be an array of check IDs`);
}

/**
 * Creates a session and renews it every half TTL. A renewal that fails is retried every
 * tenth of the TTL; when none has got through for a whole TTL (counted from when the last
 * good one was sent) the session's signal aborts, one TTL before Consul may invalidate it.
 * `what` names the caller in messages (`session`, `lock "jobs"`).
 */
export async function openSession(
  http: ConsulHttp,
  options: SessionOptions,
  logger: Logger,
  what = 'session',
  signal?: AbortSignal,
): Promise<ConsulSession> {
  const ttlMs = options.ttlMs ?? DEFAULT_SESSION.ttlMs;
  const sentAt = performance.now();
  // A 500 is how Consul refuses a session's settings; it is read here, not taken as an outage.
  // The wait is not bound to the TTL: a TTL too short for Consul must still hear its answer.
  // A create already sent may create the session though the caller gave up: an abort waits a
  // little for its answer, to destroy what it made, before it cuts the request off.
  const creating = new AbortController();
  let cutOff: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => {
    cutOff = setTimeout(() => creating.abort(signal!.reason), ABORTED_CREATE_WAIT_MS);
  };
  signal?.throwIfAborted();
  signal?.addEventListener('abort', onAbort, { once: true });
  const res = await http
    .request<{ ID: string } | string>(
      'create session',
      { timeoutMs: Math.max(ttlMs / 2, 5_000), acceptStatus: [500], signal: creating.signal },
      {
        method: 'PUT',
        path: '/session/create',
        body: {
          Name: options.name ?? DEFAULT_SESSION.name,
          TTL: `${ttlMs}ms`,
          LockDelay: `${options.lockDelayMs ?? DEFAULT_SESSION.lockDelayMs}ms`,
          ...(options.behavior ? { Behavior: options.behavior } : {}),
          ...(options.checks ? { Checks: options.checks } : {}),
        },
      },
    )
    .finally(() => {
      clearTimeout(cutOff);
      signal?.removeEventListener('abort', onAbort);
    });
  if (res.status === 500) {
    const reason = typeof res.body === 'string' ? res.body.trim() : '';
    throw (
      refusedSetting(reason, options, what) ??
      http.translate('create session', { response: { statusCode: 500, body: reason } })
    );
  }
  const id = typeof res.body === 'object' ? res.body?.ID : undefined;
  if (!id) throw new ConsulUnavailableError('create session: Consul answered without an ID');
  const session = new RenewedSession(http, id, ttlMs, sentAt, logger);
  if (signal?.aborted) {
    await session.destroy();
    throw signal.reason;
  }
  return session;
}

/** How long an aborted create may still answer, so the session it made is destroyed, not left to its TTL. */
const ABORTED_CREATE_WAIT_MS = 1_000;

/**
 * Consul's refusal of a session's settings (its 500 texts, possibly after "rpc error making
 * call: " when an agent forwarded it) as the option the caller set; undefined for other 500s.
 */
function refusedSetting(
  reason: string,
  options: SessionOptions,
  what: string,
): InvalidInputError | undefined {
  const said = `Consul said: ${reason}`;
  const range = /Invalid Session TTL '\d+', must be between \[([^=\]]+)=([^\]]+)\]/.exec(reason);
  if (range || /Session TTL '[^']*' invalid/.test(reason)) {
    const ttlMs = options.ttlMs ?? DEFAULT_SESSION.ttlMs;
    const accepts = range
      ? `this Consul takes ${range[1]} to ${range[2]} (its session_ttl_min sets the lower bound, 10 s by default)`
      : 'Consul takes 10 s to 24 h unless its session_ttl_min is lowered';
    const asSeconds =
      ttlMs * 1000 >= 10_000 && ttlMs * 1000 <= 86_400_000
        ? ` If you meant ${ttlMs} s, set ttlMs: ${ttlMs * 1000}.`
        : '';
    return new InvalidInputError(
      `${what}: Consul refused the session's ttlMs of ${ttlMs}: ttlMs is in milliseconds, and ${accepts}. ${said}.${asSeconds}`,
    );
  }
  if (/Invalid Behavior setting/.test(reason))
    return new InvalidInputError(
      `${what}: Consul refused the session's behavior ${shown(options.behavior)}; use 'release' or 'delete'. ${said}`,
    );
  if (/Missing check '[^']*' registration|Check '[^']*' is in \w+ state/.test(reason))
    return new InvalidInputError(
      `${what}: Consul refused the session's checks ${JSON.stringify(options.checks ?? ['serfHealth'])}: each must be a registered check of this node that is not critical. ${said}`,
    );
  return undefined;
}

class RenewedSession implements ConsulSession {
  private readonly controller = new AbortController();
  private renewTimer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private inFlight: AbortController | undefined;
  private destroyed: Promise<void> | undefined;

  constructor(
    private readonly http: ConsulHttp,
    readonly id: string,
    readonly ttlMs: number,
    confirmedAt: number,
    private readonly logger: Logger,
  ) {
    this.confirmed(confirmedAt);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      this.stop(new LockLostError(`session ${this.id} was destroyed`, 'released'));
      await this.http
        .request(
          'destroy session',
          { timeoutMs: 5_000, idempotent: true },
          { method: 'PUT', path: `/session/destroy/${encodeURIComponent(this.id)}` },
        )
        .catch((error: Error) =>
          // Its TTL ends it anyway; the keys it held are released then.
          this.logger.warn(`consul-watch: ${error.message}`),
        );
    })();
    return this.destroyed;
  }

  /** A renewal sent at `sentAt` got through: Consul's clock for it started no earlier. */
  private confirmed(sentAt: number): void {
    clearTimeout(this.deadline);
    this.deadline = setTimeout(
      () =>
        this.stop(
          new LockLostError(
            `session ${this.id}: no renewal reached Consul for ${this.ttlMs} ms; it may be invalidated, so it is treated as lost`,
            'unreachable',
          ),
        ),
      Math.max(0, sentAt + this.ttlMs - performance.now()),
    );
    this.schedule(this.ttlMs / 2);
  }

  private schedule(ms: number): void {
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => void this.renew(), ms);
  }

  private async renew(): Promise<void> {
    const sentAt = performance.now();
    const inFlight = new AbortController();
    this.inFlight = inFlight;
    try {
      const res = await this.http.request<unknown[]>(
        'renew session',
        { timeoutMs: this.ttlMs / 2, signal: inFlight.signal, acceptStatus: [404] },
        { method: 'PUT', path: `/session/renew/${encodeURIComponent(this.id)}` },
      );
      if (this.controller.signal.aborted) return;
      if (res.status === 404 || !Array.isArray(res.body) || res.body.length === 0) {
        this.stop(
          new LockLostError(`session ${this.id} was invalidated by Consul`, 'session-invalidated'),
        );
        return;
      }
      this.confirmed(sentAt);
    } catch {
      if (this.controller.signal.aborted) return;
      this.schedule(Math.max(10, this.ttlMs / 10));
    } finally {
      if (this.inFlight === inFlight) this.inFlight = undefined;
    }
  }

  private stop(reason: LockLostError): void {
    clearTimeout(this.renewTimer);
    clearTimeout(this.deadline);
    this.inFlight?.abort(reason);
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }
}
