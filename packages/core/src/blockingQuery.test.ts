import { describe, expect, it } from 'vitest';
import { type BlockingAnswer, type BlockingQueryOptions, runBlockingQuery } from './blockingQuery';
import { ConsulUnavailableError, PermissionDeniedError } from './errors';

/**
 * The engine is driven here by a scripted `fetch`: each test lists the answers a server gives
 * and checks which index each request carried and what was passed on.
 */
function script(
  answers: (BlockingAnswer<string> | Error)[],
  extra: Partial<BlockingQueryOptions<string>> = {},
) {
  const sent: (bigint | undefined)[] = [];
  const delivered: [string, bigint][] = [];
  const errors: [string, number | undefined][] = [];
  const recovered: number[] = [];
  const controller = new AbortController();
  const run = runBlockingQuery<string>({
    signal: controller.signal,
    backoff: { baseMs: 1, maxMs: 4, slowMs: 7 },
    onRecover: () => recovered.push(1),
    ...extra,
    fetch: async (index) => {
      sent.push(index);
      const next = answers.shift();
      if (!next) {
        controller.abort();
        throw new Error('done');
      }
      if (next instanceof Error) throw next;
      return next;
    },
    onAnswer: (body, index) => delivered.push([body, index]),
    onError: (error, delay) => errors.push([error.code, delay]),
  });
  return { sent, delivered, errors, recovered, run };
}

describe('runBlockingQuery index rules', () => {
  it('sends no index first, then the last index seen', async () => {
    const s = script([
      { index: 5n, body: 'a' },
      { index: 7n, body: 'b' },
    ]);
    await s.run;
    expect(s.sent).toEqual([undefined, 5n, 7n]);
    expect(s.delivered).toEqual([
      ['a', 5n],
      ['b', 7n],
    ]);
  });

  it('treats an index of 0 as 1, so it never spins on a non-blocking request', async () => {
    const s = script([
      { index: 0n, body: 'a' },
      { index: 0n, body: 'a' },
    ]);
    await s.run;
    expect(s.sent).toEqual([undefined, 1n, 1n]);
    expect(s.delivered).toEqual([['a', 1n]]);
  });

  it('passes nothing on when the index did not move (a timeout)', async () => {
    const s = script([
      { index: 9n, body: 'a' },
      { index: 9n, body: 'a' },
    ]);
    await s.run;
    expect(s.delivered).toEqual([['a', 9n]]);
  });

  it('starts over without an index when the index goes backwards', async () => {
    const s = script([
      { index: 100n, body: 'a' },
      { index: 40n, body: 'restored' },
      { index: 40n, body: 'restored' },
    ]);
    await s.run;
    expect(s.sent).toEqual([undefined, 100n, undefined, 40n]);
    expect(s.delivered).toEqual([
      ['a', 100n],
      ['restored', 40n],
      ['restored', 40n],
    ]);
  });

  it('after an error asks again without an index, and backs off with growing, capped delays', async () => {
    const down = () => new ConsulUnavailableError('down');
    const s = script([
      { index: 3n, body: 'a' },
      down(),
      down(),
      down(),
      down(),
      { index: 3n, body: 'a' },
      down(),
    ]);
    await s.run;
    expect(s.sent).toEqual([
      undefined,
      3n,
      undefined,
      undefined,
      undefined,
      undefined,
      3n,
      undefined,
    ]);
    expect(s.errors.map(([code]) => code)).toEqual(Array(5).fill('CONSUL_UNAVAILABLE'));
    // full jitter: each delay lies in [0, min(max, base·2^attempt)]; attempt resets after success
    const ceilings = [1, 2, 4, 4, 1];
    for (const [i, [, delay]] of s.errors.entries())
      expect(delay).toBeLessThanOrEqual(ceilings[i]!);
  });

  it('retries a permission error slowly, not in a hot loop', async () => {
    const s = script([new PermissionDeniedError('403')]);
    await s.run;
    expect(s.errors).toEqual([['PERMISSION_DENIED', 7]]);
  });

  it('holds a key whose index moves on every answer to maxRequestsPerSecond, after a burst that goes at once', async () => {
    const starts: number[] = [];
    const controller = new AbortController();
    let n = 0;
    await runBlockingQuery<number>({
      signal: controller.signal,
      maxRequestsPerSecond: 200,
      burst: 5,
      fetch: async () => {
        starts.push(performance.now());
        if (++n === 25) controller.abort();
        return { index: BigInt(n), body: n };
      },
      onAnswer: () => {},
      onError: () => {},
    });
    expect(starts).toHaveLength(25);
    // 5 from the full bucket, then 20 at 200/s: at least ~100 ms, however fast the machine.
    expect(starts[24]! - starts[0]!).toBeGreaterThanOrEqual(95);
  });

  it('waits for the availability gate when Consul is unreachable, and backs off only when the query fails again after Consul answered', async () => {
    const gate: string[] = [];
    const down = () => new ConsulUnavailableError('down');
    const s = script([{ index: 3n, body: 'a' }, down(), down(), { index: 4n, body: 'b' }], {
      availability: { whenAvailable: async (error) => void gate.push(error.message) },
    });
    await s.run;
    expect(gate).toEqual(['down', 'down']);
    // No timer of its own while it waits for Consul: the gate decides.
    expect(s.errors).toEqual([
      ['CONSUL_UNAVAILABLE', undefined],
      ['CONSUL_UNAVAILABLE', undefined],
    ]);
    expect(s.recovered).toEqual([1]);
  });

  it('retries a permission error slowly even with an availability gate', async () => {
    const gate: string[] = [];
    const s = script([new PermissionDeniedError('403')], {
      availability: { whenAvailable: async (e) => void gate.push(e.message) },
    });
    await s.run;
    expect(gate).toEqual([]);
    expect(s.errors).toEqual([['PERMISSION_DENIED', 7]]);
  });
});
