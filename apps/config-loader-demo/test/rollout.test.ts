import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain JavaScript module without types
import { runRolloutDemo } from '../src/rollout.mjs';

describe('config-loader rollout demo', () => {
  it('rolls a burst of 5 edits through 3 copies: one restart each, never two at once', async () => {
    const lines: string[] = [];
    const seen = await runRolloutDemo({
      instances: 3,
      maxRestarting: 1,
      say: (line: string) => lines.push(line),
    });
    expect(seen.restarts, lines.join('\n')).toEqual([1, 1, 1]);
    expect(seen.mostAtOnce, lines.join('\n')).toBe(1);
    expect(lines.filter((l) => /waiting for a slot of demo\/fleet\/rollout/.test(l))).toHaveLength(
      3,
    );
  }, 120_000);
});
