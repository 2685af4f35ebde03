import { createConsulWatch } from '@consul-watch/core';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain JavaScript module without types
import { PREFIX, startConfigLoaderDemo } from '../src/demo.mjs';

describe('config-loader demo', () => {
  it('runs the plain app with its environment from Consul and restarts it when a key changes', async () => {
    const lines: string[] = [];
    const waiters = new Set<() => void>();
    const until = (pattern: RegExp) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no line like ${pattern} in:\n${lines.join('\n')}`)),
          10_000,
        );
        const check = () => {
          const found = lines.find((l) => pattern.test(l));
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        waiters.add(check);
        check();
      });
    const demo = await startConfigLoaderDemo({
      onLine: (line: string) => {
        lines.push(line);
        for (const w of [...waiters]) w();
      },
    });
    try {
      const first = await until(/started with/);
      expect(first).toContain('"greeting":"hello from Consul"');
      expect(first).toContain('"database":"postgres://db.internal:5432/app"');
      const client = createConsulWatch({ address: demo.consulAddress });
      await client.kv.put(`${PREFIX}greeting`, 'hi again');
      await client.close();
      expect(await until(/started with .*hi again/)).toContain('"accentColor":"teal"');
      expect(lines.some((l) => l.includes('SIGTERM, closing'))).toBe(true);
    } finally {
      await demo.close();
    }
  });
});
