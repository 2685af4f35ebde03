import type { Watch, WatchChange } from '@consul-watch/core';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ContextIdFactory, DiscoveryService, MetadataScanner, ModuleRef } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { type ConsulModuleOptions, MODULE_OPTIONS_TOKEN } from './consul.options';
import { ConsulService } from './consul.service';
import { answersAgain, ConsulConfigService } from './consulConfig.service';
import { ConsulLeaderService } from './consulLeader.service';
import { bindValues } from './consulValue.decorator';
import {
  bindLeadership,
  LEADER_ONLY_METADATA,
  type LeaderOnlyMetadata,
} from './leaderOnly.decorator';
import {
  CONSUL_CHANGE_METADATA,
  type OnConsulChangeOptions,
  toWatchSpec,
} from './onConsulChange.decorator';

/**
 * Finds @ConsulValue properties at module init and @OnConsulChange methods at bootstrap on
 * providers and controllers, binds each method to a core watch (identical watches share one
 * blocking query), waits for their first state, and stops them all at shutdown.
 * Request-scoped providers get a fresh instance per change.
 */
/**
 * Methods already bound, per provider: when an app imports ConsulModule more than once, each
 * import's explorer sees every provider, and a handler must still run once per change.
 */
const boundMethods = new WeakMap<InstanceWrapper, Set<string>>();

@Injectable()
export class ConsulChangeExplorer
  implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown
{
  private readonly logger = new Logger('OnConsulChange');
  private readonly watches: Watch[] = [];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly moduleRef: ModuleRef,
    private readonly consul: ConsulService,
    private readonly config: ConsulConfigService,
    private readonly leaders: ConsulLeaderService,
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: ConsulModuleOptions,
  ) {}

  private wrappers(): InstanceWrapper[] {
    return [...this.discovery.getProviders(), ...this.discovery.getControllers()];
  }

  onModuleInit(): void {
    for (const wrapper of this.wrappers()) {
      const instances = wrapper.isDependencyTreeStatic()
        ? [
            wrapper.instance,
            ...(wrapper.isTransient
              ? wrapper.getStaticTransientInstances().map((i) => i?.instance)
              : []),
          ]
        : [];
      for (const instance of instances)
        if (instance && typeof instance === 'object') bindValues(instance, this.config);
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    let skipped = 0;
    for (const wrapper of this.wrappers()) {
      const { instance } = wrapper;
      if (!instance || typeof instance !== 'object') continue;
      const prototype = Object.getPrototypeOf(instance);
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const leaderOnly: LeaderOnlyMetadata | undefined = Reflect.getMetadata(
          LEADER_ONLY_METADATA,
          prototype[name],
        );
        if (leaderOnly) {
          const { key, options, where } = leaderOnly;
          this.leaders.join(key, options, where);
          bindLeadership(wrapper.isDependencyTreeStatic() ? instance : prototype, (k) =>
            this.leaders.isLeader(k),
          );
        }
        const list: OnConsulChangeOptions[] | undefined = Reflect.getMetadata(
          CONSUL_CHANGE_METADATA,
          prototype[name],
        );
        if (!list?.length) continue;
        const done = boundMethods.get(wrapper) ?? new Set<string>();
        if (done.has(name)) {
          skipped++;
          continue;
        }
        done.add(name);
        boundMethods.set(wrapper, done);
        for (const options of list) this.bind(wrapper, name, options);
      }
    }
    if (skipped > 0)
      this.logger.warn(
        `ConsulModule is imported more than once in this app: ${skipped} @OnConsulChange method(s) stay bound to the first import's client; import it once (isGlobal: true) to avoid this`,
      );
    await this.firstStates();
  }

  /**
   * A change written after bootstrap must reach the handlers: waits for each watch's first
   * state, together (not one after another), and with `config.onUnavailable: 'start'` no
   * longer than what is left of `config.readyTimeoutMs`, so the whole boot stays within it.
   */
  private async firstStates(): Promise<void> {
    const own = this.options.watchReadyTimeoutMs ?? 10_000;
    const left = this.config.bootTimeLeftMs();
    if (left === undefined || left >= own) {
      await Promise.all(
        this.watches.map((watch) =>
          watch
            .ready(own)
            .catch((error: Error) =>
              this.logger.warn(`${error.message}; starting anyway, it keeps trying`),
            ),
        ),
      );
      return;
    }
    const late: Watch[] = [];
    await Promise.all(
      this.watches.map((watch) => watch.ready(left).catch(() => void late.push(watch))),
    );
    // Each of these has said why already (its "cannot reach Consul" warning): one line for all.
    if (late.length > 0)
      this.logger.warn(
        `starting without the first state of ${late.length} @OnConsulChange watch(es) (${late.map((w) => w.description).join(', ')}): config.onUnavailable 'start' bounds the boot by config.readyTimeoutMs; they keep trying`,
      );
  }

  private bind(wrapper: InstanceWrapper, method: string, options: OnConsulChangeOptions): void {
    const label = `${wrapper.metatype?.name ?? String(wrapper.name)}.${method}`;
    const isStatic = wrapper.isDependencyTreeStatic();
    const watch = this.consul.client.watch(
      { ...toWatchSpec(options), initial: options.initial ?? false },
      async (change: WatchChange) => {
        try {
          let target = wrapper.instance;
          if (!isStatic) {
            target = await this.moduleRef.resolve(wrapper.token, ContextIdFactory.create(), {
              strict: false,
            });
            bindValues(target, this.config);
          }
          // @ConsulValue properties must already show what the handler is told.
          const caughtUp = this.config.caughtUp(change);
          if (caughtUp) await caughtUp;
          await target[method](change);
        } catch (error) {
          this.logger.error(
            `${label} failed on a change of watch ${watch.description}: ${(error as Error)?.message ?? String(error)}; the watch goes on`,
            (error as Error)?.stack,
          );
        }
      },
    );
    watch.on('error', (error) =>
      this.logger.warn(`watch ${watch.description} for ${label}: ${error.message}`),
    );
    // The warning above must not stay the last word once Consul is back.
    watch.on('recovered', ({ downMs }) =>
      this.logger.log(`watch ${watch.description} for ${label}: ${answersAgain(downMs)}`),
    );
    this.watches.push(watch);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.watches.splice(0).map((w) => w.stop()));
  }
}
