import type { ConfigChangeEvent, DecodeError, LiveConfig, WatchChange } from '@consul-watch/core';
import { checkSettle } from '@consul-watch/core/internal';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { Observable } from 'rxjs';
import { ConfigCatchUp } from './configCatchUp';
import { type ConsulModuleOptions, MODULE_OPTIONS_TOKEN } from './consul.options';
import { ConsulService } from './consul.service';
import { liveSources } from './consulValue.decorator';

/** The line that follows a "cannot reach Consul" warning once Consul is back, as core words it. */
export function answersAgain(downMs: number): string {
  return `Consul answers again after ${(downMs / 1000).toFixed(1)} s`;
}

/**
 * The live config from Consul, as @nestjs/config's ConfigService feels: `get(path, default)`
 * always reads the current value. Module init waits (bounded) for the first config, so
 * providers never read an empty one.
 */
@Injectable()
export class ConsulConfigService<T = Record<string, unknown>>
  implements OnModuleInit, OnApplicationShutdown
{
  private readonly logger = new Logger('ConsulConfig');
  private readonly live: LiveConfig<T> | undefined;
  private bootDeadline: number | undefined;
  private readonly catchUp: ConfigCatchUp | undefined;

  constructor(
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: ConsulModuleOptions,
    consul: ConsulService,
  ) {
    const section = options.config;
    if (!section) return;
    const prefixes =
      section.prefix === undefined
        ? []
        : Array.isArray(section.prefix)
          ? section.prefix
          : [section.prefix];
    // `prefix` names folders of keys: 'config/my-app' and 'config/my-app/' are one tree layer.
    const layers = [...prefixes.map((prefix) => ({ prefix })), ...(section.layers ?? [])];
    this.live = consul.client.liveConfig<T>({
      layers,
      ...(section.format ? { format: section.format } : {}),
      ...(section.schema ? { schema: section.schema as never } : {}),
      ...(section.lastKnownGoodFile ? { lastKnownGoodFile: section.lastKnownGoodFile } : {}),
      ...(section.settle ? { settle: section.settle } : {}),
    });
    const where = layers
      .map((l) => (typeof l === 'string' ? l : 'prefix' in l ? l.prefix : l.key))
      .join(', ');
    this.catchUp = new ConfigCatchUp(
      this.live as LiveConfig<unknown>,
      section.settle ? (checkSettle(section.settle, 'ConsulModule config.settle')?.maxMs ?? 0) : 0,
      where,
      (m) => this.logger.warn(m),
    );
    this.live.on('error', (error) => this.logger.warn(error.message));
    this.live.on('recovered', ({ downMs }) =>
      this.logger.log(`config from ${where}: ${answersAgain(downMs)}`),
    );
    liveSources.add(this);
  }

  async onModuleInit(): Promise<void> {
    if (!this.live) return;
    const section = this.options.config!;
    const timeoutMs = section.readyTimeoutMs ?? 10_000;
    if (section.onUnavailable === 'start') this.bootDeadline = performance.now() + timeoutMs;
    try {
      await this.live.ready(timeoutMs);
    } catch (error) {
      if (section.onUnavailable === 'start')
        this.logger.warn(`starting without config: ${(error as Error).message}`);
      else throw error;
    }
  }

  /**
   * @internal with `onUnavailable: 'start'`, what is left of `readyTimeoutMs` since module init
   * began, ms: the whole boot waits no longer than that, @OnConsulChange watches included.
   */
  bootTimeLeftMs(): number | undefined {
    return this.bootDeadline === undefined
      ? undefined
      : Math.max(0, this.bootDeadline - performance.now());
  }

  /**
   * @internal before an @OnConsulChange handler runs: undefined when the config already holds
   * `change`, else a promise that resolves when it does, so @ConsulValue properties show it.
   */
  caughtUp(change: WatchChange): Promise<void> | undefined {
    return this.catchUp?.caughtUp(change);
  }

  /** The value at a dot path (`db.pool.size`), or `fallback`. */
  get<V = unknown>(path: string, fallback?: V): V {
    return this.config.get<V>(path, fallback);
  }

  /** @internal where @ConsulValue reports a value that does not fit its property's type. */
  reportValueError(error: DecodeError): void {
    this.logger.warn(error.message);
  }

  /** The current frozen config; undefined only before the first (with onUnavailable: 'start'). */
  snapshot(): T | undefined {
    return this.config.snapshot;
  }

  /** Config changes, as an Observable. */
  get changes$(): Observable<ConfigChangeEvent<T>> {
    const config = this.config;
    return new Observable((subscriber) => {
      const listener = (event: ConfigChangeEvent<T>) => subscriber.next(event);
      config.on('change', listener);
      return () => config.off('change', listener);
    });
  }

  /** True when the module has a config section. */
  get hasConfig(): boolean {
    return this.live !== undefined;
  }

  /** The core LiveConfig behind this service. */
  get config(): LiveConfig<T> {
    if (!this.live)
      throw new Error(
        'ConsulModule has no config section: add config: { prefix: "config/my-app/" } to its options',
      );
    return this.live;
  }

  async onApplicationShutdown(): Promise<void> {
    liveSources.delete(this);
    await this.live?.close();
  }
}
