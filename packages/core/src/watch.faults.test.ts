import { startDevServer } from '@consul-watch/dev-server';
import { type FaultProxy, startFaultProxy, until } from '@consul-watch/dev-server/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { gate, record, uniquePrefix } from '../test/helpers';
import { createConsulWatch } from './consulWatch';
import { ConsulUnavailableError, HandlerError, PermissionDeniedError } from './errors';
import type { Logger } from './logger';

// These tests need dev-server controls (restore, restarts, a proxy in front), so they run
// against the embedded dev-server even when CONSUL_HTTP_ADDR is set.
const fast = { backoff: { baseMs: 5, maxMs: 20, slowMs: 20 } };
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

async function setup(options: { aclToken?: string; proxy?: boolean } = {}) {
  const dev = await startDevServer(options.aclToken ? { aclToken: options.aclToken } : {});
  cleanup.push(() => dev.close());
  let proxy: FaultProxy | undefined;
  if (options.proxy) {
    proxy = await startFaultProxy(dev.address);
    cleanup.push(() => proxy!.close());
  }
  const client = createConsulWatch({
    address: proxy?.address ?? dev.address,
    watch: fast,
    token: options.aclToken,
  });
  cleanup.push(() => client.close());
  return { dev, proxy, client };
}

describe('sharing', () => {
  it('a thousand subscribers of one prefix share one blocking query', async () => {
    const { proxy, client } = await setup({ proxy: true });
    const prefix = uniquePrefix('share');
    const received = new Set<number>();
    const watches = Array.from({ length: 1000 }, (_, i) =>
      client.watch({ type: 'keyprefix', prefix, initial: false }, () => {
        received.add(i);
      }),
    );
    expect(client.activeQueries).toBe(1);
    await Promise.all(watches.map((w) => w.ready(5_000)));
    await client.kv.put(`${prefix}k`, 'v');
    const all = gate();
    const check = setInterval(() => received.size === 1000 && all.open(), 5);
    await all.opened;
    clearInterval(check);
    // One initial read, one parked read woken by the write, one put, one new parked read.
    expect(proxy!.requests).toBeLessThanOrEqual(5);
    await Promise.all(watches.map((w) => w.stop()));
    expect(client.activeQueries).toBe(0);
  });
});

describe('stopWatches', () => {
  it('stops every watch and live config of the client and keeps the client working', async () => {
    const { dev, client } = await setup();
    const prefix = uniquePrefix('stopall');
    const delivered: string[] = [];
    const watches = [
      client.watch({ type: 'keyprefix', prefix, initial: false }, () => void delivered.push('a')),
      client.watch(
        { type: 'key', key: `${prefix}k`, initial: false },
        () => void delivered.push('b'),
      ),
    ];
    const config = client.liveConfig({ layers: [prefix] });
    await Promise.all([...watches.map((w) => w.ready(5_000)), config.ready(5_000)]);
    expect(client.activeQueries).toBe(2);
    await client.stopWatches();
    expect(client.activeQueries).toBe(0);
    // The server sees the aborted requests' sockets close a moment later.
    await until(
      () => dev.parkedQueries === 0,
      5_000,
      () => `${dev.parkedQueries} still parked`,
    );
    await client.kv.put(`${prefix}k`, 'after');
    expect(await client.kv.getString(`${prefix}k`)).toBe('after');
    expect(delivered).toEqual([]);
    expect(config.get('k')).toBeUndefined();
    // New watches work on the same client.
    const again = record(client.watch({ type: 'key', key: `${prefix}k` }));
    const first = await again.until((c) => c.initial);
    expect(first.entries.get(`${prefix}k`)?.value.toString()).toBe('after');
  });
});

describe('delivery', () => {
  it('reports a throwing or rejecting handler and goes on delivering', async () => {
    const { client } = await setup();
    const prefix = uniquePrefix('throw');
    let calls = 0;
    const watch = client.watch({ type: 'keyprefix', prefix, initial: false }, async () => {
      calls += 1;
      if (calls === 1) throw new Error('boom');
      if (calls === 2) await Promise.reject(new Error('async boom'));
    });
    const errors: Error[] = [];
    watch.on('error', (e) => errors.push(e));
    const r = record(watch);
    await watch.ready(5_000);
    for (const k of ['a', 'b', 'c']) {
      await client.kv.put(`${prefix}${k}`, k);
      await r.until((c) => c.entries.has(`${prefix}${k}`));
    }
    expect(calls).toBe(3);
    expect(errors.map((e) => [e.constructor, e.message.includes('boom')])).toEqual([
      [HandlerError, true],
      [HandlerError, true],
    ]);
  });

  it('iterates changes with for await, in order, and ends on break', async () => {
    const { client } = await setup();
    const prefix = uniquePrefix('iter');
    const watch = client.watch({ type: 'keyprefix', prefix });
    const seen: string[] = [];
    for await (const change of watch) {
      if (change.initial) {
        await client.kv.put(`${prefix}1`, 'one');
        continue;
      }
      seen.push(...change.changes.map((c) => c.key.slice(prefix.length)));
      if (seen.length === 1) await client.kv.put(`${prefix}2`, 'two');
      else break;
    }
    expect(seen).toEqual(['1', '2']);
    await watch.stop();
    expect(client.activeQueries).toBe(0);
  });

  it('stop() and close() called from inside a handler end the watch without waiting for themselves', async () => {
    const { client } = await setup();
    const prefix = uniquePrefix('selfstop');
    const stopped = gate();
    const watch = client.watch({ type: 'keyprefix', prefix }, async () => {
      await watch.stop();
      await client.close();
      stopped.open();
    });
    await stopped.opened;
    expect(client.activeQueries).toBe(0);
  });

  it('ready() settles when the watch stops before it was ready, leaving no timer', async () => {
    const client = createConsulWatch({ address: '127.0.0.1:1', watch: fast });
    cleanup.push(() => client.close());
    const watch = client.watch({ type: 'nodes' });
    watch.on('error', () => {});
    // The expectations are attached first: the waits reject while stop() is still releasing.
    const waiting = expect(watch.ready(60_000)).rejects.toThrow(
      /watch nodes: stopped before it was ready/,
    );
    await watch.stop();
    await waiting;
    const config = client.liveConfig({ layers: ['x/'] });
    config.on('error', () => {});
    const configWaiting = expect(config.ready(60_000)).rejects.toThrow(
      /config from x\/: stopped before it was ready/,
    );
    await config.close();
    await configWaiting;
  });

  it('stop() aborts the parked request at once', async () => {
    const { dev, client } = await setup();
    const watch = client.watch({
      type: 'keyprefix',
      prefix: uniquePrefix('stop'),
      waitMs: 300_000,
    });
    await watch.ready(5_000);
    const started = performance.now();
    await watch.stop();
    expect(performance.now() - started).toBeLessThan(500);
    expect(client.activeQueries).toBe(0);
    await client.close();
    // The server sees the connection go, so nothing stays parked on either side.
    await dev.close();
    expect(dev.parkedQueries).toBe(0);
  });
});

describe('faults', () => {
  it('after a restore to an older snapshot, delivered state equals the server state, with nothing twice', async () => {
    const { dev, client } = await setup();
    const prefix = uniquePrefix('restore');
    await client.kv.put(`${prefix}keep`, 'v1');
    const snapshot = dev.snapshot();
    const r = record(client.watch({ type: 'keyprefix', prefix }));
    await r.until((c) => c.initial);
    await client.kv.put(`${prefix}new`, 'x');
    await client.kv.put(`${prefix}keep`, 'v2');
    await r.until((c) => c.entries.get(`${prefix}keep`)?.value.toString() === 'v2');
    const before = r.changes.length;
    // Restore while the watch is parked: a request that reaches an agent after a restore
    // with the old, higher index blocks there until its wait runs out (Consul does the same).
    await dev.whenParked(1);
    dev.restore(snapshot);
    const after = await r.until((c) => !c.entries.has(`${prefix}new`), before);
    expect(after.changes.map((c) => [c.op, c.key.slice(prefix.length)])).toEqual([
      ['set', 'keep'],
      ['delete', 'new'],
    ]);
    expect(after.entries.get(`${prefix}keep`)?.value.toString()).toBe('v1');
    // The server state now, read directly, is what was delivered.
    const server = await client.kv.list(prefix);
    expect([...after.entries.keys()]).toEqual(server.map((e) => e.key));
    // A later write is delivered once, and the restore's changes are not delivered again.
    await client.kv.put(`${prefix}later`, 'l');
    await r.until((c) => c.entries.has(`${prefix}later`), before);
    const keyEvents = r.changes
      .slice(before)
      .flatMap((c) => c.changes.map((x) => `${x.op}:${x.key.slice(prefix.length)}`));
    expect(keyEvents).toEqual(['set:keep', 'delete:new', 'set:later']);
  });

  it('after a restore, a key rewritten at the ModifyIndex an older value had is still delivered', async () => {
    const { dev, proxy, client } = await setup({ proxy: true });
    const direct = createConsulWatch({ address: dev.address });
    cleanup.push(() => direct.close());
    const prefix = uniquePrefix('same-index');
    const r = record(client.watch({ type: 'keyprefix', prefix }));
    await r.until((c) => c.initial);
    const snapshot = dev.snapshot();
    await dev.whenParked(1);
    proxy!.stallNext(1); // the watch's next request, after it delivers a = 1
    await direct.kv.put(`${prefix}a`, '1');
    const first = await r.until((c) => c.entries.get(`${prefix}a`)?.value.toString() === '1');
    const firstIndex = first.entries.get(`${prefix}a`)!.modifyIndex;
    await proxy!.whenStalled(1);
    // While the watch's request is held: back to before a existed, then a = 2, which lands
    // on the same ModifyIndex a = 1 had, then one more write so the held request has news.
    dev.restore(snapshot);
    await direct.kv.put(`${prefix}a`, '2');
    expect((await direct.kv.getEntry(`${prefix}a`))!.modifyIndex).toBe(firstIndex);
    await direct.kv.put(`${prefix}b`, 'x');
    proxy!.release();
    const next = await r.until((c) => c.entries.has(`${prefix}b`));
    expect(next.entries.get(`${prefix}a`)?.value.toString()).toBe('2');
    expect(next.changes.map((c) => `${c.op}:${c.key.slice(prefix.length)}`)).toEqual([
      'set:a',
      'set:b',
    ]);
  });

  it('reports a spell of 500 and 429 answers once as ConsulUnavailableError, and its end once as recovered', async () => {
    const { proxy, client } = await setup({ proxy: true });
    const prefix = uniquePrefix('5xx');
    const watch = client.watch({ type: 'keyprefix', prefix });
    const r = record(watch);
    await r.until((c) => c.initial);
    const errors: Error[] = [];
    const recovered: number[] = [];
    watch.on('error', (e) => errors.push(e));
    watch.on('recovered', ({ downMs }) => recovered.push(downMs));
    for (const [round, status] of [
      [1, 500],
      [2, 429],
    ] as const) {
      // The parked request is reset; its retry and the client's first probes get the status.
      proxy!.failNext(3, status);
      proxy!.resetConnections();
      await until(
        () => recovered.length === round,
        10_000,
        () => `recovery ${round}`,
      );
      expect(watch.status.state).toBe('connected');
      await client.kv.put(`${prefix}k${round}`, String(round));
      await r.until((c) => c.entries.has(`${prefix}k${round}`));
    }
    expect(errors).toHaveLength(2);
    expect(errors.every((e) => e instanceof ConsulUnavailableError)).toBe(true);
    expect(watch.lastError).toBeUndefined();
    expect(watch.status.lastError).toBeInstanceOf(ConsulUnavailableError);
    expect(client.availability.outages).toBe(2);
    expect(client.availability.available).toBe(true);
  });

  it('resyncs after its connection is reset mid-wait and after a stalled answer', async () => {
    const { proxy, client } = await setup({ proxy: true });
    const prefix = uniquePrefix('reset');
    const r = record(client.watch({ type: 'keyprefix', prefix }));
    await r.until((c) => c.initial);
    proxy!.resetConnections();
    await client.kv.put(`${prefix}a`, '1');
    await r.until((c) => c.entries.has(`${prefix}a`));
    // Hold the watch's next request (it reconnects after a reset), write meanwhile, then let it through.
    proxy!.stallNext(1);
    proxy!.resetConnections();
    await proxy!.whenStalled(1);
    await client.kv.put(`${prefix}b`, '2');
    proxy!.release();
    await r.until((c) => c.entries.has(`${prefix}b`));
    const sets = r.changes.flatMap((c) => c.changes.map((x) => x.key));
    expect(sets).toEqual([`${prefix}a`, `${prefix}b`]);
  });

  it('keeps its last state while the agent is gone and catches up when it returns', async () => {
    const first = await startDevServer();
    const port = first.port;
    const client = createConsulWatch({ address: first.address, watch: fast });
    cleanup.push(() => client.close());
    const prefix = uniquePrefix('down');
    await client.kv.put(`${prefix}a`, '1');
    const watch = client.watch({ type: 'keyprefix', prefix });
    const r = record(watch);
    await r.until((c) => c.initial);
    const unavailable = new Promise<Error>((resolve) => watch.on('error', resolve));
    await first.close();
    expect(await unavailable).toBeInstanceOf(ConsulUnavailableError);
    expect((watch.state as Map<string, unknown>).has(`${prefix}a`)).toBe(true);
    const second = await startDevServer({ port });
    cleanup.push(() => second.close());
    await client.kv.put(`${prefix}b`, '2');
    const caught = await r.until((c) => c.entries.has(`${prefix}b`));
    // The new server never had key a: the watch says so, it does not keep a stale key.
    expect(caught.changes.map((c) => `${c.op}:${c.key.slice(prefix.length)}`)).toEqual([
      'delete:a',
      'set:b',
    ]);
  });

  it('uses a watch own token instead of the connection token', async () => {
    const secret = 'per-watch-token';
    const dev = await startDevServer({ aclToken: secret });
    cleanup.push(() => dev.close());
    const client = createConsulWatch({ address: dev.address, watch: fast }); // no token of its own
    cleanup.push(() => client.close());
    const denied = client.watch({ type: 'nodes' });
    const error = await new Promise<Error>((resolve) => denied.on('error', resolve));
    expect(error).toBeInstanceOf(PermissionDeniedError);
    const allowed = record(client.watch({ type: 'nodes', token: secret }));
    const first = await allowed.until((c) => c.initial);
    expect(first.current.length).toBeGreaterThan(0);
    expect(client.activeQueries).toBe(2); // a different token is a different watch
  });

  it('sends its waitMs as the blocking wait, and a timeout with nothing new delivers nothing', async () => {
    const { proxy, client } = await setup({ proxy: true });
    const prefix = uniquePrefix('wait');
    const r = record(client.watch({ type: 'keyprefix', prefix, waitMs: 50 }));
    await r.until((c) => c.initial);
    const before = proxy!.requests;
    // Several 50 ms waits run out with nothing new; then a write arrives and is delivered once.
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (proxy!.requests >= before + 3) {
          clearInterval(check);
          resolve();
        }
      }, 10);
    });
    expect(r.changes).toHaveLength(1);
    await client.kv.put(`${prefix}k`, 'v');
    await r.until((c) => c.entries.has(`${prefix}k`));
    expect(r.changes).toHaveLength(2);
  });

  it('reports a denied token as PermissionDeniedError without the token in any message or log line', async () => {
    const secret = 's3cr3t-token-value';
    const dev = await startDevServer({ aclToken: secret });
    cleanup.push(() => dev.close());
    const lines: string[] = [];
    const logger: Logger = {
      debug: (m, f) => lines.push(m + JSON.stringify(f ?? {})),
      info: (m, f) => lines.push(m + JSON.stringify(f ?? {})),
      warn: (m, f) => lines.push(m + JSON.stringify(f ?? {})),
      error: (m, f) => lines.push(m + JSON.stringify(f ?? {})),
    };
    const wrong = createConsulWatch({
      address: dev.address,
      token: 'wrong-token-value',
      logger,
      watch: fast,
    });
    cleanup.push(() => wrong.close());
    const watch = wrong.watch({ type: 'keyprefix', prefix: 'app/' });
    const error = await new Promise<Error>((resolve) => watch.on('error', resolve));
    expect(error).toBeInstanceOf(PermissionDeniedError);
    expect(error.message).toContain('ACL not found');
    const put = await wrong.kv.put('app/x', 'v').catch((e: Error) => e);
    expect(put).toBeInstanceOf(PermissionDeniedError);
    for (const text of [error.message, (put as Error).message, ...lines]) {
      expect(text).not.toContain('wrong-token-value');
      expect(text).not.toContain(secret);
    }
    const right = createConsulWatch({ address: dev.address, token: secret });
    cleanup.push(() => right.close());
    expect(await right.kv.put('app/x', 'v')).toBe(true);
  });
});
