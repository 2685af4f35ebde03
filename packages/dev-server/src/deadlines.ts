/**
 * What a Deadlines list holds. The links live on the item itself (an intrusive list), so
 * holding an item allocates nothing: that is the point of the class below.
 */
export interface Timed {
  /** `performance.now()` at which the item expires; set by `Deadlines.add`. */
  deadline: number;
  timerList: TimerList | undefined;
  prevTimed: Timed | undefined;
  nextTimed: Timed | undefined;
}

/** The items of one duration, oldest (soonest to expire) first, and the one timer for them. */
export interface TimerList {
  readonly durationMs: number;
  head: Timed | undefined;
  tail: Timed | undefined;
  timer: NodeJS.Timeout | undefined;
  readonly onTimer: () => void;
}

/**
 * The deadlines of many parked queries on a few timers. A `setTimeout` per query cost a
 * `Timeout` object and the closure it calls, about 300 bytes, for each of 10,000 parked
 * queries (bench/dev-server.bench.mjs). Items of one duration expire in the order they were
 * added, so each duration keeps a first-in first-out list and one timer for its head: the
 * scheme Node's own timers use, without an object per item. A parked query's wait takes one
 * of a few durations (see serveBlocking), so there are few lists and few timers.
 */
export class Deadlines<T extends Timed> {
  private readonly lists = new Map<number, TimerList>();

  constructor(private readonly expire: (item: T) => void) {}

  /** Expires `item` after `durationMs` (a whole number of milliseconds) unless removed first. */
  add(item: T, durationMs: number): void {
    let list = this.lists.get(durationMs);
    if (!list) {
      const created: TimerList = {
        durationMs,
        head: undefined,
        tail: undefined,
        timer: undefined,
        onTimer: () => this.fire(created),
      };
      list = created;
      this.lists.set(durationMs, list);
    }
    // Whole milliseconds, rounded up: V8 keeps a small integer in the object itself, where a
    // fractional number would take a heap number of its own, per item.
    item.deadline = Math.ceil(performance.now()) + durationMs;
    item.timerList = list;
    item.prevTimed = list.tail;
    item.nextTimed = undefined;
    if (list.tail) list.tail.nextTimed = item;
    else {
      list.head = item;
      list.timer = setTimeout(list.onTimer, durationMs);
    }
    list.tail = item;
  }

  /** Takes `item` out of its list; the list's timer goes with its last item. */
  remove(item: T): void {
    const list = item.timerList;
    if (!list) return;
    if (item.prevTimed) item.prevTimed.nextTimed = item.nextTimed;
    else list.head = item.nextTimed;
    if (item.nextTimed) item.nextTimed.prevTimed = item.prevTimed;
    else list.tail = item.prevTimed;
    item.timerList = undefined;
    item.prevTimed = undefined;
    item.nextTimed = undefined;
    if (!list.head) {
      clearTimeout(list.timer);
      list.timer = undefined;
      this.lists.delete(list.durationMs);
    }
  }

  private fire(list: TimerList): void {
    list.timer = undefined;
    const now = performance.now();
    let head = list.head;
    while (head && head.deadline <= now) {
      this.remove(head as T);
      this.expire(head as T);
      head = list.head;
    }
    // Node's timer clock is the event loop's, read once per turn, so the timer may fire a
    // little before the head's deadline by ours: wait out the rest.
    if (head && !list.timer)
      list.timer = setTimeout(list.onTimer, Math.max(1, Math.ceil(head.deadline - now)));
  }
}
