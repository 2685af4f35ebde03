import 'reflect-metadata';
import { type ConsulWatch, createConsulWatch, type WatchChange } from '@consul-watch/core';
import { startTestAgent, type TestAgent } from '@consul-watch/dev-server/testing';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConsulModule, ConsulService, ConsulValue, OnConsulChange } from '../src/index';

let agent: TestAgent;
let writer: ConsulWatch;
const apps: TestingModule[] = [];
beforeAll(async () => {
  agent = await startTestAgent();
  writer = createConsulWatch({ address: agent.address });
});
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});
afterAll(async () => {
  await writer.close();
  await agent.close();
});

const folder = () => `cw-nest/in-handler-${Math.random().toString(36).slice(2, 8)}/`;

/** What a handler was told, and what its @ConsulValue property showed at that moment. */
type Seen = { told: string | undefined; property: string };

function appFor(prefix: string) {
  const seen: Seen[] = [];
  const waiters = new Set<() => void>();
  @Injectable()
  class Greeter {
    @ConsulValue('greeting', 'none') readonly greeting!: string;

    @OnConsulChange({ key: `${prefix}greeting` })
    onKey(change: WatchChange<'key'>) {
      const set = change.changes.find((c) => c.op === 'set');
      seen.push({
        told: set?.op === 'set' ? set.entry.value.toString() : undefined,
        property: this.greeting,
      });
      for (const w of [...waiters]) w();
    }
  }
  const next = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (seen.length < count) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  return { Greeter, seen, next };
}

/** Boots an app on a fresh folder, writes `changes` values one by one, and gives what its handler saw. */
async function run(config: Record<string, unknown>, changes: number) {
  const prefix = folder();
  await writer.kv.put(`${prefix}greeting`, 'hi-0');
  const { Greeter, seen, next } = appFor(prefix);
  const app = await Test.createTestingModule({
    imports: [ConsulModule.forRoot({ address: agent.address, config: { prefix, ...config } })],
    providers: [Greeter],
  }).compile();
  app.useLogger(false);
  apps.push(app);
  await app.init();
  for (let i = 1; i <= changes; i++) {
    await writer.kv.put(`${prefix}greeting`, `hi-${i}`);
    await next(i);
  }
  return { app, seen };
}

describe('@ConsulValue inside an @OnConsulChange handler of the same key', () => {
  it('already shows the value the handler is told about, on every change', async () => {
    const { app, seen } = await run({}, 8);
    expect(seen.map((s) => s.property)).toEqual(seen.map((s) => s.told));
    expect(seen.at(-1)).toEqual({ told: 'hi-8', property: 'hi-8' });
    // Following the config's layer costs no request of its own: the config's and the handler's.
    expect(app.get(ConsulService).client.activeQueries).toBe(2);
  });

  it('does so with a schema too', async () => {
    const { seen } = await run({ schema: z.object({ greeting: z.string() }) }, 5);
    expect(seen.map((s) => s.property)).toEqual(seen.map((s) => s.told));
  });

  it('does so with a schema that validates asynchronously (30 ms a check)', async () => {
    const slow = z.object({ greeting: z.string() }).refine(async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      return true;
    });
    const { seen } = await run({ schema: slow }, 4);
    expect(seen.map((s) => s.property)).toEqual(seen.map((s) => s.told));
  });

  it('does so with settle: the handler waits for the config to settle', async () => {
    const started = performance.now();
    const { seen } = await run({ settle: { minMs: 150 } }, 3);
    expect(seen.map((s) => s.property)).toEqual(seen.map((s) => s.told));
    // Each change waited out the quiet time before its handler ran.
    expect(performance.now() - started).toBeGreaterThanOrEqual(3 * 150);
  });
});
