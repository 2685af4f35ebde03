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
      `${what}: ttlMs must be a number of milliseconds from 10 to 86400000 (Consul accepts 10000 and up unless its session_ttl_min is lower), got ${String(ttlMs)}`,
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
      `${what}: lockDelayMs must be a number of milliseconds from 0 to 60000, got ${String(lockDelayMs)}`,
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
 */
export async function openSession(
  http: ConsulHttp,
  options: SessionOptions,
  logger: Logger,
): Promise<ConsulSession> {
  const ttlMs = options.ttlMs ?? DEFAULT_SESSION.ttlMs;
  const sentAt = performance.now();
  const res = await http.call<{ ID: string }>('create session', { timeoutMs: ttlMs / 2 }, (c, o) =>
    c.session.create({
      ...o,
      name: options.name ?? DEFAULT_SESSION.name,
      ttl: `${ttlMs}ms`,
      lockdelay: `${options.lockDelayMs ?? DEFAULT_SESSION.lockDelayMs}ms`,
      ...(options.behavior ? { behavior: options.behavior } : {}),
      ...(options.checks ? { checks: options.checks } : {}),
    }),
  );
  const id = res.body?.ID;
  if (!id) throw new ConsulUnavailableError('create session: Consul answered without an ID');
  return new RenewedSession(http, id, ttlMs, sentAt, logger);
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
        .call('destroy session', { timeoutMs: 5_000, idempotent: true }, (c, o) =>
          c.session.destroy({ ...o, id: this.id }),
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
      const res = await this.http.call<unknown[]>(
        'renew session',
        { timeoutMs: this.ttlMs / 2, signal: inFlight.signal, acceptStatus: [404] },
        (c, o) => c.session.renew({ ...o, id: this.id }),
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
