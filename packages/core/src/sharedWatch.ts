import { BACKOFF_OPTIONS, type BackoffOptions } from './backoff';
import { type AvailabilityGate, runBlockingQuery } from './blockingQuery';
import { type CallSettings, type ConsulHttp, WatchRequests } from './consulHttp';
import { channels } from './diagnostics';
import { ConsulUnavailableError, ConsulWatchError, DecodeError, InvalidInputError } from './errors';
import { ListenerSet } from './listenerSet';
import type { Logger } from './logger';
import { describeValue } from './messageText';
import { checkOptionNames, namesOf } from './optionNames';
import type { AnyWatchType } from './watchTypes';

export interface EngineOptions {
  /** Blocking wait of each request, ms. */
  waitMs?: number;
  /** The most requests a second one watch sends while its index moves on every answer. */
  maxRequestsPerSecond?: number;
  /** Requests a watch may send back to back after a quiet spell. */
  burst?: number;
  backoff?: BackoffOptions;
}

/** Where a watch stands with Consul. */
export type WatchState =
  /** No answer yet, no error yet. */
  | 'connecting'
  /** The last request was answered. */
  | 'connected'
  /** Consul cannot be reached (no connection, timeout, 5xx, 429): the watch waits for it. */
  | 'unavailable'
  /** Consul refuses the request (403, 400): retried slowly until the token or request is fixed. */
  | 'failing';

export interface WatchStatus {
  state: WatchState;
  /** When `state` last changed. */
  since: Date;
  /** The error that ended the last answered spell; kept after recovery, for the record. */
  lastError: ConsulWatchError | undefined;
}

/** Consul caps a blocking wait at 10 minutes. */
const MAX_WAIT_MS = 10 * 60_000;

/**
 * Refuses engine options that would make a watch spin (a wait of 0, no interval, no back-off)
 * or send nonsense (`wait=NaNms`), naming the option.
 */
export const ENGINE_OPTIONS = namesOf<EngineOptions>({
  waitMs: true,
  maxRequestsPerSecond: true,
  burst: true,
  backoff: true,
});

export function checkEngine(engine: EngineOptions, where: string): void {
  const number = (
    value: unknown,
    name: string,
    min: number,
    max = Number.MAX_SAFE_INTEGER,
    unit = 'milliseconds',
  ) => {
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      throw new InvalidInputError(
        `${where}: ${name} must be a number of ${unit} from ${min} to ${max}, got ${describeValue(value)}`,
      );
    }
  };
  if (engine === null || typeof engine !== 'object')
    throw new InvalidInputError(`${where}: watch options must be an object`);
  if ('minIntervalMs' in engine)
    throw new InvalidInputError(
      `${where}: minIntervalMs was replaced by maxRequestsPerSecond (default 100) and burst (default 10); pass those instead`,
    );
  number(engine.waitMs, 'waitMs', 1, MAX_WAIT_MS);
  number(
    engine.maxRequestsPerSecond,
    'maxRequestsPerSecond',
    0.001,
    100_000,
    'requests per second',
  );
  number(engine.burst, 'burst', 1, 10_000, 'requests');
  if (engine.burst !== undefined && !Number.isInteger(engine.burst))
    throw new InvalidInputError(
      `${where}: burst must be a whole number of requests, got ${engine.burst}`,
    );
  if (engine.backoff !== undefined) {
    if (engine.backoff === null || typeof engine.backoff !== 'object')
      throw new InvalidInputError(
        `${where}: backoff must be an object such as { baseMs: 100, maxMs: 30000 }`,
      );
    checkOptionNames(engine.backoff, BACKOFF_OPTIONS, `${where} backoff`);
    number(engine.backoff.baseMs, 'backoff.baseMs', 1);
    number(engine.backoff.maxMs, 'backoff.maxMs', 1);
    number(engine.backoff.slowMs, 'backoff.slowMs', 1);
  }
}

export interface SharedWatchListener {
  /** The shared state moved; pull what you need. Called from the engine's loop, on a clean stack. */
  changed(): void;
  /** Once when a spell of errors starts, and again only when the kind of error changes. */
  error(error: ConsulWatchError): void;
  /** The first answer after a spell of errors. */
  recovered(downMs: number): void;
  ready(): void;
}

/**
 * One blocking query and the state it keeps, shared by every subscriber of the same type,
 * parameters and settings: a thousand subscribers of one prefix hold one connection.
 */
export class SharedWatch {
  /** The latest state; undefined until the first answer. */
  state: unknown;
  /** The index the current state was first seen at. */
  index = 0n;
  /** The last transition, so subscribers that were up to date reuse its diff. */
  last: { from: unknown; to: unknown; change: unknown } | undefined;
  lastError: ConsulWatchError | undefined;
  private statusNow: WatchStatus = { state: 'connecting', since: new Date(), lastError: undefined };
  readonly listeners = new ListenerSet<SharedWatchListener>();
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  /** When the answer that brought the current state arrived (performance.now()). */
  answeredAt = 0;
  /** When Consul last answered a request of this watch, or when the watch started. */
  heardAt = performance.now();

  constructor(
    readonly name: string,
    readonly def: AnyWatchType,
    readonly params: unknown,
    private readonly http: ConsulHttp,
    private readonly settings: CallSettings,
    private readonly engine: EngineOptions,
    private readonly logger: Logger,
    private readonly availability?: AvailabilityGate,
  ) {}

  get status(): WatchStatus {
    return { ...this.statusNow };
  }

  get description(): string {
    return this.def.describe(this.params);
  }

  start(): void {
    if (this.controller) return;
    const controller = new AbortController();
    this.controller = controller;
    // One cancel emitter and one deadline for all of this watch's requests.
    const cancel = new WatchRequests();
    controller.signal.addEventListener(
      'abort',
      () => {
        cancel.cancel(controller.signal.reason);
        cancel.dispose();
      },
      { once: true },
    );
    this.loop = runBlockingQuery({
      signal: controller.signal,
      ...(this.def.indexKind ? { indexKind: this.def.indexKind } : {}),
      ...this.engine,
      ...(this.availability ? { availability: this.availability } : {}),
      fetch: (index, waitMs, signal) => {
        const request = this.def.fetch(this.params, {
          http: this.http,
          settings: this.settings,
          index,
          waitMs,
          signal,
          cancel,
        });
        if (channels.requestStart.hasSubscribers || channels.requestEnd.hasSubscribers)
          return this.traced(request, index, signal);
        return request;
      },
      onHeard: () => {
        this.heardAt = performance.now();
      },
      onAnswer: (body, index) => this.answer(body, index),
      onError: (error, retryInMs) => this.requestFailed(error, retryInMs),
      onRecover: () => this.recover(),
    });
  }

  get ref(): { type: string; watch: string } {
    return { type: this.name, watch: this.description };
  }

  /**
   * Seconds since Consul last answered this watch: 0 while it is connected (a request is
   * parked and the last one was answered), growing while it cannot be reached or is refused.
   */
  get stalenessMs(): number {
    return this.statusNow.state === 'connected' ? 0 : performance.now() - this.heardAt;
  }

  private async traced<A extends { index: bigint | undefined }>(
    request: Promise<A>,
    index: bigint | undefined,
    signal: AbortSignal,
  ): Promise<A> {
    const sent = index?.toString();
    if (channels.requestStart.hasSubscribers)
      channels.requestStart.publish({ ...this.ref, index: sent });
    const started = performance.now();
    const end = (status: 'ok' | 'error' | 'aborted', indexOut?: bigint, error?: unknown) => {
      if (!channels.requestEnd.hasSubscribers) return;
      channels.requestEnd.publish({
        ...this.ref,
        index: sent,
        indexOut: indexOut?.toString(),
        durationMs: performance.now() - started,
        status,
        ...(status === 'error' ? { error } : {}),
      });
    };
    try {
      const answer = await request;
      end('ok', answer.index);
      return answer;
    } catch (error) {
      end(signal.aborted ? 'aborted' : 'error', undefined, error);
      throw error;
    }
  }

  /** One error event and one log line per spell of errors, not one per retry. */
  private requestFailed(error: ConsulWatchError, retryInMs: number | undefined): void {
    const state = error instanceof ConsulUnavailableError ? 'unavailable' : 'failing';
    const news = this.statusNow.state !== state || this.statusNow.lastError?.code !== error.code;
    if (this.statusNow.state !== state)
      this.statusNow = { state, since: new Date(), lastError: error };
    else this.statusNow.lastError = error;
    this.lastError = error;
    if (!news) return;
    const next =
      retryInMs === undefined
        ? 'it resumes as soon as Consul answers'
        : `retrying every ${Math.round(retryInMs / 1000)} s or so`;
    this.logger.warn(`watch ${this.description}: ${error.message} (${next})`, { code: error.code });
    if (channels.unavailable.hasSubscribers)
      channels.unavailable.publish({ ...this.ref, state, error });
    for (const l of this.listeners.snapshot()) l.error(error);
  }

  private recover(): void {
    const downMs = Date.now() - this.statusNow.since.getTime();
    this.statusNow = { state: 'connected', since: new Date(), lastError: this.statusNow.lastError };
    this.lastError = undefined;
    this.logger.info(
      `watch ${this.description}: connected again after ${(downMs / 1000).toFixed(1)} s`,
    );
    if (channels.recovered.hasSubscribers) channels.recovered.publish({ ...this.ref, downMs });
    for (const l of this.listeners.snapshot()) l.recovered(downMs);
  }

  private answer(body: unknown, index: bigint): void {
    this.answeredAt = performance.now();
    if (this.statusNow.state === 'connecting')
      this.statusNow = { state: 'connected', since: new Date(), lastError: undefined };
    let next: unknown;
    try {
      next = this.def.normalise(body, this.params, {
        prefix: this.http.connection.prefix,
        previous: this.state,
      });
    } catch (error) {
      this.fail(
        error instanceof ConsulWatchError
          ? error
          : new DecodeError(
              `watch ${this.description}: answer could not be read: ${(error as Error).message}`,
              this.description,
            ),
      );
      return;
    }
    const first = this.state === undefined;
    const change = first ? undefined : this.def.diff(this.state, next, this.params);
    if (!first && change === undefined) return; // index moved, data did not: nothing to deliver
    if (!first) this.last = { from: this.state, to: next, change };
    this.state = next;
    this.index = index;
    for (const l of this.listeners.snapshot()) {
      if (first) l.ready();
      l.changed();
    }
  }

  private fail(error: ConsulWatchError): void {
    this.lastError = error;
    for (const l of this.listeners.snapshot()) l.error(error);
  }

  /** The change a subscriber that has seen `from` should get to reach `to`. */
  changeBetween(from: unknown, to: unknown): unknown {
    if (this.last && this.last.from === from && this.last.to === to) return this.last.change;
    return this.def.diff(from, to, this.params);
  }

  /** Aborts the parked request at once; resolves when the loop has fully ended. */
  async stop(): Promise<void> {
    this.controller?.abort();
    await this.loop;
  }
}
