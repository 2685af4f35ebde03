import type { LiveConfig, WatchChange } from '@consul-watch/core';

/** How long a handler is held for the config at most, beyond its settle time, ms. */
const MAX_HOLD_MS = 2_000;

/**
 * Lets an @OnConsulChange handler see its change in @ConsulValue properties. A handler's watch
 * and the config's layer watches are separate blocking queries, answered in either order; so
 * before a KV change reaches its handler, this waits until the live config has taken in
 * Consul's state at the change's index for every layer holding one of its keys
 * (`LiveConfig.caughtUp`), at most `MAX_HOLD_MS` beyond the config's settle time, and says so
 * when that ran out.
 */
export class ConfigCatchUp {
  constructor(
    private readonly live: LiveConfig<unknown>,
    /** The config's settle maxMs (0 without settle): the config itself holds a burst that long. */
    private readonly settleMs: number,
    private readonly where: string,
    private readonly warn: (message: string) => void,
  ) {}

  /** Undefined when the config already holds `change` (no await, no tick); else when it does. */
  caughtUp(change: WatchChange): Promise<void> | undefined {
    if (change.type !== 'key' && change.type !== 'keyprefix') return undefined;
    const keys = (change as WatchChange<'key' | 'keyprefix'>).changes.map((c) => c.key);
    const taken = this.live.caughtUp(change.index, keys);
    return taken && this.hold(taken, change.index);
  }

  private async hold(taken: Promise<void>, index: string): Promise<void> {
    const limitMs = MAX_HOLD_MS + this.settleMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), limitMs);
    });
    const outcome = await Promise.race([taken, late]);
    clearTimeout(timer);
    if (outcome === 'late')
      this.warn(
        `the config from ${this.where} had not caught up with index ${index} after ${limitMs} ms; the handler runs now and its @ConsulValue properties may show the state before this change`,
      );
  }
}
