import type { ConsulWatchError } from './errors';
import type { SharedWatch, SharedWatchListener } from './sharedWatch';

export interface SubscriberOptions {
  /** Deliver the first state as a change (with `initial: true`). */
  initial: boolean;
  deliver(change: unknown): void | Promise<void>;
  onError(error: ConsulWatchError): void;
  onReady(): void;
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
  private pumping: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly shared: SharedWatch,
    private readonly options: SubscriberOptions,
  ) {}

  changed(): void {
    // Deliver on a later microtask: the engine finishes its bookkeeping before any handler runs.
    if (!this.pumping && !this.stopped) this.pumping = Promise.resolve().then(() => this.pump());
  }

  error(error: ConsulWatchError): void {
    this.options.onError(error);
  }

  ready(): void {
    this.options.onReady();
  }

  private async pump(): Promise<void> {
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
        try {
          const event = {
            ...(change as object),
            type: this.shared.name,
            index: this.shared.index.toString(),
            initial: from === undefined,
          };
          await this.options.deliver(event);
        } catch (error) {
          this.options.onHandlerError(error);
        }
      }
    } finally {
      this.pumping = undefined;
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
