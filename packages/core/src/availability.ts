import { pause } from './backoff';
import { ConsulUnavailableError, ConsulWatchError } from './errors';
import type { Logger } from './logger';

export interface AvailabilityOptions {
  /** Gap before the second probe of an outage, ms (the first goes at once); it doubles per failed probe. Default 50. */
  probeMinMs?: number;
  /** Longest gap between two probes, ms, however long the outage. Default 1 000. */
  probeMaxMs?: number;
  /** A probe that has no answer after this long counts as failed, ms. Default 2 000. */
  probeTimeoutMs?: number;
  /** Once Consul answers, the waiting watches are released over up to this window (2 ms per watch), ms. Default 100. */
  releaseSpreadMs?: number;
}

export const DEFAULT_AVAILABILITY: Required<AvailabilityOptions> = {
  probeMinMs: 50,
  probeMaxMs: 1_000,
  probeTimeoutMs: 2_000,
  releaseSpreadMs: 100,
};

export interface AvailabilityStatus {
  /** False from the first request that could not reach Consul until a probe is answered. */
  available: boolean;
  /** When `available` last changed (or the client was created). */
  since: Date;
  /** Why Consul was last unreachable; kept after it is back, for the record. */
  lastError: ConsulWatchError | undefined;
  /** Outages seen since the client was created. */
  outages: number;
}

interface Waiter {
  resolve(): void;
  signal: AbortSignal;
  onAbort(): void;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * One per client: knows whether Consul answers. A watch whose request failed as unavailable
 * waits here instead of backing off on its own; the monitor probes `/v1/status/leader` (which
 * also says when the cluster has no leader) at once, then at gaps doubling from `probeMinMs`
 * to `probeMaxMs`, each with jitter, whatever the number of watches waiting. The moment a
 * probe is answered every waiting watch is released, spread over a short window so that
 * they do not all arrive in the same instant.
 */
export class AvailabilityMonitor {
  private up = true;
  private changedAt = new Date();
  private error: ConsulWatchError | undefined;
  private outages = 0;
  /** Waiting for a probe to be answered. */
  private readonly waiting = new Set<Waiter>();
  /** Released, each on its own short timer. */
  private readonly releasing = new Set<Waiter>();
  private probing: Promise<void> | undefined;
  private readonly controller = new AbortController();
  private readonly options: Required<AvailabilityOptions>;

  constructor(
    /** Resolves when Consul answers; throws ConsulUnavailableError when it does not. */
    private readonly probe: (signal: AbortSignal, timeoutMs: number) => Promise<void>,
    options: AvailabilityOptions,
    private readonly where: string,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {
    this.options = { ...DEFAULT_AVAILABILITY, ...options };
  }

  get status(): AvailabilityStatus {
    return {
      available: this.up,
      since: this.changedAt,
      lastError: this.error,
      outages: this.outages,
    };
  }

  /**
   * A request failed because Consul could not be reached: resolves once a probe is answered
   * (after this waiter's share of the release window), or at once when `signal` aborts.
   */
  whenAvailable(error: ConsulWatchError, signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.controller.signal.aborted) return Promise.resolve();
    this.error = error;
    if (this.up) {
      this.up = false;
      this.changedAt = new Date();
      this.outages += 1;
      this.logger.warn(
        `Consul at ${this.where} is unavailable (${error.message}); watches wait while the client probes /v1/status/leader`,
      );
    }
    return new Promise<void>((resolve) => {
      const waiter: Waiter = {
        signal,
        resolve: () => {
          signal.removeEventListener('abort', waiter.onAbort);
          this.waiting.delete(waiter);
          this.releasing.delete(waiter);
          clearTimeout(waiter.timer);
          resolve();
        },
        onAbort: () => waiter.resolve(),
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiting.add(waiter);
      this.probing ??= this.probeUntilAnswered().finally(() => {
        this.probing = undefined;
      });
    });
  }

  private async probeUntilAnswered(): Promise<void> {
    const { probeMinMs, probeMaxMs, probeTimeoutMs } = this.options;
    const stop = this.controller.signal;
    let gap = 0;
    while (!stop.aborted && this.waiting.size > 0) {
      // Jitter in [gap/2, gap]: clients that lost Consul together do not probe in step.
      await pause(gap === 0 ? 0 : gap / 2 + (this.random() * gap) / 2, stop);
      if (stop.aborted || this.waiting.size === 0) return;
      try {
        await this.probe(stop, probeTimeoutMs);
      } catch (error) {
        if (stop.aborted) return;
        // Any answer but "unavailable" (a 403 on a locked-down agent) means Consul is there.
        if (error instanceof ConsulUnavailableError || !(error instanceof ConsulWatchError)) {
          if (error instanceof ConsulWatchError) this.error = error;
          gap = gap === 0 ? probeMinMs : Math.min(probeMaxMs, gap * 2);
          continue;
        }
      }
      this.answered();
      return;
    }
  }

  private answered(): void {
    const downMs = Date.now() - this.changedAt.getTime();
    this.up = true;
    this.changedAt = new Date();
    this.logger.info(
      `Consul at ${this.where} answers again after ${(downMs / 1000).toFixed(1)} s; ${this.waiting.size} watch(es) resume`,
    );
    const window = Math.min(this.options.releaseSpreadMs, 2 * this.waiting.size);
    for (const waiter of this.waiting) {
      this.waiting.delete(waiter);
      this.releasing.add(waiter);
      waiter.timer = setTimeout(waiter.resolve, Math.floor(this.random() * window));
    }
  }

  /** Stops probing and releases every waiter. */
  async close(): Promise<void> {
    this.controller.abort();
    for (const waiter of [...this.waiting, ...this.releasing]) waiter.resolve();
    await this.probing;
  }
}
