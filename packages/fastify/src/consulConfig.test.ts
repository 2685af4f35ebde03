import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConsulWatch, InvalidInputError } from '@consul-watch/core';
import { startDevServer } from '@consul-watch/dev-server';
import { startTestAgent, type TestAgent } from '@consul-watch/dev-server/testing';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { consulConfig } from './consulConfig';

let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent();
});
afterAll(() => agent.close());
const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

const unique = (label: string) => `cw-fastify/${label}-${Math.random().toString(36).slice(2, 8)}/`;

/** A Fastify app, closed after the test (which closes what the plugin started). */
function newApp(): FastifyInstance {
  const app = Fastify();
  cleanup.push(() => app.close());
  return app;
}

async function listen(app: FastifyInstance): Promise<string> {
  return app.listen({ port: 0, host: '127.0.0.1' });
}

/** A plain request without keep-alive, so no socket outlives the test. */
async function get(url: string): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(url, { headers: { connection: 'close' } });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text.startsWith('{') ? JSON.parse(text) : text,
  };
}

describe('consulConfig on Fastify', () => {
  it('puts the current snapshot on request.config, and a change is visible to the next request', async () => {
    const prefix = unique('basic');
    const client = createConsulWatch({ address: agent.address });
    cleanup.push(() => client.close());
    await client.kv.put(`${prefix}greeting`, 'hello');
    const app = newApp();
    await app.register(consulConfig, { client, layers: [prefix] });
    app.get('/', async (request) => ({
      greeting: request.config.greeting,
      frozen: Object.isFrozen(request.config),
    }));
    const url = await listen(app);
    await app.liveConfig.ready(5_000);
    expect(app.consul).toBe(client);
    expect((await get(url)).body).toEqual({ greeting: 'hello', frozen: true });
    const changed = new Promise((resolve) => app.liveConfig.on('change', resolve));
    await client.kv.put(`${prefix}greeting`, 'hi');
    await changed;
    expect((await get(url)).body).toEqual({ greeting: 'hi', frozen: true });
  });

  it('gives a request one snapshot from start to end, even when Consul changes mid-request', async () => {
    const prefix = unique('stable');
    const app = newApp();
    await app.register(consulConfig, {
      connection: { address: agent.address },
      layers: [prefix],
      format: 'auto',
    });
    await app.consul.kv.put(`${prefix}version`, '1');
    await app.liveConfig.ready(5_000);
    await new Promise<void>((resolve) => {
      const check = () => (app.liveConfig.get('version') === 1 ? resolve() : undefined);
      app.liveConfig.on('change', check);
      check();
    });
    app.get('/slow', async (request) => {
      const before = request.config.version;
      const changed = new Promise((resolve) => app.liveConfig.on('change', resolve));
      await app.consul.kv.put(`${prefix}version`, '2');
      await changed;
      return { before, after: request.config.version, live: app.liveConfig.get('version') };
    });
    app.get('/', async (request) => ({ version: request.config.version }));
    const url = await listen(app);
    expect((await get(`${url}/slow`)).body).toEqual({ before: 1, after: 1, live: 2 });
    expect((await get(url)).body).toEqual({ version: 2 });
  });

  it('answers 503 with Retry-After before the first config, or waits when asked', async () => {
    const dead = newApp();
    await dead.register(consulConfig, { connection: { address: '127.0.0.1:1' }, layers: ['x/'] });
    dead.liveConfig.on('error', () => {});
    dead.get('/', async () => 'unreachable');
    const now = await get(await listen(dead));
    expect(now.status).toBe(503);
    expect(now.headers.get('retry-after')).toBe('1');
    expect(now.body).toMatchObject({ error: 'config_not_ready' });

    const waiting = newApp();
    await waiting.register(consulConfig, {
      connection: { address: '127.0.0.1:1' },
      layers: ['x/'],
      waitForReadyMs: 50,
    });
    waiting.liveConfig.on('error', () => {});
    waiting.get('/', async () => 'unreachable');
    const started = performance.now();
    const waited = await get(await listen(waiting));
    expect(waited.status).toBe(503);
    expect(waited.headers.get('retry-after')).toBe('1');
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect((waited.body as { message: string }).message).toMatch(/still waiting after 50 ms/);
  });

  it('holds a request until the first config arrives within waitForReadyMs', async () => {
    // An agent that holds the key, stopped: the config cannot load until it is back.
    const dir = await mkdtemp(join(tmpdir(), 'cw-fastify-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const dataFile = join(dir, 'consul.json');
    const first = await startDevServer({ dataFile });
    const port = first.port;
    await fetch(`${first.url}/v1/kv/late/mode`, {
      method: 'PUT',
      body: 'ready',
      headers: { connection: 'close' },
    });
    await first.close();
    const app = newApp();
    await app.register(consulConfig, {
      connection: { address: `127.0.0.1:${port}`, availability: { probeMaxMs: 50 } },
      layers: ['late/'],
      waitForReadyMs: 10_000,
    });
    app.liveConfig.on('error', () => {});
    app.get('/', async (request) => ({ mode: request.config.mode }));
    const url = await listen(app);
    const arrived = new Promise((resolve) => app.server.once('request', resolve));
    const answer = get(url);
    await arrived;
    expect(app.liveConfig.snapshot).toBeUndefined();
    const dev = await startDevServer({ port, dataFile });
    cleanup.push(() => dev.close());
    expect(await answer).toMatchObject({ status: 200, body: { mode: 'ready' } });
  });

  it('keeps serving the last good snapshot while Consul is down', async () => {
    const dev = await startDevServer();
    cleanup.push(() => dev.close());
    const app = newApp();
    await app.register(consulConfig, {
      connection: { address: dev.address, watch: { backoff: { baseMs: 5, maxMs: 20 } } },
      layers: ['app/'],
    });
    // Whether the first answer comes before or after the put, the config must hold it.
    const hasMode = new Promise<void>((resolve) => {
      const check = () => app.liveConfig.get('mode') === 'normal' && resolve();
      app.liveConfig.on('ready', check).on('change', check);
    });
    await app.consul.kv.put('app/mode', 'normal');
    await hasMode;
    app.get('/', async (request) => request.config);
    const url = await listen(app);
    const down = new Promise((resolve) => app.liveConfig.on('error', resolve));
    await dev.close();
    await down;
    expect(app.liveConfig.status.state).not.toBe('connected');
    expect(await get(url)).toMatchObject({ status: 200, body: { mode: 'normal' } });
  });

  it('closes its own client and live config on app.close(), and leaves a given client running', async () => {
    const own = Fastify();
    await own.register(consulConfig, { connection: { address: agent.address }, layers: ['o/'] });
    await own.liveConfig.ready(5_000);
    const ownClient = own.consul;
    expect(ownClient.activeQueries).toBe(1);
    await own.close();
    expect(ownClient.activeQueries).toBe(0);
    expect(() => ownClient.watch({ type: 'key', key: 'o/x' }, () => {})).toThrow(/closed/);

    const client = createConsulWatch({ address: agent.address });
    cleanup.push(() => client.close());
    const given = Fastify();
    await given.register(consulConfig, { client, layers: ['g/'] });
    await given.liveConfig.ready(5_000);
    expect(client.activeQueries).toBe(1);
    await given.close();
    expect(client.activeQueries).toBe(0);
    expect(await client.kv.put('g/still', 'works')).toBe(true);
  });

  it('passes settle to app.liveConfig: a burst of writes is one change', async () => {
    const prefix = unique('settle');
    const client = createConsulWatch({ address: agent.address });
    cleanup.push(() => client.close());
    await client.kv.put(`${prefix}n`, '0');
    const app = newApp();
    await app.register(consulConfig, { client, layers: [prefix], settle: { minMs: 150 } });
    await app.ready();
    await app.liveConfig.ready(5_000);
    const changes: string[][] = [];
    const burst = new Promise((resolve) =>
      app.liveConfig.on('change', (e) => {
        changes.push(e.paths);
        resolve(undefined);
      }),
    );
    for (let i = 1; i <= 5; i++) {
      await client.kv.put(`${prefix}n`, String(i));
      await client.kv.put(`${prefix}k${i}`, 'x');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await burst;
    expect(changes).toHaveLength(1);
    expect(app.liveConfig.snapshot).toMatchObject({ n: '5', k5: 'x' });
  });

  it('refuses options it cannot use with InvalidInputError, starting nothing', async () => {
    const refused = async (options: unknown) => {
      const app = newApp();
      return app.register(consulConfig, options as never).then(
        () => undefined,
        (error: unknown) => error,
      );
    };
    const empty = await refused({});
    expect(empty).toBeInstanceOf(InvalidInputError);
    expect((empty as Error).message).toMatch(/^consulConfig needs layers, such as/);
    expect(await refused({ layers: ['a/'], settle: { minMs: 100, maxMs: 50 } })).toMatchObject({
      code: 'INVALID_INPUT',
      message:
        'consulConfig settle.maxMs must be a whole number of milliseconds from minMs (100) to 3600000, got 50',
    });
    expect(await refused({ layers: ['a/'], waitForReadyMs: -1 })).toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/waitForReadyMs/),
    });
    const client = createConsulWatch({ address: agent.address });
    cleanup.push(() => client.close());
    const live = client.liveConfig({ layers: ['l/'] });
    cleanup.push(() => live.close());
    expect(await refused({ config: live })).toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/give layers, and client or connection, instead of config/),
    });
  });

  it('refuses a second registration on the same app instead of leaking a second client', async () => {
    const app = newApp();
    await app.register(consulConfig, { connection: { address: agent.address }, layers: ['a/'] });
    const error = await app
      .register(consulConfig, { connection: { address: agent.address }, layers: ['b/'] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/app\.consul: it is there already/);
  });
});
