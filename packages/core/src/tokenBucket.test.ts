import { describe, expect, it } from 'vitest';
import { TokenBucket } from './tokenBucket';

/** Driven by a hand-set clock, so the figures are exact. */
function bucket(rate: number, burst: number) {
  let now = 1_000;
  const b = new TokenBucket(rate, burst, () => now);
  return { take: () => b.take(), advance: (ms: number) => (now += ms) };
}

describe('TokenBucket', () => {
  it('lets a burst go at once after a quiet spell', () => {
    const b = bucket(100, 5);
    expect([b.take(), b.take(), b.take(), b.take(), b.take()]).toEqual([0, 0, 0, 0, 0]);
  });

  it('holds a request past the burst to the sustained rate', () => {
    const b = bucket(100, 5);
    for (let i = 0; i < 5; i++) b.take();
    expect(b.take()).toBe(10);
    b.advance(10);
    expect(b.take()).toBe(10);
  });

  it('never lets more than the rate through over a long run, counting the burst once', () => {
    const b = bucket(100, 5);
    let clock = 0;
    let sent = 0;
    while (clock < 5_000) {
      const wait = b.take();
      b.advance(wait);
      clock += wait;
      sent += 1;
    }
    // 5 s at 100/s plus the initial burst of 5.
    expect(sent).toBeLessThanOrEqual(506);
    expect(sent).toBeGreaterThanOrEqual(500);
  });

  it('refills to the burst and no further', () => {
    const b = bucket(100, 5);
    for (let i = 0; i < 5; i++) b.take();
    b.advance(60_000);
    for (let i = 0; i < 5; i++) expect(b.take()).toBe(0);
    expect(b.take()).toBeGreaterThan(0);
  });
});
