import { describe, expect, it } from 'vitest';
import { formatGoDuration, parseGoDuration } from './goDuration';

describe('parseGoDuration', () => {
  it.each([
    ['10s', 10_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['2h45m', 9_900_000],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['100ns', 0.0001],
    ['0', 0],
    ['-2s', -2000],
    ['+3m', 180_000],
    ['.5s', 500],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each(['', '10', 's', '1x', '1s2', '--1s', '1.s.', ' 1s', 'abc', '1e3s'])(
    'rejects %j as Go does',
    (text) => {
      expect(parseGoDuration(text)).toBeUndefined();
    },
  );
});

describe('formatGoDuration', () => {
  it.each([
    [15_000, '15s'],
    [90_000, '1m30s'],
    [60_000, '1m0s'],
    [3_600_000, '1h0m0s'],
    [250, '250ms'],
    [0, '0s'],
  ])('writes %d ms as %s', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });
});
