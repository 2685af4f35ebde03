import { type ConsulWatchError, HandlerError, isConnectionError } from './errors';
import { ListenerSet } from './listenerSet';
import type { Logger } from './logger';
import { Readiness } from './readiness';
import type { SharedWatch, WatchStatus } from './sharedWatch';
import { Subscriber, type SubscriberOptions } from './subscriber';
import type { UnheardOutage } from './unheard';
import type { WatchChange, WatchTypeName } from './watchTypes';

export interface WatchOptions {
  /** Deliver the first state as a change with `initial: true`. Default true. */
  initial?: boolean;
}

type Events<T extends WatchTypeName> = {
  change: (change: WatchChange<T>) => void | Promise<void>;
  /** Once when a spell of errors starts (Consul unreachable, a 403…), not once per retry. */
  error: (error: ConsulWatchError) => void;
  /** The first answer after a spell of errors; `downMs` is how long it lasted. */
  recovered: (info: { downMs: number }) => void;
  ready: () => void;
};

/**
 * A subscription to one watch. Changes arrive through the callback given to `watch()`,
 * `on('change')` listeners, or `for await (const change of watch)`; each path is served
 * serially and in order, and a slow one gets the latest state coalesced. `stop()` releases
 * everything; the shared blocking query ends with its last subscriber.
 */
export class Watch<T extends WatchTypeName = WatchTypeName> {
  private readonly listeners: { [K in keyof Events<T>]: ListenerSet<Events<T>[K]> } = {
    change: new ListenerSet(),
    error: new ListenerSet(),
    recovered: new ListenerSet(),
    ready: new ListenerSet(),
  };
  private readonly subscribers = new Set<Subscriber>();
  private readonly iterators = new Set<() => Promise<unknown>>();
  private readonly main: Subscriber;
  private stopping: Promise<void> | undefined;
  private readonly readiness = new Readiness<void>();

  /** @internal */
  constructor(
    private readonly shared: SharedWatch,
    private readonly release: () => Promise<void>,
    private readonly options: WatchOptions,
    private readonly logger: Logger,
    callback?: (change: WatchChange<T>) => void | Promise<void>,
    private readonly unheard?: UnheardOutage,
  ) {
    if (callback) this.listeners.change.add(callback);
    this.main = this.subscribe((change) =>
      this.callListeners(this.listeners.change.snapshot(), 0, change as WatchChange<T>, undefined),
    );
    shared.start();
    if (shared.state !== undefined) queueMicrotask(() => this.becomeReady());
  }

  get type(): T {
    return this.shared.name as T;
  }

  /** Names the watch: `keyprefix "app/"`. */
  get description(): string {
    return this.shared.description;
  }

  /** The latest state (what the last change's `entries`/`current` describe), or undefined before the first answer. */
  get state(): unknown {
    return this.shared.state;
  }

  /**
   * Where the watch stands with Consul: `connecting`, `connected`, `unavailable` (waiting for
   * Consul to answer) or `failing` (refused: 403, 400), since when, and the last error.
   */
  get status(): WatchStatus {
    return this.shared.status;
  }

  /**
   * Milliseconds since Consul last answered this watch: 0 while connected, growing while it
   * cannot be reached or refuses (and before the first answer).
   */
  get stalenessMs(): number {
    return this.shared.stalenessMs;
  }

  /** The last error while Consul is failing; undefined once a request succeeds again. */
  get lastError(): ConsulWatchError | undefined {
    return this.shared.lastError;
  }

  on<K extends keyof Events<T>>(event: K, listener: Events<T>[K]): this {
    this.listeners[event].add(listener);
    if (event === 'ready' && this.readiness.isReady)
      queueMicrotask(() => (listener as () => void)());
    return this;
  }

  off<K extends keyof Events<T>>(event: K, listener: Events<T>[K]): this {
    this.listeners[event].delete(listener);
    return this;
  }

  /** Resolves once the first state has arrived; rejects with TimeoutError after `timeoutMs`, or when the watch stops first. */
  ready(timeoutMs?: number): Promise<void> {
    return this.readiness.wait(timeoutMs, () => {
      const cause = this.shared.lastError ? `: ${this.shared.lastError.message}` : '';
      return `watch ${this.description} had no answer from Consul within ${timeoutMs} ms${cause}`;
    });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<WatchChange<T>> {
    type Item = { change: WatchChange<T>; release: () => void };
    let slot: Item | undefined;
    let wake: ((item: Item | undefined) => void) | undefined;
    let held: (() => void) | undefined;
    let finished = false;
    const subscriber = this.subscribe(
      (change) =>
        new Promise<undefined>((resolve) => {
          const item = { change: change as WatchChange<T>, release: () => resolve(undefined) };
          if (wake) {
            const w = wake;
            wake = undefined;
            w(item);
          } else slot = item;
        }),
    );
    const end = async (): Promise<IteratorResult<WatchChange<T>>> => {
      if (!finished) {
        finished = true;
        held?.();
        slot?.release();
        wake?.(undefined);
        this.iterators.delete(end);
        this.subscribers.delete(subscriber);
        this.shared.listeners.delete(subscriber);
        subscriber.stop();
        await this.release();
      }
      return { done: true, value: undefined };
    };
    this.iterators.add(end);
    const iterator: AsyncIterableIterator<WatchChange<T>> = {
      next: async () => {
        held?.();
        held = undefined;
        if (finished) return { done: true, value: undefined };
        const item = slot ?? (await new Promise<Item | undefined>((resolve) => (wake = resolve)));
        slot = undefined;
        if (!item) return { done: true, value: undefined };
        held = item.release;
        return { done: false, value: item.change };
      },
      return: end,
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Ends this subscription: nothing is delivered after it, and when it was the last subscriber the request is aborted. A handler still running is not waited for, so a handler may stop its own watch. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.readiness.stop(() => `watch ${this.description}`);
      await Promise.all([...this.iterators].map((end) => end()));
      for (const s of this.subscribers) this.shared.listeners.delete(s);
      for (const s of this.subscribers) s.stop();
      this.subscribers.clear();
      await this.release();
    })();
    return this.stopping;
  }

  private subscribe(deliver: SubscriberOptions['deliver']): Subscriber {
    const subscriber = new Subscriber(this.shared, {
      initial: this.options.initial ?? true,
      deliver,
      onError: (error) => {
        // Only the main subscriber reports, so each error reaches the listeners once.
        if (subscriber !== this.main) return;
        if (this.listeners.error.size === 0 && isConnectionError(error))
          this.unheard?.failed(error);
        this.emit('error', error);
      },
      onReady: () => {
        if (subscriber === this.main) this.becomeReady();
      },
      onRecovered: (downMs) => {
        if (subscriber !== this.main) return;
        if (this.listeners.error.size === 0)
          this.unheard?.recovered(`watch ${this.description}`, downMs);
        this.emit('recovered', { downMs });
      },
      onHandlerError: (error) => this.handlerFailed(error),
    });
    this.subscribers.add(subscriber);
    this.shared.listeners.add(subscriber);
    if (this.shared.state !== undefined) subscriber.catchUp();
    return subscriber;
  }

  /**
   * Calls the change listeners from `from` on, one after another: one that returns a promise
   * is waited for before the next is called, and one that returns at once costs no microtask.
   * A failure is reported, and the others still run.
   */
  private callListeners(
    listeners: readonly Events<T>['change'][],
    from: number,
    change: WatchChange<T>,
    failed: { error: unknown } | undefined,
  ): Promise<{ error: unknown } | undefined> | { error: unknown } | undefined {
    for (let i = from; i < listeners.length; i++) {
      let result: unknown;
      try {
        result = listeners[i]!(change);
      } catch (error) {
        failed ??= { error };
        this.handlerFailed(error);
        continue;
      }
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
        return Promise.resolve(result).then(
          () => this.callListeners(listeners, i + 1, change, failed),
          (error: unknown) => {
            failed ??= { error };
            this.handlerFailed(error);
            return this.callListeners(listeners, i + 1, change, failed);
          },
        );
      }
    }
    return failed;
  }

  private becomeReady(): void {
    if (this.readiness.isReady) return;
    this.readiness.resolve();
    this.emit('ready');
  }

  /** Calls every listener of `event`; one that throws is reported, and the others still run. */
  private emit<K extends 'error' | 'recovered' | 'ready'>(
    event: K,
    ...args: Parameters<Events<T>[K]>
  ): void {
    for (const listener of this.listeners[event].snapshot()) {
      try {
        (listener as (...a: Parameters<Events<T>[K]>) => void)(...args);
      } catch (error) {
        this.handlerFailed(error);
      }
    }
  }

  private handlerFailed(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.logger.error(
      `watch ${this.description}: a change handler failed: ${message}; the watch goes on`,
    );
    const reported = new HandlerError(
      `watch ${this.description}: a change handler failed: ${message}`,
      { cause: error },
    );
    for (const listener of this.listeners.error.snapshot()) {
      try {
        listener(reported);
      } catch {
        // an error listener that throws has nowhere left to report to
      }
    }
  }
}
