/**
 * Paces one watch's requests. Up to `burst` requests go back to back after a quiet spell
 * (a deploy writing a few keys, a flag flipped and flipped back); a key whose index moves on
 * every answer drains the bucket and is then held to `ratePerSecond`. The bucket refills
 * continuously, so a watch that waits out a blocking query comes back with a full bucket.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.refilledAt = now();
  }

  /**
   * Takes one request's token and says how long to wait before sending it (0: at once).
   * The token is taken even when the caller must wait, so a caller that waits the time
   * given never exceeds the rate.
   */
  take(): number {
    const now = this.now();
    this.tokens = Math.min(
      this.burst,
      this.tokens + ((now - this.refilledAt) * this.ratePerSecond) / 1000,
    );
    this.refilledAt = now;
    this.tokens -= 1;
    // Rounded up: timers have whole-millisecond resolution and must not cut the wait short.
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.ratePerSecond);
  }
}
