import { mkdtemp, rm } from 'node:fs/promises';
import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevServer } from '@consul-watch/dev-server';
import { startFaultProxy } from '@consul-watch/dev-server/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { record, uniquePrefix } from '../test/helpers';
import { createConsulWatch } from './consulWatch';
import {
  ClientClosedError,
  ConsulRequestError,
  ConsulUnavailableError,
  InvalidInputError,
} from './errors';

// These need proxies between core and the agent, so they run on the embedded dev-server even
// when CONSUL_HTTP_ADDR is set.
const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

/** Listens on a free loopback port until the test ends (its connections closed then); its `host:port`. */
async function listenLocal(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * A proxy that forwards every request to `target` and keeps its URL and headers; `answer`, when
 * it returns true, has answered the request itself (something other than Consul in the path).
 */
async function sniffingProxy(
  target: string,
  answer?: (req: IncomingMessage, res: ServerResponse) => boolean,
) {
  const [host, port] = target.split(':');
  const seen: { url: string; headers: Record<string, string | string[] | undefined> }[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: { ...req.headers } });
    if (answer?.(req, res)) return;
    const out = request(
      { host, port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  });
  return { address: await listenLocal(server), seen };
}

describe('the transport', () => {
  it('sends the token in the X-Consul-Token header of every request and never in a URL', async () => {
    const token = 'tok-3f1a9c0e-sniffed';
    const dev = await startDevServer({ aclToken: token });
    cleanup.push(() => dev.close());
    const proxy = await sniffingProxy(dev.address);
    const client = createConsulWatch({ address: proxy.address, token });
    cleanup.push(() => client.close());
    const prefix = uniquePrefix('sniff');
    const r = record(client.watch({ type: 'keyprefix', prefix }));
    await r.until((c) => c.initial);
    await client.kv.put(`${prefix}a`, '1');
    await r.until((c) => c.entries.has(`${prefix}a`));
    expect(await client.kv.getString(`${prefix}a`)).toBe('1');
    await client.kv.txn([{ verb: 'get', key: `${prefix}a` }]);
    await client.kv.delete(`${prefix}a`);
    await client.ping();
    expect(proxy.seen.length).toBeGreaterThanOrEqual(6);
    for (const { url, headers } of proxy.seen) {
      expect(url).not.toContain(token);
      expect(url).not.toMatch(/[?&]token=/);
      expect(headers['x-consul-token']).toBe(token);
    }
  });

  it('sends an idempotent request again once when its reused keep-alive socket was closed, and a cas write never', async () => {
    const dev = await startDevServer();
    cleanup.push(() => dev.close());
    const proxy = await startFaultProxy(dev.address);
    cleanup.push(() => proxy.close());
    const client = createConsulWatch({ address: proxy.address });
    cleanup.push(() => client.close());
    const key = `${uniquePrefix('reset')}k`;
    await client.kv.put(key, 'v1');
    // The next request's connection is closed as soon as it arrives, with no answer.
    proxy.resetNext(1);
    const before = proxy.requests;
    expect(await client.kv.getString(key)).toBe('v1');
    expect(proxy.requests - before).toBe(2);
    // A check-and-set write may have been applied: it is not sent twice.
    const entry = await client.kv.getEntry(key);
    proxy.resetNext(1);
    const cas = await client.kv.put(key, 'v2', { cas: entry!.modifyIndex }).catch((e) => e);
    expect(cas).toBeInstanceOf(ConsulUnavailableError);
    expect(await client.kv.getString(key)).toBe('v1');
  });

  it('sends the retry after a reset inside what is left of the first attempt’s deadline', async () => {
    // The first ping is answered; the second is held for most of its deadline and its kept-alive
    // socket closed with no answer; the retry is never answered.
    const deadlineMs = 1_500;
    const arrivals: number[] = [];
    const server = createServer((req, res) => {
      arrivals.push(performance.now());
      if (arrivals.length === 1) res.end('"127.0.0.1:8300"');
      else if (arrivals.length === 2) setTimeout(() => req.socket.destroy(), deadlineMs - 400);
    });
    const client = createConsulWatch({ address: await listenLocal(server) });
    cleanup.push(() => client.close());
    await client.ping(deadlineMs);
    const started = performance.now();
    const error = await client.ping(deadlineMs).catch((e: unknown) => e);
    const tookMs = performance.now() - started;
    expect(arrivals).toHaveLength(3);
    expect(error).toBeInstanceOf(ConsulUnavailableError);
    expect((error as Error).message).toContain('ETIMEDOUT');
    // With a fresh deadline for the retry this takes deadlineMs - 400 + deadlineMs.
    expect(tookMs).toBeGreaterThanOrEqual(deadlineMs - 50);
    expect(tookMs).toBeLessThan(deadlineMs + 600);
  });
});

describe('addresses and client.api', () => {
  it('reads, writes and watches over a unix socket address', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cw-unix-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const dev = await startDevServer({ socketPath: join(dir, 'consul.sock') });
    cleanup.push(() => dev.close());
    expect(dev.address).toBe(`unix://${join(dir, 'consul.sock')}`);
    const client = createConsulWatch({ address: dev.address });
    cleanup.push(() => client.close());
    expect(client.address).toBe(dev.address);
    const prefix = uniquePrefix('unix');
    const r = record(client.watch({ type: 'keyprefix', prefix }));
    await r.until((c) => c.initial);
    await client.kv.put(`${prefix}a`, 'over the socket');
    await r.until((c) => c.entries.get(`${prefix}a`)?.value.toString() === 'over the socket');
    expect((await client.ping()).leader).not.toBe('');
    // client.api goes over the same socket.
    const listed = await client.api.kv.keys(prefix);
    expect(listed).toEqual([`${prefix}a`]);
  });

  it('refuses a unix address that does not give an absolute path', () => {
    expect(() => createConsulWatch({ address: 'unix://consul.sock' })).toThrow(InvalidInputError);
    expect(() => createConsulWatch({ address: 'unix://consul.sock' })).toThrow(
      "must name the socket by its absolute path, such as 'unix:///var/run/consul/http.sock'",
    );
  });

  it('client.api is the consul client on the same connection: its token in the header, closed with the client', async () => {
    const token = 'tok-api-7d2e';
    const dev = await startDevServer({ aclToken: token });
    cleanup.push(() => dev.close());
    const proxy = await sniffingProxy(dev.address);
    const client = createConsulWatch({ address: proxy.address, token });
    const key = `${uniquePrefix('api')}k`;
    await client.api.kv.set(key, 'from the consul client');
    expect(await client.kv.getString(key)).toBe('from the consul client');
    const self = (await client.api.agent.self()) as { Config: { Datacenter: string } };
    expect(self.Config.Datacenter).toBe('dc1');
    expect(client.api).toBe(client.api);
    const viaApi = proxy.seen.filter(
      (s) => s.url.includes('agent/self') || s.url.includes('kv/cw'),
    );
    expect(viaApi.length).toBeGreaterThanOrEqual(3);
    for (const { url, headers } of proxy.seen) {
      expect(url).not.toContain(token);
      expect(headers['x-consul-token']).toBe(token);
    }
    await client.close();
    expect(() => client.api).toThrow(ClientClosedError);
    // The file's handle check fails if the consul client's keep-alive sockets outlive close().
  });

  it('a client.api kept from before close() rejects with ClientClosedError and sends nothing', async () => {
    const dev = await startDevServer();
    cleanup.push(() => dev.close());
    const proxy = await sniffingProxy(dev.address);
    const client = createConsulWatch({ address: proxy.address });
    const key = `${uniquePrefix('api-closed')}k`;
    const api = client.api;
    const { kv } = client.api;
    await api.kv.set(key, 'before close');
    await client.close();
    const sent = proxy.seen.length;
    const error = await api.kv.get(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientClosedError);
    expect(error).toMatchObject({ code: 'CLIENT_CLOSED' });
    expect((error as Error).message).toContain(
      'client.api: this consul-watch client is closed; create a new one with createConsulWatch()',
    );
    await expect(kv.keys(key)).rejects.toBeInstanceOf(ClientClosedError);
    await expect(api.agent.self()).rejects.toBeInstanceOf(ClientClosedError);
    // Core's own calls give the same error.
    await expect(client.kv.get(key)).rejects.toBeInstanceOf(ClientClosedError);
    expect(() => client.watch({ type: 'key', key })).toThrow(ClientClosedError);
    expect(proxy.seen.length).toBe(sent);
    // The file's handle check fails if a socket was opened after close().
  });
});

describe('requests that never get a socket, and 404s that are not missing keys', () => {
  it('a deadline, stop() and close() act at once while a request still waits for its connection', async () => {
    // Accepts TCP and never speaks TLS: an https request waits in its handshake.
    const sockets = new Set<Socket>();
    const silent = createTcpServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          silent.close(() => resolve());
        }),
    );
    const { port } = silent.address() as AddressInfo;
    const client = createConsulWatch({ address: `https://127.0.0.1:${port}` });
    let started = performance.now();
    const error = await client.ping(200).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConsulUnavailableError);
    expect((error as Error).message).toMatch(/timed out \(200 ms\)|ETIMEDOUT/);
    expect(performance.now() - started).toBeLessThan(2_000);
    const watch = client.watch({ type: 'key', key: 'k' });
    watch.on('error', () => {});
    started = performance.now();
    await watch.stop();
    await client.close();
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('a lock or semaphore read answered by something other than Consul (an unknown endpoint, a KV 404 without its index) is an error, never a free key', async () => {
    const dev = await startDevServer();
    cleanup.push(() => dev.close());
    const prefix = uniquePrefix('not-consul');
    const proxy = await sniffingProxy(dev.address, (req, res) => {
      if (req.method !== 'GET' || !req.url?.startsWith(`/v1/kv/${encodeURIComponent(prefix)}`))
        return false;
      // The lock's key: a path the thing at the address does not serve, in Consul's words.
      if (req.url.includes('lock')) res.writeHead(404).end('Unknown endpoint');
      // The semaphore's prefix: an empty 404 with no X-Consul-Index, which Consul always sends.
      else res.writeHead(404).end();
      return true;
    });
    const client = createConsulWatch({ address: proxy.address });
    cleanup.push(() => client.close());
    const lock = client.lock(`${prefix}lock`);
    const lockError = await lock.acquire({ timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(lockError).toBeInstanceOf(ConsulRequestError);
    expect((lockError as Error).message).toContain(`has no endpoint /v1/kv/${prefix}lock`);
    const semaphore = client.semaphore(`${prefix}slots`, 2);
    const slotError = await semaphore.acquire({ timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(slotError).toBeInstanceOf(ConsulRequestError);
    expect((slotError as Error).message).toContain(`has no endpoint /v1/kv/${prefix}slots`);
    // Neither took the key through the agent behind it.
    const direct = createConsulWatch({ address: dev.address });
    cleanup.push(() => direct.close());
    expect(await direct.kv.list(prefix)).toEqual([]);
  });

  it('an empty 404 from an endpoint other than KV is an error, never an empty answer', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    const client = createConsulWatch({ address: await listenLocal(server) });
    cleanup.push(() => client.close());
    await expect(client.register({ name: 'web' })).rejects.toBeInstanceOf(ConsulRequestError);
    await expect(client.ping()).rejects.toBeInstanceOf(ConsulRequestError);
    const watch = client.watch({ type: 'services' });
    const first = await new Promise<unknown>((resolve) => watch.on('error', resolve));
    expect(first).toBeInstanceOf(ConsulRequestError);
    await watch.stop();
  });

  it('a socket closed by an agent that has answered before is an outage, with no TLS hint', async () => {
    let answers = 0;
    const server = createServer((req, res) => {
      if (answers++ === 0) {
        res.writeHead(200, { 'content-type': 'application/json', 'x-consul-index': '1' });
        res.end('"127.0.0.1:8300"');
      } else req.socket.destroy();
    });
    const client = createConsulWatch({ address: await listenLocal(server) });
    cleanup.push(() => client.close());
    await client.ping();
    const reset = await client.ping().catch((e: unknown) => e);
    expect(reset).toBeInstanceOf(ConsulUnavailableError);
    expect((reset as Error).message).toMatch(
      /cannot reach Consul at .*\((ECONNRESET|UND_ERR_SOCKET)\)/,
    );
    expect((reset as Error).message).not.toContain('https://');
  });
});
