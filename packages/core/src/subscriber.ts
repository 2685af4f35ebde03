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
  deliver(change: unknown): Promise<{ error: unknown } | undefined> | undefined;
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
    if (!this.busy && !this.stopped) void this.pump();
  }

  /** A new subscriber catching up with a state that is already there: on a later microtask, never inside the caller's `watch()`. */
  catchUp(): void {
    if (this.busy || this.stopped) return;
    this.busy = true;
    queueMicrotask(() => void this.pump());
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

  private async pump(): Promise<void> {
    this.busy = true;
    try {
      while (!this.stopped) {
        const target = this.shared.state;
        if (target === undefined || target === this.delivered) return;
        const from = this.delivered;
        this.delivered = target;
        if (from === undefined && !this.options.initial) continue;
        const change =
          from === undefined
            ? this.shared.def.diff(undefined, target, this.shared.params)
            : this.shared.changeBetween(from, target);
        if (change === undefined) continue;
        const event = {
          ...(change as object),
          type: this.shared.name,
          index: this.shared.index.toString(),
          initial: from === undefined,
        };
        if (channels.delivery.hasSubscribers)
          channels.delivery.publish({
            ...this.shared.ref,
            changes: changeCount(change),
            index: event.index,
            initial: event.initial,
          });
        const timed = channels.handler.hasSubscribers;
        const started = timed ? performance.now() : 0;
        let failure: { error: unknown } | undefined;
        try {
          const outcome = await this.options.deliver(event);
          if (outcome) failure = outcome;
        } catch (error) {
          failure = { error };
          this.options.onHandlerError(error);
        }
        if (timed && channels.handler.hasSubscribers) {
          const now = performance.now();
          channels.handler.publish({
            ...this.shared.ref,
            durationMs: now - started,
            sinceAnswerMs: now - this.shared.answeredAt,
            ...failure,
          });
        }
      }
    } finally {
      this.busy = false;
    }
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
