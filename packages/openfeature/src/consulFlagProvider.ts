import {
  ConsulUnavailableError,
  type ConsulWatch,
  type ConsulWatchError,
  createConsulWatch,
  isConnectionError,
  type KvChange,
  TimeoutError,
  type Watch,
} from '@consul-watch/core';
import { LastKnownGoodFile, Readiness } from '@consul-watch/core/internal';
import { FlagdCore } from '@openfeature/flagd-core';
import {
  type EvaluationContext,
  type JsonValue,
  OpenFeatureEventEmitter,
  type Logger as OpenFeatureLogger,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import type { FlagDefinitions } from './flagDocument';
import type { FlagDocumentError } from './flagDocumentError';
import { FlagSet } from './flagSet';
import {
  type CheckedOptions,
  type ConsulFlagProviderOptions,
  checkProviderOptions,
} from './providerOptions';

type ErrorListener = (error: ConsulWatchError) => void;

/**
 * An OpenFeature server provider whose flags are flagd flag definitions kept in Consul KV,
 * followed live through core's shared watches and evaluated by flagd-core.
 */
export class ConsulFlagProvider implements Provider {
  readonly metadata = { name: 'consul-watch' } as const;
  readonly runsOn = 'server' as const;
  readonly hooks = [];
  readonly events = new OpenFeatureEventEmitter();

  private readonly options: CheckedOptions;
  private readonly flags: FlagSet;
  private readonly core: FlagdCore;
  private readonly errorListeners = new Set<ErrorListener>();
  private readonly lastKnownGood: LastKnownGoodFile | undefined;
  private readiness = new Readiness<'consul' | 'cache'>();
  private client: ConsulWatch | undefined;
  private ownClient = false;
  private watches: Watch<'key' | 'keyprefix'>[] = [];
  private initialized = false;
  /** initialize() ran out of time; the watches go on and the first flags make the provider READY. */
  private initFailed = false;
  /** Consul is away (a watch reported a connection error and not every watch answers again). */
  private stale = false;
  /** What the SDK was last told: STALE or READY. */
  private told: 'ready' | 'stale' = 'ready';
  private lastError: ConsulWatchError | undefined;
  private triedCache = false;
  private fromCache = false;
  private toldEmpty = new Set<number>();
  private announceLater: NodeJS.Immediate | undefined;

  constructor(options: ConsulFlagProviderOptions) {
    this.options = checkProviderOptions(options);
    this.flags = new FlagSet(this.options.sources, this.options.logger);
    this.core = new FlagdCore(this.flags, this.options.logger);
    this.lastKnownGood = this.options.lastKnownGoodFile
      ? new LastKnownGoodFile(this.options.lastKnownGoodFile, this.options.logger)
      : undefined;
  }

  /**
   * Reports a flag document that cannot be used (a FlagDocumentError naming the key and the flag)
   * and Consul failures; each is also written to the logger.
   */
  on(event: 'error', listener: ErrorListener): this {
    if (event === 'error') this.errorListeners.add(listener);
    return this;
  }

  off(event: 'error', listener: ErrorListener): this {
    if (event === 'error') this.errorListeners.delete(listener);
    return this;
  }

  /** Starts the watches; resolves after the first complete read of every source (or the last-known-good file). */
  async initialize(_context?: EvaluationContext): Promise<void> {
    if (this.initialized) return;
    const { client, connection, sources, readyTimeoutMs } = this.options;
    // A second call while the first waits (or after it ran out of time) starts nothing more.
    if (this.watches.length > 0) {
      await this.readiness.wait(
        readyTimeoutMs,
        () => `ConsulFlagProvider: no flags within ${readyTimeoutMs} ms`,
      );
      return;
    }
    this.readiness = new Readiness();
    this.client = client ?? createConsulWatch(connection);
    this.ownClient = client === undefined;
    this.watches = sources.map((source, i) => {
      const spec = source.endsWith('/')
        ? ({ type: 'keyprefix', prefix: source } as const)
        : ({ type: 'key', key: source } as const);
      const watch = this.client!.watch(spec, (change) => this.onChange(i, change as KvChange));
      watch.on('error', (error) => this.onWatchError(error));
      watch.on('recovered', () => this.onRecovered());
      return watch;
    });
    let from: 'consul' | 'cache';
    try {
      from = await this.readiness.wait(readyTimeoutMs, () => '');
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      this.initFailed = true;
      const address = this.client.address;
      throw new TimeoutError(
        `ConsulFlagProvider: no flags from ${sources.map((s) => JSON.stringify(s)).join(', ')} within readyTimeoutMs (${readyTimeoutMs} ms)${this.lastError ? `: ${this.lastError.message.replace(/[.?!]+$/, '')}` : ''}. Check that Consul answers at ${address} (connection.address or CONSUL_HTTP_ADDR) and that the token may read these keys, or set lastKnownGoodFile to start on the flags last read.`,
      );
    }
    this.initialized = true;
    // The SDK marks the provider READY once this resolves; a start on saved flags is STALE
    // right after that, so it is said once the SDK has done so.
    if (from === 'cache' || this.stale)
      this.announceLater = setImmediate(() => {
        this.announceLater = undefined;
        this.announce();
      });
  }

  /** Stops the watches and, when the provider made it, the client. */
  async onClose(): Promise<void> {
    this.initialized = false;
    this.initFailed = false;
    if (this.announceLater) clearImmediate(this.announceLater);
    this.readiness.stop(() => 'ConsulFlagProvider');
    const watches = this.watches;
    this.watches = [];
    await Promise.all(watches.map((w) => w.stop()));
    await this.lastKnownGood?.flushed();
    if (this.ownClient) await this.client?.close();
    this.client = undefined;
  }

  resolveBooleanEvaluation(
    flagKey: string,
    defaultValue: boolean,
    context: EvaluationContext,
    logger?: OpenFeatureLogger,
  ): Promise<ResolutionDetails<boolean>> {
    return Promise.resolve(
      this.core.resolveBooleanEvaluation(flagKey, defaultValue, context, logger),
    );
  }

  resolveStringEvaluation(
    flagKey: string,
    defaultValue: string,
    context: EvaluationContext,
    logger?: OpenFeatureLogger,
  ): Promise<ResolutionDetails<string>> {
    return Promise.resolve(
      this.core.resolveStringEvaluation(flagKey, defaultValue, context, logger),
    );
  }

  resolveNumberEvaluation(
    flagKey: string,
    defaultValue: number,
    context: EvaluationContext,
    logger?: OpenFeatureLogger,
  ): Promise<ResolutionDetails<number>> {
    return Promise.resolve(
      this.core.resolveNumberEvaluation(flagKey, defaultValue, context, logger),
    );
  }

  resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
    logger?: OpenFeatureLogger,
  ): Promise<ResolutionDetails<T>> {
    return Promise.resolve(
      this.core.resolveObjectEvaluation(flagKey, defaultValue, context, logger),
    );
  }

  private onChange(index: number, change: KvChange): void {
    this.flags.receive(index, change.entries);
    if (this.flags.isEmpty(index)) {
      if (!this.toldEmpty.has(index)) {
        this.toldEmpty.add(index);
        const source = this.options.sources[index]!;
        this.options.logger.warn(
          `ConsulFlagProvider: source ${JSON.stringify(source)} holds no flags (${source.endsWith('/') ? 'no key under this prefix' : 'the key does not exist'}); put flags there or remove it from sources`,
        );
      }
    } else this.toldEmpty.delete(index);
    this.apply('consul');
    if (this.stale && this.watches.every((w) => w.status.state === 'connected')) this.onRecovered();
  }

  private apply(from: 'consul' | 'cache'): void {
    const wasReady = this.readiness.isReady;
    const { changed, refused } = this.flags.update();
    for (const error of refused) this.report(error);
    if (!this.flags.complete) return;
    const wasCache = this.fromCache;
    this.fromCache = from === 'cache';
    if (from === 'consul') {
      if (wasCache)
        this.options.logger.info('ConsulFlagProvider: Consul answers; flags caught up from Consul');
      // Written when the flags changed, and once on the first read (or the first after the file).
      if (changed.length > 0 || !wasReady || wasCache)
        this.lastKnownGood?.save({
          sources: this.flags.saved() as unknown as Record<string, never>,
        });
    }
    if (wasReady && changed.length > 0)
      this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: changed });
    this.readiness.resolve(from);
    if (this.initFailed) {
      // initialize() gave up (the SDK marked the provider ERROR); the flags are here now.
      this.initFailed = false;
      this.initialized = true;
      this.told = 'ready';
      this.events.emit(ProviderEvents.Ready, { message: 'flags read from Consul' });
    }
    this.announce();
  }

  private onWatchError(error: ConsulWatchError): void {
    this.lastError = error;
    if (isConnectionError(error)) {
      const first = !this.stale;
      this.stale = true;
      if (first) this.report(error);
      this.announce();
      if (
        !this.readiness.isReady &&
        !this.triedCache &&
        error instanceof ConsulUnavailableError &&
        this.lastKnownGood
      ) {
        this.triedCache = true;
        void this.loadCache(this.lastKnownGood);
      }
      return;
    }
    this.report(error);
  }

  private onRecovered(): void {
    if (!this.stale || !this.watches.every((w) => w.status.state === 'connected')) return;
    this.stale = false;
    this.lastError = undefined;
    this.announce();
  }

  /** Tells the SDK where the provider stands with Consul, once per change of it. */
  private announce(): void {
    if (!this.initialized || this.announceLater) return;
    const now = this.stale || this.fromCache ? 'stale' : 'ready';
    if (now === this.told) return;
    this.told = now;
    if (now === 'stale')
      this.events.emit(ProviderEvents.Stale, {
        message: `Consul cannot be reached${this.lastError ? ` (${this.lastError.message})` : ''}; the last good flags stay in force`,
      });
    else this.events.emit(ProviderEvents.Ready, { message: 'Consul answers again' });
  }

  private async loadCache(file: LastKnownGoodFile): Promise<void> {
    const saved = await file.load();
    if (!saved || this.readiness.isReady || this.watches.length === 0) return;
    const sources = (saved.config as { sources?: unknown }).sources;
    if (typeof sources !== 'object' || sources === null) {
      this.options.logger.warn(
        `ConsulFlagProvider: ${file.file} is not a last-known-good file of flags; waiting for Consul`,
      );
      return;
    }
    this.options.logger.warn(
      `ConsulFlagProvider: Consul cannot be reached; starting on the flags saved in ${file.file} at ${saved.savedAt}`,
    );
    this.flags.restore(sources as Record<string, FlagDefinitions>);
    this.apply('cache');
  }

  private report(error: ConsulWatchError | FlagDocumentError): void {
    this.options.logger.warn(error.message, { code: error.code });
    for (const listener of [...this.errorListeners]) {
      try {
        listener(error);
      } catch {
        // a listener that throws has nowhere left to report to
      }
    }
  }
}
