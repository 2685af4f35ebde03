import type { AddressInfo } from 'node:net';
import { createConsulWatch, InvalidInputError } from '@consul-watch/core';
import { startDevServer } from '@consul-watch/dev-server';
import { startFaultProxy, until } from '@consul-watch/dev-server/testing';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { consulConfig } from './consulConfig';
import { type ConsulHealthBody, consulHealth } from './consulHealth';

// An outage needs a proxy in front of the server: this runs on the embedded dev-server.
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

describe('consulHealth()', () => {
  it('answers 200 with each watch and the config, and 503 once Consul is silent past maxStalenessMs', async () => {
    const dev = await startDevServer();
    cleanup.push(() => dev.close());
    const proxy = await startFaultProxy(dev.address);
    cleanup.push(() => proxy.close());
    const client = createConsulWatch({ address: proxy.address, logger: undefined });
    cleanup.push(() => client.close());
    await client.kv.put('probe/app/limit', '5');
    const middleware = consulConfig({ client, layers: [{ prefix: 'probe/app/' }] });
    cleanup.push(() => middleware.close());
    middleware.config.on('error', () => {});
    await middleware.config.ready();
    const app = express();
    app.get('/health', consulHealth({ client, config: middleware, maxStalenessMs: 100 }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
    const probe = async () => {
      const res = await fetch(url, { headers: { connection: 'close' } });
      return {
        status: res.status,
        cache: res.headers.get('cache-control'),
        body: (await res.json()) as ConsulHealthBody,
      };
    };

    const up = await probe();
    expect(up).toMatchObject({ status: 200, cache: 'no-store' });
    expect(up.body).toMatchObject({
      status: 'up',
      healthy: true,
      stalenessMs: 0,
      consul: { available: true },
      config: { loaded: true, source: 'consul', state: 'connected' },
    });
    expect(up.body.watches).toEqual([
      expect.objectContaining({ type: 'keyprefix', watch: 'keyprefix "probe/app/"' }),
    ]);

    proxy.failNext(1_000, 503);
    proxy.resetConnections();
    await until(
      () => (client.watchReport()[0]?.stalenessMs ?? 0) > 100,
      5_000,
      () => 'not stale',
    );
    const down = await probe();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ status: 'down', healthy: false });
    expect(down.body.problems[0] ?? '').toMatch(/not heard from Consul for \d+ ms/);
    // The last good config is still what requests get.
    expect(middleware.config.snapshot).toEqual({ limit: '5' });
    proxy.failNext(0, 503);
  });

  it('refuses to be set up without a client or a config', () => {
    expect(() => consulHealth({})).toThrow(InvalidInputError);
    expect(() => consulHealth({ client: {} as never, maxStalenessMs: -1 })).toThrow(
      /maxStalenessMs/,
    );
  });
});
