import { changeCount, channels } from './diagnostics';
import type { ConsulWatchError } from './errors';
import type { SharedWatch, SharedWatchListener } from './sharedWatch';

export interface SubscriberOptions {
  /** Deliver the first state as a change (with `initial: true`). */
  initial: boolean;
  /**
   * Hands a change over; may resolve with `{ error }` when a handler failed and was already
   * reported, so the failure still shows on the diagnostics channel.
   */
  deliver(
    change: unknown,
  ): Promise<{ error: unknown } | undefined> | { error: unknown } | undefined;
  onError(error: ConsulWatchError): void;
  onReady(): void;
  /** The first answer after a spell of errors. */
  onRecovered(downMs: number): void;
  /** A handler threw or rejected. */
  onHandlerError(error: unknown): void;
}

/**
 * One subscriber of a shared watch. Delivery is serial and in order: the next change is
 * not handed over before the handler of the last one has returned (or its promise settled).
 * A slow handler is never queued up: when it returns, it gets one change from what it saw
 * last to the latest state, coalescing everything in between.
 */
export class Subscriber implements SharedWatchListener {
  private delivered: unknown;
  private busy = false;
  private stopped = false;

  constructor(
    private readonly shared: SharedWatch,
    private readonly options: SubscriberOptions,
  ) {}

  /**
   * From the engine, after its bookkeeping, on a clean stack: an idle handler runs at once,
   * before the next request is even built, which is what a change's latency is made of.
   */
  changed(): void {
    if (!this.busy && !this.stopped) this.pump();
  }

  /** A new subscriber catching up with a state that is already there: on a later microtask, never inside the caller's `watch()`. */
  catchUp(): void {
    if (this.busy || this.stopped) return;
    this.busy = true;
    queueMicrotask(() => this.pump());
  }

  recovered(downMs: number): void {
    this.options.onRecovered(downMs);
  }

  error(error: ConsulWatchError): void {
    this.options.onError(error);
  }

  ready(): void {
    this.options.onReady();
  }

  /**
   * Hands over changes until the handler has seen the latest state. A handler that returns
   * at once is called again in the same loop; one that returns a promise is waited for, and
   * the loop goes on when it settles (the subscriber stays busy meanwhile).
   */
  private pump(): void {
    this.busy = true;
    let waiting = false;
    try {
      waiting = this.deliverAll();
    } finally {
      if (!waiting) this.busy = false;
    }
  }

  /** The loop of `pump`; true when it left a handler's promise to finish it. */
  private deliverAll(): boolean {
    while (!this.stopped) {
      const event = this.next();
      if (event === null) break;
      if (event === undefined) continue;
      const started = channels.handler.hasSubscribers ? performance.now() : -1;
      let outcome: ReturnType<SubscriberOptions['deliver']>;
      try {
        outcome = this.options.deliver(event);
      } catch (error) {
        this.options.onHandlerError(error);
        this.handled(started, { error });
        continue;
      }
      if (outcome instanceof Promise) {
        outcome
          .then(
            (failure) => this.handled(started, failure),
            (error: unknown) => {
              this.options.onHandlerError(error);
              this.handled(started, { error });
            },
          )
          .then(() => this.pump());
        return true;
      }
      this.handled(started, outcome);
    }
    return false;
  }

  /** The event that takes the handler from what it saw last to the latest state; null when it is up to date, undefined when there is nothing to hand over this step. */
  private next(): object | null | undefined {
    const target = this.shared.state;
    if (target === undefined || target === this.delivered) return null;
    const from = this.delivered;
    this.delivered = target;
    if (from === undefined && !this.options.initial) return undefined;
    const change =
      from === undefined
        ? this.shared.def.diff(undefined, target, this.shared.params)
        : this.shared.changeBetween(from, target);
    if (change === undefined) return undefined;
    // Object.assign, not `{ ...change, type, … }`: Node 20's V8 builds a spread followed by
    // more properties on a slow path, ~1.5 µs a time (bench/README.md "fleet").
    const event: { index: string; initial: boolean } = Object.assign({}, change as object, {
      type: this.shared.name,
      index: this.shared.index.toString(),
      initial: from === undefined,
    });
    if (channels.delivery.hasSubscribers)
      channels.delivery.publish({
        ...this.shared.ref,
        changes: changeCount(change),
        index: event.index,
        initial: event.initial,
      });
    return event;
  }

  /** Publishes the handler's duration when someone listens (`started` is -1 when no one did at the start). */
  private handled(started: number, failure: { error: unknown } | undefined): void {
    if (started < 0 || !channels.handler.hasSubscribers) return;
    const now = performance.now();
    channels.handler.publish({
      ...this.shared.ref,
      durationMs: now - started,
      sinceAnswerMs: now - this.shared.answeredAt,
      ...failure,
    });
  }

  /**
   * Stops delivery: nothing is handed over after this, and a handler still running is not
   * waited for — so a handler may stop its own watch (or close the client) without waiting
   * for itself.
   */
  stop(): void {
    this.stopped = true;
  }
}
