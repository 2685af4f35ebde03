import { setTimeout as sleep } from 'node:timers/promises';
import { type ConsulWatch, createConsulWatch, LockLostError } from '@consul-watch/core';
import { startDevServer } from '@consul-watch/dev-server';
import { startTestAgent, type TestAgent } from '@consul-watch/dev-server/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsulEnvWatch,
  type EnvChange,
  type RolloutStep,
  type WatchConsulEnvOptions,
  watchConsulEnv,
} from '../src/watchConsulEnv';

let agent: TestAgent;
let client: ConsulWatch;
const open = new Set<ConsulEnvWatch>();
beforeAll(async () => {
  agent = await startTestAgent();
  client = createConsulWatch({ address: agent.address });
});
afterEach(async () => {
  await Promise.all([...open].map((w) => w.stop()));
  open.clear();
});
afterAll(async () => {
  await client.close();
  await agent.close();
});

const unique = (label: string) => `cw-roll/${label}-${Math.random().toString(36).slice(2, 8)}/`;

/** A watch on its own environment, recording its changes and steps with their time. */
async function watching(options: Omit<WatchConsulEnvOptions, 'client'>, on: ConsulWatch = client) {
  const changes: { at: number; change: EnvChange }[] = [];
  const steps: { at: number; step: RolloutStep }[] = [];
  const waiters = new Set<() => void>();
  const env: Record<string, string | undefined> = {};
  const watch = watchConsulEnv({ client: on, env, ...options });
  open.add(watch);
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  watch.on('change', (change) => {
    changes.push({ at: performance.now(), change });
    notify();
  });
  watch.on('rollout', (step) => {
    steps.push({ at: performance.now(), step });
    notify();
  });
  await watch.ready(5_000);
  return {
    watch,
    env,
    changes,
    steps,
    /** Resolves once `test` holds, checked on each change or step. */
    until(test: () => boolean, what: string): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}`));
        }, 10_000);
        const check = () => {
          if (!test()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

describe('watchConsulEnv settle and splay', () => {
  it('applies a burst of writes as one change once the writes stop', async () => {
    const prefix = unique('burst');
    await client.kv.put(`${prefix}n`, '0');
    const w = await watching({ prefix, settle: { minMs: 150 } });
    for (let i = 1; i <= 8; i++) {
      await client.kv.put(`${prefix}n`, String(i));
      await sleep(20);
    }
    await w.until(() => w.changes.length === 1, 'the burst applied');
    expect(w.env.N).toBe('8');
    // A later write is a burst of its own: the first burst left nothing behind to apply.
    await client.kv.put(`${prefix}after`, 'x');
    await w.until(() => w.changes.length === 2, 'the next change');
    expect(w.changes[1]!.change.changed).toEqual(['AFTER']);
  });

  it('applies a burst that never ends maxMs after its first change', async () => {
    const prefix = unique('endless');
    await client.kv.put(`${prefix}n`, '0');
    const w = await watching({ prefix, settle: { minMs: 150, maxMs: 400 } });
    const first = performance.now();
    let i = 0;
    // Writes every 30 ms, never quiet for minMs, until the change comes.
    while (w.changes.length === 0 && performance.now() - first < 5_000) {
      await client.kv.put(`${prefix}n`, String(++i));
      await sleep(30);
    }
    expect(w.changes).toHaveLength(1);
    const after = w.changes[0]!.at - first;
    expect(after).toBeGreaterThanOrEqual(380);
    expect(after).toBeLessThan(1_000);
  });

  it('spreads restarts over 0..splayMs', async () => {
    const prefix = unique('splay');
    await client.kv.put(`${prefix}n`, '0');
    const fleet = await Promise.all(
      Array.from({ length: 8 }, () => watching({ prefix, splayMs: 400 })),
    );
    const written = performance.now();
    await client.kv.put(`${prefix}n`, '1');
    await Promise.all(fleet.map((w) => w.until(() => w.changes.length === 1, 'the change')));
    const delays = fleet.map((w) => w.changes[0]!.at - written);
    // Each within the range (plus the watch's own delivery), and not all at once.
    for (const d of delays) expect(d).toBeLessThan(400 + 250);
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(50);
  });

  it('takes several prefixes, a later one winning per variable', async () => {
    const shared = unique('shared');
    const app = unique('app');
    await client.kv.put(`${shared}db/host`, 'shared-db');
    await client.kv.put(`${shared}region`, 'eu');
    await client.kv.put(`${app}db/host`, 'app-db');
    const w = await watching({ prefix: [shared, app] });
    expect(w.env).toMatchObject({ DB_HOST: 'app-db', REGION: 'eu' });
    await client.kv.delete(`${app}db/host`);
    await w.until(() => w.env.DB_HOST === 'shared-db', 'the shared value back');
    await client.kv.put(`${shared}region`, 'us');
    await w.until(() => w.env.REGION === 'us', 'the shared change');
  });
});

describe('watchConsulEnv rolling', () => {
  /** A listener standing for a restart that ends when the test says so. */
  const gated = () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    return { gate, open };
  };

  it('lets no more than maxRestarting restart at once, each keeping its slot until ready', async () => {
    const prefix = unique('bound');
    const key = unique('sem').slice(0, -1);
    await client.kv.put(`${prefix}n`, '0');
    let restarting = 0;
    let most = 0;
    const fleet = await Promise.all(
      Array.from({ length: 6 }, () =>
        watching({ prefix, rolling: { key, maxRestarting: 2 }, readyAfterMs: 80 }),
      ),
    );
    for (const w of fleet)
      w.watch.on('rollout', (s) => {
        if (s.step === 'restarting') most = Math.max(most, ++restarting);
        if (s.step === 'ready') restarting--;
      });
    await client.kv.put(`${prefix}n`, '1');
    await Promise.all(fleet.map((w) => w.until(() => w.env.N === '1', 'the new value')));
    await Promise.all(
      fleet.map((w) => w.until(() => w.steps.some((s) => s.step.step === 'ready'), 'ready')),
    );
    expect(most).toBe(2);
    for (const w of fleet) expect(w.changes).toHaveLength(1);
  });

  it('with a percentage, lets that share of the contenders restart at once', async () => {
    const prefix = unique('share');
    const key = unique('sem').slice(0, -1);
    await client.kv.put(`${prefix}n`, '0');
    const fleet = await Promise.all(
      Array.from({ length: 8 }, () =>
        watching({ prefix, rolling: { key, maxRestarting: '25%' }, readyAfterMs: 80 }),
      ),
    );
    // Every instance is seated before the change, so the share is of all eight.
    await (async () => {
      for (;;) {
        const seated = (await client.kv.list(`${key}/`)).filter((e) => e.session).length;
        if (seated === 8) return;
        await sleep(20);
      }
    })();
    let restarting = 0;
    let most = 0;
    for (const w of fleet)
      w.watch.on('rollout', (s) => {
        if (s.step === 'restarting') most = Math.max(most, ++restarting);
        if (s.step === 'ready') restarting--;
      });
    await client.kv.put(`${prefix}n`, '1');
    await Promise.all(
      fleet.map((w) => w.until(() => w.steps.some((s) => s.step.step === 'ready'), 'ready')),
    );
    expect(most).toBe(2);
    const lock = await client.kv.getJson<{ Limit: number }>(`${key}/.lock`);
    expect(lock?.Limit).toBe(2);
  });

  it('applies no change before it holds a slot, and keeps the slot while the listener restarts', async () => {
    const prefix = unique('hold');
    const key = unique('sem').slice(0, -1);
    await client.kv.put(`${prefix}n`, '0');
    const a = await watching({ prefix, rolling: { key, maxRestarting: 1 }, readyAfterMs: 0 });
    const b = await watching({ prefix, rolling: { key, maxRestarting: 1 }, readyAfterMs: 0 });
    const gates = [gated(), gated()];
    a.watch.on('change', () => gates[0]!.gate);
    b.watch.on('change', () => gates[1]!.gate);
    await client.kv.put(`${prefix}n`, '1');
    const first = await Promise.race([
      a.until(() => a.changes.length === 1, 'a').then(() => a),
      b.until(() => b.changes.length === 1, 'b').then(() => b),
    ]);
    const second = first === a ? b : a;
    await second.until(() => second.steps.some((s) => s.step.step === 'waiting'), 'waiting');
    // The other one waits, its environment as it was.
    expect(second.env.N).toBe('0');
    gates[first === a ? 0 : 1]!.open();
    await second.until(() => second.changes.length === 1, 'the second restart');
    expect(second.env.N).toBe('1');
    gates[first === a ? 1 : 0]!.open();
    await second.until(() => second.steps.some((s) => s.step.step === 'ready'), 'ready');
  });

  it('reports a rollout listener that throws, and the restart goes on', async () => {
    const prefix = unique('throws');
    const key = unique('sem').slice(0, -1);
    await client.kv.put(`${prefix}n`, '0');
    const w = await watching({ prefix, rolling: { key, maxRestarting: 1 }, readyAfterMs: 0 });
    const errors: Error[] = [];
    w.watch.on('error', (e) => errors.push(e));
    w.watch.on('rollout', () => {
      throw new Error('listener bug');
    });
    await client.kv.put(`${prefix}n`, '1');
    await w.until(() => w.steps.some((s) => s.step.step === 'ready'), 'ready');
    expect(w.env.N).toBe('1');
    expect(errors[0]?.message).toBe('rollout listener failed: listener bug');
  });

  it('fails loudly and gives the slot back when the program never answers its ready URL', async () => {
    const prefix = unique('never');
    const key = unique('sem').slice(0, -1);
    await client.kv.put(`${prefix}n`, '0');
    const errors: Error[] = [];
    const broken = await watching({
      prefix,
      rolling: { key, maxRestarting: 1 },
      readyUrl: 'http://127.0.0.1:1/health',
      readyTimeoutMs: 300,
    });
    broken.watch.on('error', (e) => errors.push(e));
    await client.kv.put(`${prefix}n`, '1');
    await broken.until(() => broken.steps.some((s) => s.step.step === 'failed'), 'failed');
    const failed = broken.steps.find((s) => s.step.step === 'failed')!.step as {
      error: Error;
    };
    expect(failed.error.message).toMatch(
      /did not answer 2xx at readyUrl http:\/\/127\.0\.0\.1:1\/health within 300 ms .*released.*readyTimeoutMs/,
    );
    expect(errors.map((e) => e.message)).toContain(failed.error.message);
    // The slot is back: another instance takes it at once.
    const next = await watching({ prefix, rolling: { key, maxRestarting: 1 }, readyAfterMs: 0 });
    await client.kv.put(`${prefix}n`, '2');
    await next.until(() => next.steps.some((s) => s.step.step === 'ready'), 'the next restart');
  });

  it('frees a slot that a snapshot restore lists for a holder gone since, once its session lapses', async () => {
    // Short session TTLs, on a dev-server of its own.
    const dev = await startDevServer({ sessionTtlMinMs: 50 });
    const c = createConsulWatch({ address: dev.address });
    try {
      const prefix = unique('restore');
      const key = unique('sem').slice(0, -1);
      await c.kv.put(`${prefix}n`, '0');
      const rolling = { key, maxRestarting: 1, sessionTtlMs: 100 };
      const a = await watching({ prefix, rolling, readyAfterMs: 0 }, c);
      const gate = gated();
      a.watch.on('change', () => gate.gate);
      await c.kv.put(`${prefix}n`, '1');
      await a.until(() => a.changes.length === 1, 'a restarting');
      const held = dev.snapshot(); // a holds the slot here
      gate.open();
      await a.until(() => a.steps.some((s) => s.step.step === 'ready'), 'a ready');
      // Back to when a held the slot: the holder list names a session a gave up since.
      dev.restore(held);
      const b = await watching({ prefix, rolling, readyAfterMs: 0 }, c);
      await c.kv.put(`${prefix}n`, '2');
      // Nobody renews that session: it lapses and both restart in turn.
      await b.until(() => b.env.N === '2' && b.steps.some((s) => s.step.step === 'ready'), 'b');
      await a.until(() => a.env.N === '2', 'a on the new value');
      await a.watch.stop();
      await b.watch.stop();
    } finally {
      await c.close();
      await dev.close();
    }
  });

  it('when the session is lost mid-restart, says so, finishes the restart, and the slot is free for another', async () => {
    const prefix = unique('lost');
    const key = unique('sem').slice(0, -1);
    await client.kv.put(`${prefix}n`, '0');
    const a = await watching({ prefix, rolling: { key, maxRestarting: 1 }, readyAfterMs: 0 });
    const gate = gated();
    a.watch.on('change', () => gate.gate);
    await client.kv.put(`${prefix}n`, '1');
    await a.until(() => a.changes.length === 1, 'a restarting');
    const holder = (await client.kv.list(`${key}/`)).find((e) => e.session)!.session!;
    const res = await fetch(`${agent.url}/v1/session/destroy/${holder}`, { method: 'PUT' });
    expect(res.status).toBe(200);
    await a.until(() => a.steps.some((s) => s.step.step === 'slot-lost'), 'slot-lost');
    const lost = a.steps.find((s) => s.step.step === 'slot-lost')!.step as { error: Error };
    expect(lost.error).toBeInstanceOf(LockLostError);
    // Freed by Consul: another instance restarts while a is still finishing its own.
    const b = await watching({ prefix, rolling: { key, maxRestarting: 1 }, readyAfterMs: 0 });
    await client.kv.put(`${prefix}n`, '2');
    await b.until(() => b.steps.some((s) => s.step.step === 'ready'), 'b restarted');
    gate.open();
    await a.until(() => a.steps.some((s) => s.step.step === 'ready'), 'a ready');
    // a runs on: its next restart takes a slot with a new session.
    await a.until(() => a.changes.length === 2, 'a restarts for the next change');
    expect(a.env.N).toBe('2');
  });
});
