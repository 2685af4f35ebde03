import { createConsulWatch, InvalidInputError, silentLogger } from '@consul-watch/core';
import { startTestAgent, type TestAgent, until } from '@consul-watch/dev-server/testing';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { consulConfig } from './consulConfig';
import { type ConsulHealthBody, consulHealth } from './consulHealth';

let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent();
});
afterAll(() => agent.close());
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

describe('consulHealth() on Fastify', () => {
  it('answers 200 with the plugin config and its watches while Consul answers', async () => {
    const client = createConsulWatch({ address: agent.address });
    cleanup.push(() => client.close());
    const prefix = `cw-fastify/health-${Math.random().toString(36).slice(2, 8)}/`;
    await client.kv.put(`${prefix}a`, '1');
    const app = Fastify();
    cleanup.push(() => app.close());
    await app.register(consulConfig, { client, layers: [prefix] });
    app.after(() => {
      app.get('/health', consulHealth({ client: app.consul, config: app.liveConfig }));
    });
    await app.ready();
    await app.liveConfig.ready(5_000);
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json<ConsulHealthBody>()).toMatchObject({
      status: 'up',
      stalenessMs: 0,
      config: { loaded: true, source: 'consul' },
      watches: [{ type: 'keyprefix', state: 'connected' }],
    });
  });

  it('answers 503 once nothing was heard from Consul for longer than maxStalenessMs', async () => {
    const client = createConsulWatch({ address: '127.0.0.1:1', logger: silentLogger });
    cleanup.push(() => client.close());
    const watch = client.watch({ type: 'services' });
    watch.on('error', () => {});
    const app = Fastify();
    cleanup.push(() => app.close());
    app.get('/health', consulHealth({ client, maxStalenessMs: 50 }));
    await until(
      () => (client.watchReport()[0]?.stalenessMs ?? 0) > 50,
      5_000,
      () => 'not stale',
    );
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(503);
    expect(res.json<ConsulHealthBody>()).toMatchObject({ status: 'down', healthy: false });
  });

  it('refuses to be made without a client or a config', () => {
    expect(() => consulHealth({})).toThrow(InvalidInputError);
  });
});
