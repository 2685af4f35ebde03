import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createConsulWatch } from '@consul-watch/core';
import { startDevServer } from '@consul-watch/dev-server';
import { startTestAgent, type TestAgent } from '@consul-watch/dev-server/testing';
import express5 from 'express';
import express4 from 'express4';
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

const unique = (label: string) => `cw-express/${label}-${Math.random().toString(36).slice(2, 8)}/`;

async function listen(app: { listen: (port: number, host: string) => Server }): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  cleanup.push(() => server.closeAllConnections());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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

for (const [name, express] of [
  ['Express 5', express5],
  ['Express 4', express4],
] as const) {
  describe(`consulConfig on ${name}`, () => {
    it('puts the current snapshot on req.config, and a change is visible to the next request', async () => {
      const prefix = unique('basic');
      const client = createConsulWatch({ address: agent.address });
      cleanup.push(() => client.close());
      await client.kv.put(`${prefix}greeting`, 'hello');
      const middleware = consulConfig({ client, layers: [prefix] });
      cleanup.push(() => middleware.close());
      const app = express();
      app.use(middleware);
      app.get('/', (req, res) => {
        res.json({ greeting: req.config.greeting, frozen: Object.isFrozen(req.config) });
      });
      const url = await listen(app);
      await middleware.config.ready(5_000);
      expect((await get(url)).body).toEqual({ greeting: 'hello', frozen: true });
      const changed = new Promise((resolve) => middleware.config.on('change', resolve));
      await client.kv.put(`${prefix}greeting`, 'hi');
      await changed;
      expect((await get(url)).body).toEqual({ greeting: 'hi', frozen: true });
    });

    it('answers 503 with a clear body before the first config, or waits when asked', async () => {
      const dead = consulConfig({ connection: { address: '127.0.0.1:1' }, layers: ['x/'] });
      dead.config.on('error', () => {});
      cleanup.push(() => dead.close());
      const waiting = consulConfig({
        connection: { address: '127.0.0.1:1' },
        layers: ['x/'],
        waitForReadyMs: 50,
      });
      waiting.config.on('error', () => {});
      cleanup.push(() => waiting.close());
      const app = express();
      app.get('/now', dead, (_req, res) => {
        res.send('unreachable');
      });
      app.get('/wait', waiting, (_req, res) => {
        res.send('unreachable');
      });
      const url = await listen(app);
      const now = await get(`${url}/now`);
      expect(now.status).toBe(503);
      expect(now.headers.get('retry-after')).toBe('1');
      expect(now.body).toMatchObject({ error: 'config_not_ready' });
      const started = performance.now();
      const waited = await get(`${url}/wait`);
      expect(waited.status).toBe(503);
      expect(performance.now() - started).toBeGreaterThanOrEqual(45);
      expect((waited.body as { message: string }).message).toMatch(/still waiting after 50 ms/);
    });
  });
}

describe('consulConfig', () => {
  it('gives a request one snapshot from start to end, even when Consul changes mid-request', async () => {
    const prefix = unique('stable');
    const client = createConsulWatch({ address: agent.address });
    cleanup.push(() => client.close());
    await client.kv.put(`${prefix}version`, '1');
    const middleware = consulConfig({ client, layers: [prefix] });
    cleanup.push(() => middleware.close());
    await middleware.config.ready(5_000);
    const app = express5();
    app.use(middleware);
    app.get('/slow', async (req, res) => {
      const before = req.config.version;
      const changed = new Promise((resolve) => middleware.config.on('change', resolve));
      await client.kv.put(`${prefix}version`, '2');
      await changed;
      res.json({ before, after: req.config.version, live: middleware.config.get('version') });
    });
    app.get('/', (req, res) => {
      res.json({ version: req.config.version });
    });
    const url = await listen(app);
    expect((await get(`${url}/slow`)).body).toEqual({ before: '1', after: '1', live: '2' });
    expect((await get(url)).body).toEqual({ version: '2' });
  });

  it('keeps serving the last good snapshot while Consul is down', async () => {
    const dev = await startDevServer();
    cleanup.push(() => dev.close());
    const client = createConsulWatch({
      address: dev.address,
      watch: { backoff: { baseMs: 5, maxMs: 20 } },
    });
    cleanup.push(() => client.close());
    await client.kv.put('app/mode', 'normal');
    const middleware = consulConfig({ client, layers: ['app/'] });
    cleanup.push(() => middleware.close());
    await middleware.config.ready(5_000);
    const down = new Promise((resolve) => middleware.config.on('error', resolve));
    const app = express5();
    app.use(middleware);
    app.get('/', (req, res) => {
      res.json(req.config);
    });
    const url = await listen(app);
    await dev.close();
    await down;
    expect(await get(url)).toMatchObject({ status: 200, body: { mode: 'normal' } });
  });

  it('passes settle to the live config it makes: a burst of writes is one change', async () => {
    const prefix = unique('settle');
    const client = createConsulWatch({ address: agent.address });
    cleanup.push(() => client.close());
    await client.kv.put(`${prefix}n`, '0');
    const middleware = consulConfig({ client, layers: [prefix], settle: { minMs: 150 } });
    cleanup.push(() => middleware.close());
    await middleware.config.ready(5_000);
    const changes: string[][] = [];
    const burst = new Promise((resolve) =>
      middleware.config.on('change', (e) => {
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
    expect(middleware.config.snapshot).toMatchObject({ n: '5', k5: 'x' });
  });

  it('refuses options it cannot use', () => {
    expect(() => consulConfig({})).toThrow(/needs either config \(a LiveConfig\) or layers/);
    expect(() => consulConfig({ layers: ['a/'], settle: { minMs: 0 } })).toThrow(
      'consulConfig settle.minMs must be a whole number of milliseconds from 1 to 3600000, got 0',
    );
    expect(() => consulConfig({ config: {} as never, settle: { minMs: 100 } })).toThrow(
      /consulConfig settle applies to a live config it makes from layers/,
    );
    expect(() => consulConfig({ layers: ['a/'], waitForReadyMs: -1 })).toThrow(/waitForReadyMs/);
  });
});
