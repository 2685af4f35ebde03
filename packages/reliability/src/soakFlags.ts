import type { ConsulWatch } from '@consul-watch/core';
import { ConsulFlagProvider } from '@consul-watch/openfeature';
import { type EvaluationContext, ProviderEvents } from '@openfeature/server-sdk';
import type { Probe, Truth, TruthTarget } from './soakProbes';
import { targetId } from './soakProbes';
import { stableJson } from './soakUtil';
import { SOAK_FLAGS } from './soakWorkload';

/**
 * A ConsulFlagProvider among the watchers: it must converge to the server's documents, announce
 * only real changes, and never evaluate to a variant that was never written to Consul (a sampler
 * evaluates every flag every 50 ms, during faults and bad documents too).
 */
export class FlagProbe implements Probe {
  deliveries = 0;
  duplicates = 0;
  errors = 0;
  /** Evaluations that returned a value the writer never wrote. */
  unknownValues: string[] = [];
  evaluations = 0;
  private last: string | undefined;
  private sampler: NodeJS.Timeout | undefined;
  readonly provider: ConsulFlagProvider;

  constructor(
    readonly name: string,
    readonly target: TruthTarget & { kind: 'flags' },
    client: ConsulWatch,
    private readonly written: ReadonlySet<string>,
  ) {
    this.provider = new ConsulFlagProvider({
      sources: [target.doc, target.prefix],
      client,
    });
    this.provider.on('error', () => {
      this.errors += 1;
    });
    this.provider.events.addHandler(ProviderEvents.ConfigurationChanged, (details) => {
      this.deliveries += 1;
      // An announced change that names no flag is a change of nothing.
      if (((details as { flagsChanged?: string[] } | undefined)?.flagsChanged ?? []).length === 0)
        this.duplicates += 1;
      void this.sample();
    });
  }

  async start(): Promise<void> {
    await this.provider.initialize();
    await this.sample();
    this.sampler = setInterval(() => void this.sample(), 50);
  }

  async close(): Promise<void> {
    clearInterval(this.sampler);
    await this.provider.onClose();
  }

  /** Evaluates every flag, for no user and for the targeted one; records the state for convergence. */
  private async sample(): Promise<void> {
    const values: Record<string, string> = {};
    for (const flag of SOAK_FLAGS) {
      for (const context of [{}, { user: 'u1' }] as EvaluationContext[]) {
        const r = await this.provider.resolveStringEvaluation(flag, '', context);
        this.evaluations += 1;
        if (r.reason === 'ERROR') continue;
        if (!this.written.has(r.value) && this.unknownValues.length < 10)
          this.unknownValues.push(`${flag}=${JSON.stringify(r.value)}`);
        if (Object.keys(context).length === 0) values[flag] = r.value;
      }
    }
    this.last = stableJson(values);
  }

  matches(truth: Truth): boolean {
    return this.last !== undefined && this.last === truth.get(targetId(this.target))?.canonical;
  }
}
