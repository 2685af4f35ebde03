import { createServer, type Server, type Socket } from 'node:net';
import { startDevServer } from '@consul-watch/dev-server';
import { startFaultProxy, until } from '@consul-watch/dev-server/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { proxiedClient, record, uniquePrefix } from '../test/helpers';
import { createConsulWatch } from './consulWatch';
import { ConsulUnavailableError } from './errors';

// These tests stop and restart the agent, so they run against the embedded dev-server even
// when CONSUL_HTTP_ADDR is set. Bounds are generous: the real figures are in bench/README.md.
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

/** Stands on a port in Consul's place: accepts every connection and drops it at once. */
async function dropper(
  port: number,
): Promise<{ accepted: () => number; close: () => Promise<void> }> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An agent and a client of it, both closed after the test; `restart` brings an empty agent back on the same port. */
async function agentAndClient() {
  const dev = await startDevServer();
  const port = dev.port;
  const client = createConsulWatch({ address: dev.address });
  cleanup.push(() => client.close());
  return {
    dev,
    client,
    port,
    async restart() {
      const again = await startDevServer({ port });
      cleanup.push(() => again.close());
      return again;
    },
  };
}

describe('availability', () => {
  it('while Consul is away, one client with many watches probes it once, not once per watch, and each watch reports the outage once', async () => {
    const { dev, client, port, restart } = await agentAndClient();
    const prefix = uniquePrefix('knock');
    const watches = Array.from({ length: 20 }, (_, i) =>
      client.watch({ type: 'key', key: `${prefix}k${i}` }),
    );
    await Promise.all(watches.map((w) => w.ready(5_000)));
    const errors = watches.map(() => 0);
    const recovered = watches.map(() => 0);
    watches.forEach((w, i) => {
      w.on('error', () => (errors[i]! += 1));
      w.on('recovered', () => (recovered[i]! += 1));
    });
    await dev.close();
    const away = await dropper(port);
    await until(
      () => watches.every((w) => w.status.state === 'unavailable'),
      5_000,
      () => 'every watch unavailable',
    );
    expect(client.availability.available).toBe(false);
    // 2 s away: probes go at once, then at doubling gaps (50 ms … 1 s), whatever the
    // number of watches; 20 watches backing off on their own would knock dozens of times.
    const before = away.accepted();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const knocks = away.accepted() - before;
    expect(knocks).toBeGreaterThan(0);
    expect(knocks).toBeLessThanOrEqual(10);
    await away.close();
    await restart();
    await until(
      () => recovered.every((n) => n === 1),
      10_000,
      () => 'every watch recovered',
    );
    expect(errors).toEqual(watches.map(() => 1));
    expect(watches.every((w) => w.status.state === 'connected')).toBe(true);
    expect(watches[0]!.status.lastError).toBeInstanceOf(ConsulUnavailableError);
    expect(client.availability).toMatchObject({ available: true, outages: 1 });
  });

  it('a change written after the agent restarts on the same port reaches the handler, from a query sent without the old index', async () => {
    const { dev, client, restart } = await agentAndClient();
    const prefix = uniquePrefix('restart');
    // Push the old agent's index well past where the new one starts.
    for (let i = 0; i < 20; i++) await client.kv.put(`${prefix}filler${i}`, 'x');
    const watch = client.watch({ type: 'keyprefix', prefix: `${prefix}app/` });
    const r = record(watch);
    await client.kv.put(`${prefix}app/flag`, 'old');
    await r.until((c) => c.entries.get(`${prefix}app/flag`)?.value.toString() === 'old');
    await dev.close();
    await until(
      () => watch.status.state === 'unavailable',
      5_000,
      () => 'watch unavailable',
    );
    await restart();
    const back = performance.now();
    await client.kv.put(`${prefix}app/flag`, 'new');
    await r.until((c) => c.entries.get(`${prefix}app/flag`)?.value.toString() === 'new');
    // Generous: on an idle machine this is a few hundred ms (bench/README.md).
    expect(performance.now() - back).toBeLessThan(5_000);
  });

  it('a live config of several layers reports an outage once, keeps its snapshot, and says when it is back', async () => {
    const { dev, client, restart } = await agentAndClient();
    const prefix = uniquePrefix('live');
    await client.kv.put(`${prefix}shared/level`, 'info');
    await client.kv.put(`${prefix}app/level`, 'debug');
    const config = client.liveConfig({ layers: [`${prefix}shared/`, `${prefix}app/`] });
    await config.ready(5_000);
    const errors: Error[] = [];
    const recovered: number[] = [];
    config.on('error', (e) => errors.push(e));
    config.on('recovered', ({ downMs }) => recovered.push(downMs));
    await dev.close();
    await until(
      () => config.status.state === 'unavailable',
      5_000,
      () => 'config unavailable',
    );
    expect(config.get('level')).toBe('debug');
    await restart();
    await until(
      () => recovered.length === 1,
      10_000,
      () => 'config recovered',
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ConsulUnavailableError);
    expect(config.status.state).toBe('connected');
    // The restarted agent is empty: the config follows what Consul holds now.
    await client.kv.put(`${prefix}app/level`, 'warn');
    await until(
      () => config.get('level') === 'warn',
      5_000,
      () => 'config updated',
    );
  });

  it('stop() and close() during an outage return at once and leave nothing open', async () => {
    const dev = await startDevServer();
    const client = createConsulWatch({ address: dev.address });
    const prefix = uniquePrefix('stop');
    const watches = Array.from({ length: 5 }, (_, i) =>
      client.watch({ type: 'key', key: `${prefix}k${i}` }),
    );
    await Promise.all(watches.map((w) => w.ready(5_000)));
    await dev.close();
    await until(
      () => !client.availability.available,
      5_000,
      () => 'outage noticed',
    );
    const started = performance.now();
    await watches[0]!.stop();
    await client.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    // The handle check of vitest.handles.ts fails the file if a socket or timer is left.
  });

  it('keeps a permission error on its slow retry instead of the availability probe', async () => {
    const dev = await startDevServer({ aclToken: 'right-token' });
    cleanup.push(() => dev.close());
    const proxy = await startFaultProxy(dev.address);
    cleanup.push(() => proxy.close());
    const client = createConsulWatch({
      address: proxy.address,
      token: 'wrong-token',
      watch: { backoff: { slowMs: 60_000 } },
    });
    cleanup.push(() => client.close());
    const watch = client.watch({ type: 'key', key: 'denied' });
    await until(
      () => watch.status.state === 'failing',
      5_000,
      () => 'watch failing',
    );
    const requests = proxy.requests;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(proxy.requests).toBe(requests);
    expect(client.availability.available).toBe(true);
  });
});

describe('availability options', () => {
  it('probes no faster than probeMinMs and probeMaxMs allow', async () => {
    const dev = await startDevServer();
    const client = createConsulWatch({
      address: dev.address,
      availability: { probeMinMs: 1_000, probeMaxMs: 1_000 },
    });
    cleanup.push(() => client.close());
    const watch = client.watch({ type: 'key', key: uniquePrefix('slow-probe') });
    await watch.ready(5_000);
    const port = dev.port;
    await dev.close();
    const away = await dropper(port);
    cleanup.push(() => away.close());
    await until(
      () => watch.status.state === 'unavailable',
      5_000,
      () => 'unavailable',
    );
    const before = away.accepted();
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    // Gaps of 500–1,000 ms: at most two probes in 1.2 s (the defaults would make five or more).
    expect(away.accepted() - before).toBeLessThanOrEqual(2);
  });

  it('gives up on a probe that gets no answer after probeTimeoutMs and sends the next', async () => {
    const { proxy, client } = await proxiedClient(cleanup, {
      availability: { probeTimeoutMs: 100, probeMinMs: 10, probeMaxMs: 50 },
    });
    const watch = client.watch({ type: 'key', key: uniquePrefix('stalled-probe') });
    await watch.ready(5_000);
    // The reset must find the blocking query parked (the first answer, then the parked query):
    // a request not yet written when its idle socket is reset simply goes on a new one.
    await until(
      () => proxy.requests >= 2,
      5_000,
      () => 'the blocking query parked',
    );
    // Every request from now on is held unanswered: the watch's retry and the probes alike.
    proxy.stallNext(1_000);
    proxy.resetConnections();
    await until(
      () => watch.status.state === 'unavailable',
      5_000,
      () => 'unavailable',
    );
    const before = proxy.requests;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // With the default 2 s timeout the first probe would still be waiting.
    expect(proxy.requests - before).toBeGreaterThanOrEqual(3);
    proxy.release();
  });
});

describe('an outage nobody listens to', () => {
  /** A port where nothing listens (taken, then given back). */
  async function freePort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  async function outage(options: { logger?: boolean; listener?: boolean; config?: boolean }) {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      if (String(chunk).startsWith('consul-watch:')) lines.push(String(chunk));
      return true;
    });
    cleanup.push(async () => spy.mockRestore());
    const port = await freePort();
    const nothing = () => {};
    const client = createConsulWatch({
      address: `127.0.0.1:${port}`,
      token: 'secret-token-value',
      ...(options.logger
        ? { logger: { debug: nothing, info: nothing, warn: nothing, error: nothing } }
        : {}),
    });
    cleanup.push(() => client.close());
    const watches = options.config
      ? [client.liveConfig({ layers: ['app/', 'shared/'] })]
      : [client.watch({ type: 'key', key: 'a' }), client.watch({ type: 'key', key: 'b' })];
    if (options.listener) for (const w of watches) w.on('error', nothing);
    await until(
      () => watches.every((w) => w.status.state === 'unavailable'),
      5_000,
      () => 'unavailable',
    );
    // Long enough for several probes: none of them may add a line.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const duringOutage = [...lines];
    const dev = await startDevServer({ port });
    cleanup.push(() => dev.close());
    await until(
      () => watches.every((w) => w.status.state === 'connected'),
      10_000,
      () => 'connected',
    );
    return { duringOutage, lines, port };
  }

  it('says so on stderr once when it starts and once when Consul answers again, naming the address and never the token', async () => {
    const { duringOutage, lines, port } = await outage({});
    expect(duringOutage).toHaveLength(1);
    expect(duringOutage[0]).toContain(`cannot reach Consul at http://127.0.0.1:${port}`);
    expect(duringOutage[0]).toContain('address option');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/Consul answers again after \d+\.\d s/);
    expect(lines.join('')).not.toContain('secret-token-value');
  });

  it('says it once for a live config of several layers too', async () => {
    const { lines } = await outage({ config: true });
    // Once Consul answers, its two empty layers are said too, once each.
    const absent = lines.filter((l) => l.includes('is absent'));
    expect(absent).toHaveLength(2);
    const outageLines = lines.filter((l) => !absent.includes(l));
    expect(outageLines).toHaveLength(2);
    expect(outageLines[1]).toContain('config from app/, shared/');
  });

  it('stays silent when a logger (even a silent one) or an error listener is there to hear it', async () => {
    expect((await outage({ logger: true })).lines).toEqual([]);
    expect((await outage({ listener: true })).lines).toEqual([]);
  });
});

describe('pacing', () => {
  it('holds a key written every millisecond to the request bound, and delivers its last value', async () => {
    const dev = await startDevServer();
    cleanup.push(() => dev.close());
    const proxy = await startFaultProxy(dev.address);
    cleanup.push(() => proxy.close());
    const client = createConsulWatch({
      address: proxy.address,
      watch: { maxRequestsPerSecond: 50, burst: 5 },
    });
    cleanup.push(() => client.close());
    // The writer goes straight to the agent, so the proxy counts the watch's requests only.
    const writer = createConsulWatch({ address: dev.address });
    cleanup.push(() => writer.close());
    const key = `${uniquePrefix('hot')}k`;
    const watch = client.watch({ type: 'key', key });
    const r = record(watch);
    await watch.ready(5_000);
    const start = proxy.requests;
    const started = performance.now();
    let n = 0;
    while (performance.now() - started < 1_000) {
      await writer.kv.put(key, String(++n));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await r.until((c) => c.entries.get(key)?.value.toString() === String(n));
    const seconds = (performance.now() - started) / 1000;
    const sent = proxy.requests - start;
    // At most 50/s plus the burst of 5 (and one request in flight at each end).
    expect(sent).toBeLessThanOrEqual(Math.ceil(50 * seconds) + 5 + 2);
    expect(sent).toBeGreaterThan(5);
  });

  it('lets a burst of changes through without holding any of them back', async () => {
    const dev = await startDevServer();
    cleanup.push(() => dev.close());
    const client = createConsulWatch({
      address: dev.address,
      watch: { maxRequestsPerSecond: 0.5, burst: 10 },
    });
    cleanup.push(() => client.close());
    const key = `${uniquePrefix('burst')}k`;
    const watch = client.watch({ type: 'key', key });
    const r = record(watch);
    await watch.ready(5_000);
    // At 0.5 requests/s, any request held by the limiter would wait 2 s: five changes each
    // seen before the next is written must all get through within the burst.
    const started = performance.now();
    for (let i = 1; i <= 5; i++) {
      await client.kv.put(key, String(i));
      await r.until((c) => c.entries.get(key)?.value.toString() === String(i));
    }
    expect(performance.now() - started).toBeLessThan(1_500);
  });
});
