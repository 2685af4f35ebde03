import { type ConsulEnvWatch, loadConsulEnv, watchConsulEnv } from '@consul-watch/config-loader';
import { type ConsulWatch, createConsulWatch, type Logger } from '@consul-watch/core';
import { Exclusion } from './soakLocks';
import { between, type Rng, sleep, stableJson, waitFor } from './soakUtil';

/** What the rolling consul-env instances of a soak run did, and whether the bound ever broke. */
export interface RolloutFigures {
  /** Restarts begun (each with a slot held). */
  restarts: number;
  /** Restarts whose slot was lost mid-way (session invalidated, or unrenewed for a TTL). */
  slotsLost: number;
  /** Restarts that failed (a listener threw, or the program was not ready in time). */
  failed: number;
  /** Moments when more instances believed they held a slot than maxRestarting allows. */
  overlaps: number;
  /** The most instances restarting on a held slot at once. */
  maxRestarting: number;
  /** The bound. */
  limit: number;
}

export interface RolloutSoakOptions {
  /** Address of the fault proxy: the instances' connections break with everyone else's. */
  address: string;
  /** The KV prefix the instances take their environment from (one the writer changes). */
  prefix: string;
  /** The roll-out semaphore's key. */
  key: string;
  /** Session TTL, ms: short on the dev-server (its sessionTtlMinMs is lowered), 10 s on an agent. */
  ttlMs: number;
  logger: Logger;
  rng: Rng;
  /** Default 5. */
  instances?: number;
  /** Default 2. */
  maxRestarting?: number;
}

/**
 * Instances of watchConsulEnv with `rolling`, as `consul-env --rolling` runs them, each on a
 * client of its own behind the fault proxy. A restart is a random pause in the `change`
 * listener; a ledger checks that no more of them believe they hold a slot than
 * `maxRestarting`, and at the end that every one runs on the server's final values.
 */
export class RolloutSoak {
  private readonly clients: ConsulWatch[] = [];
  private readonly watches: ConsulEnvWatch[] = [];
  /** Each instance's last roll-out step, to say where a lagging one stands. */
  private readonly lastStep = new Map<ConsulEnvWatch, string>();
  private readonly guard: Exclusion;
  private readonly stop = new AbortController();
  private fault: { kind: string; at: number } | undefined;
  private restarts = 0;
  private slotsLost = 0;
  private failed = 0;
  private readonly limit: number;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: RolloutSoakOptions) {
    this.limit = options.maxRestarting ?? 2;
    this.guard = new Exclusion(`roll-out of ${this.limit}`, this.limit, () =>
      this.fault
        ? `${Math.round(performance.now() - this.fault.at)} ms after a ${this.fault.kind} fault began`
        : 'before any fault',
    );
  }

  /** Starts the instances; resolves once each has its first environment. */
  async start(timeoutMs: number): Promise<void> {
    const { address, prefix, key, ttlMs, logger, rng } = this.options;
    for (let i = 1; i <= (this.options.instances ?? 5); i++) {
      const name = `consul-env ${i}`;
      const client = createConsulWatch({ address, logger });
      this.clients.push(client);
      const watch = watchConsulEnv({
        prefix,
        client,
        env: {},
        logger,
        settle: { minMs: 30, maxMs: 200 },
        rolling: { key, maxRestarting: this.limit, sessionTtlMs: ttlMs },
        readyAfterMs: 10,
      });
      let held: AbortController | undefined;
      const end = () => {
        held?.abort();
        held = undefined;
      };
      watch.on('rollout', (step) => {
        this.lastStep.set(watch, step.step);
        if (step.step === 'restarting') {
          this.restarts += 1;
          held = new AbortController();
          this.guard.enter(name, held.signal);
        } else if (step.step === 'ready') end();
        else if (step.step === 'failed') {
          this.failed += 1;
          end();
        } else if (step.step === 'slot-lost') {
          this.slotsLost += 1;
          end();
        }
      });
      watch.on('change', () => sleep(between(rng, 10, 60), this.stop.signal));
      // Outages are the proxy's doing and are counted by the core clients already.
      watch.on('error', () => {});
      this.watches.push(watch);
    }
    await Promise.all(this.watches.map((w) => w.ready(timeoutMs)));
  }

  /** Notes the fault being injected, to say when a breach happened. */
  faultStarted(kind: string): void {
    this.fault = { kind, at: performance.now() };
  }

  /**
   * After the run has quiesced: every instance must come to the server's values within
   * `timeoutMs` (no roll-out lost to a fault). Returns the violations, bound breaches included.
   */
  async settle(timeoutMs: number): Promise<string[]> {
    const violations: string[] = [];
    const truth = await loadConsulEnv({
      prefix: this.options.prefix,
      client: this.clients[0]!,
      env: {},
    });
    const want = stableJson(truth.parsed);
    const behind = () => this.watches.filter((w) => stableJson(w.values) !== want);
    if (!(await waitFor(() => behind().length === 0, timeoutMs))) {
      const lagging = behind();
      const first = lagging[0]!.values;
      const differs = Object.keys({ ...first, ...truth.parsed }).filter(
        (name) => first[name] !== truth.parsed[name],
      );
      violations.push(
        `rolling consul-env: ${lagging.length} of ${this.watches.length} instances not on the server's values ${timeoutMs} ms after the run quiesced (last steps: ${lagging.map((w) => this.lastStep.get(w) ?? 'none').join(', ')}; the first differs in ${differs.slice(0, 5).join(', ')})`,
      );
    }
    if (this.guard.breaches > 0)
      violations.push(
        `rolling consul-env: ${this.guard.breaches} time(s) more instances believed they held a slot than ${this.limit} (at most ${this.guard.max} at once): ${this.guard.seen.join('; ')}`,
      );
    return violations;
  }

  figures(): RolloutFigures {
    return {
      restarts: this.restarts,
      slotsLost: this.slotsLost,
      failed: this.failed,
      overlaps: this.guard.breaches,
      maxRestarting: this.guard.max,
      limit: this.limit,
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stop.abort();
      await Promise.all(this.watches.map((w) => w.stop()));
      await Promise.all(this.clients.map((c) => c.close()));
    })();
    return this.closing;
  }
}
