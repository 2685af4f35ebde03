import {
  type ConsulWatch,
  createConsulWatch,
  type Holdable,
  type LeaderElection,
  type LockLossReason,
  LockLostError,
  type Logger,
} from '@consul-watch/core';
import { between, type Rng, sleep } from './soakUtil';

/** What the lock holders of a soak run did, and whether exclusion ever broke. */
export interface LockFigures {
  /** Acquisitions of the lock, semaphore slots and leader terms. */
  acquisitions: number;
  /** Holds that ended by loss rather than release, by reason. */
  losses: Partial<Record<LockLossReason, number>>;
  /** Moments when more processes believed they held than the lock (or semaphore) allows. */
  overlaps: number;
  /** The most holders seen at once, per guarded resource. */
  maxConcurrent: Record<string, number>;
  /**
   * After each outage that made the leader step down: from Consul answering again until a
   * leader was elected, ms.
   */
  leaderResumeMs: number[];
}

/**
 * Counts who believes they hold a resource right now. Belief starts when an acquisition
 * resolves and ends the moment its signal aborts; more believers than the limit is a breach.
 */
export class Exclusion {
  private readonly inside = new Map<string, number>();
  max = 0;
  breaches = 0;
  /** The first breaches, said as who entered while whom held, for the report. */
  readonly seen: string[] = [];

  constructor(
    readonly name: string,
    private readonly limit: number,
    private readonly context: () => string,
  ) {}

  enter(who: string, signal: AbortSignal): void {
    if (signal.aborted) return;
    const now = performance.now();
    if (this.inside.size >= this.limit) {
      this.breaches += 1;
      if (this.seen.length < 5) {
        const others = [...this.inside].map(
          ([name, at]) => `${name} (for ${Math.round(now - at)} ms)`,
        );
        this.seen.push(`${who} entered while ${others.join(', ')} held it, ${this.context()}`);
      }
    }
    this.inside.set(who, now);
    this.max = Math.max(this.max, this.inside.size);
    signal.addEventListener('abort', () => this.inside.delete(who), { once: true });
  }

  leave(who: string): void {
    this.inside.delete(who);
  }
}

export interface LockSoakOptions {
  /** Address of the fault proxy: the holders' connections are broken with everyone else's. */
  address: string;
  /** Folder for the lock, semaphore and leader keys. */
  prefix: string;
  /** Session TTL, ms: short on the dev-server (its sessionTtlMinMs is lowered), 10 s on an agent. */
  ttlMs: number;
  /** The leaders' session TTL and lock-delay, ms. */
  leader: { ttlMs: number; lockDelayMs: number };
  logger: Logger;
  rng: Rng;
}

/**
 * Lock holders for the soak run: three contenders for one lock, three for a semaphore of
 * two, and two leader elections (each on a client of its own), all behind the fault proxy. Each holds for a short random time, releases, and contends again, while a
 * shared ledger checks that no more of them ever believe they hold than the lock allows.
 */
export class LockSoak {
  private readonly clients: ConsulWatch[] = [];
  private readonly exclusions: Exclusion[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly elections: LeaderElection[] = [];
  private readonly stop = new AbortController();
  private acquisitions = 0;
  private closing: Promise<void> | undefined;
  private fault: { kind: string; at: number } | undefined;
  private readonly losses: Partial<Record<LockLossReason, number>> = {};
  private readonly leaderResumeMs: number[] = [];
  private readonly resumeProblems: string[] = [];
  private readonly onElected = new Set<() => void>();
  /** Whether a leader was in office when the current outage began. */
  private ledBeforeOutage = false;

  constructor(private readonly options: LockSoakOptions) {}

  start(): void {
    const { prefix, ttlMs } = this.options;
    // A lock-delay longer than a holder takes to learn of a loss, as in production.
    const settings = { ttlMs, lockDelayMs: ttlMs, retryMs: ttlMs / 4, waitMs: 2_000 };
    const context = () =>
      this.fault
        ? `${Math.round(performance.now() - this.fault.at)} ms after a ${this.fault.kind} fault began`
        : 'before any fault';
    const lock = new Exclusion('lock', 1, context);
    const semaphore = new Exclusion('semaphore of 2', 2, context);
    const leader = new Exclusion('leader', 1, context);
    this.exclusions.push(lock, semaphore, leader);
    // Each acquisition has a session of its own, so contenders on one client exclude each
    // other as separate processes would; one client keeps the run's sockets few.
    const shared = this.client();
    for (let i = 1; i <= 3; i++) {
      this.contend(`lock holder ${i}`, lock, shared.lock(`${prefix}lock`, settings));
      this.contend(
        `semaphore holder ${i}`,
        semaphore,
        shared.semaphore(`${prefix}semaphore`, 2, settings),
      );
    }
    for (let i = 1; i <= 2; i++) {
      const name = `leader ${i}`;
      const election = this.client().leader(`${prefix}leader`, {
        ...settings,
        ...this.options.leader,
        onElected: (signal) => {
          this.acquisitions += 1;
          leader.enter(name, signal);
          for (const notify of [...this.onElected]) notify();
        },
        onDemoted: (reason) => this.lost(reason),
      });
      this.elections.push(election);
    }
  }

  /** Notes the fault being injected, to say when a breach happened. */
  faultStarted(kind: string): void {
    this.fault = { kind, at: performance.now() };
  }

  /** Consul goes away now: notes whether a leader was in office. */
  outageStarted(): void {
    this.ledBeforeOutage = this.elections.some((e) => e.isLeader);
  }

  /**
   * Consul answers again: when the outage made the leader step down, waits (at most
   * `limitMs` and a second more) for the next leader and notes how long that took; longer
   * than `limitMs` is a violation.
   */
  async outageEnded(outageMs: number, limitMs: number): Promise<void> {
    const backAt = performance.now();
    if (!this.ledBeforeOutage || this.elections.some((e) => e.isLeader)) return;
    let notify: () => void = () => {};
    const elected = new Promise<boolean>((resolve) => {
      notify = () => resolve(true);
      this.onElected.add(notify);
    });
    const waited = new AbortController();
    const gaveUp = sleep(limitMs + 1_000, AbortSignal.any([waited.signal, this.stop.signal])).then(
      () => false,
    );
    const resumed = await Promise.race([elected, gaveUp]);
    waited.abort();
    this.onElected.delete(notify);
    const ms = Math.round(performance.now() - backAt);
    if (resumed) this.leaderResumeMs.push(ms);
    if (resumed ? ms > limitMs : !this.stop.signal.aborted)
      this.resumeProblems.push(
        `leader: after a ${outageMs} ms outage that made it step down, no leader for ${resumed ? ms : `more than ${ms}`} ms after Consul answered again (at most ${limitMs} ms expected: the old leader gives its key back)`,
      );
  }

  figures(): LockFigures {
    return {
      acquisitions: this.acquisitions,
      losses: { ...this.losses },
      overlaps: this.exclusions.reduce((sum, e) => sum + e.breaches, 0),
      maxConcurrent: Object.fromEntries(this.exclusions.map((e) => [e.name, e.max])),
      leaderResumeMs: [...this.leaderResumeMs],
    };
  }

  /** Breaches so far, one line per guarded resource that had any. */
  violations(): string[] {
    return [
      ...this.exclusions
        .filter((e) => e.breaches > 0)
        .map(
          (e) =>
            `${e.name}: ${e.breaches} time(s) more holders believed they held it than it allows (at most ${e.max} at once): ${e.seen.join('; ')}`,
        ),
      ...this.resumeProblems,
    ];
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stop.abort();
      await Promise.all(this.loops);
      await Promise.all(this.elections.map((e) => e.close()));
      await Promise.all(this.clients.map((c) => c.close()));
    })();
    return this.closing;
  }

  private client(): ConsulWatch {
    const client = createConsulWatch({
      address: this.options.address,
      logger: this.options.logger,
    });
    this.clients.push(client);
    return client;
  }

  private lost(reason: LockLossReason): void {
    if (reason !== 'released') this.losses[reason] = (this.losses[reason] ?? 0) + 1;
  }

  private contend(name: string, guard: Exclusion, hold: Holdable): void {
    const stop = this.stop.signal;
    const { rng } = this.options;
    this.loops.push(
      (async () => {
        while (!stop.aborted) {
          let signal: AbortSignal;
          try {
            signal = await hold.acquire({ signal: stop });
          } catch {
            // Stopped, or Consul away for longer than a wait: contend again.
            await sleep(between(rng, 20, 100), stop);
            continue;
          }
          this.acquisitions += 1;
          guard.enter(name, signal);
          await sleep(between(rng, 20, 120), signal);
          guard.leave(name);
          if (signal.aborted) {
            const reason =
              signal.reason instanceof LockLostError ? signal.reason.reason : undefined;
            if (reason) this.lost(reason);
          }
          await hold.release();
          await sleep(between(rng, 10, 60), stop);
        }
        await hold.close();
      })(),
    );
  }
}
