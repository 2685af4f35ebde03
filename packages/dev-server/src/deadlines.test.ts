import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines, type Timed } from './deadlines';

interface Item extends Timed {
  name: string;
}

const item = (name: string): Item => ({
  name,
  deadline: 0,
  timerList: undefined,
  prevTimed: undefined,
  nextTimed: undefined,
});

const timers = () => vi.getTimerCount();

describe('Deadlines', () => {
  let expired: string[];
  let deadlines: Deadlines<Item>;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    expired = [];
    deadlines = new Deadlines<Item>((i) => expired.push(i.name));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires each item once its own duration has passed, in deadline order', () => {
    deadlines.add(item('a'), 100);
    vi.advanceTimersByTime(30);
    deadlines.add(item('b'), 100);
    deadlines.add(item('c'), 50);
    vi.advanceTimersByTime(69);
    expect(expired).toEqual(['c']);
    vi.advanceTimersByTime(2);
    expect(expired).toEqual(['c', 'a']);
    vi.advanceTimersByTime(27);
    expect(expired).toEqual(['c', 'a']);
    vi.advanceTimersByTime(3);
    expect(expired).toEqual(['c', 'a', 'b']);
  });

  it('never expires a removed item, wherever it sits in its list', () => {
    const [a, b, c] = [item('a'), item('b'), item('c')];
    for (const i of [a, b, c]) deadlines.add(i, 100);
    deadlines.remove(b);
    deadlines.remove(a);
    deadlines.remove(a);
    vi.advanceTimersByTime(200);
    expect(expired).toEqual(['c']);
  });

  it('keeps one timer per duration and none once its last item is gone', () => {
    const before = timers();
    const items = Array.from({ length: 1_000 }, (_, i) => item(`q${i}`));
    for (const [i, q] of items.entries()) deadlines.add(q, i % 2 === 0 ? 1_000 : 2_000);
    expect(timers() - before).toBe(2);
    for (const q of items) deadlines.remove(q);
    expect(timers()).toBe(before);
    expect(expired).toEqual([]);
  });

  it('lets an item added while others expire wait its own full duration', () => {
    deadlines = new Deadlines<Item>((i) => {
      expired.push(i.name);
      if (i.name === 'first') deadlines.add(item('again'), 100);
    });
    deadlines.add(item('first'), 100);
    vi.advanceTimersByTime(100);
    expect(expired).toEqual(['first']);
    vi.advanceTimersByTime(99);
    expect(expired).toEqual(['first']);
    vi.advanceTimersByTime(2);
    expect(expired).toEqual(['first', 'again']);
  });
});
