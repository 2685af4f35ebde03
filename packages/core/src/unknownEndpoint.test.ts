import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDevServer } from '@consul-watch/dev-server';
import { afterEach, describe, expect, it } from 'vitest';
import { type Connection, resolveConnection } from './connection';
import { ConsulHttp } from './consulHttp';
import { createConsulWatch } from './consulWatch';
import { ConsulRequestError, InvalidInputError } from './errors';
import { KvClient } from './kv';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

describe('an address with a path', () => {
  it.each([
    ['http://127.0.0.1:8500/v1', 'a path (/v1)'],
    ['127.0.0.1:8500/consul/', 'a path (/consul/)'],
    ['http://127.0.0.1:8500?dc=eu1', 'a query'],
    ['http://127.0.0.1:8500/#x', 'a fragment'],
  ])('refuses %s at creation, naming what to give instead', (address, part) => {
    const error = (() => {
      try {
        createConsulWatch({ address });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error?.message).toContain(`has ${part}`);
    expect(error?.message).toContain('"http://127.0.0.1:8500"');
  });

  it('names CONSUL_HTTP_ADDR when the address came from it', () => {
    expect(() => resolveConnection({}, { CONSUL_HTTP_ADDR: 'http://127.0.0.1:8500/v1/' })).toThrow(
      /^CONSUL_HTTP_ADDR "http:\/\/127\.0\.0\.1:8500\/v1\/" has a path/,
    );
  });

  it('takes a trailing slash alone as no path', () => {
    expect(resolveConnection({ address: 'http://127.0.0.1:8500/' }, {}).baseUrl).toBe(
      'http://127.0.0.1:8500/v1',
    );
  });
});

/** A KV client whose requests go to `base` + the API path, as an address with a path once made them. */
function kvAt(connection: Connection, base: string): KvClient {
  const http = new ConsulHttp({ ...connection, baseUrl: base });
  cleanup.push(() => http.close());
  return new KvClient(http);
}

describe('a 404 for a path with no endpoint', () => {
  it('is an error naming the path, never a missing key (kv.get, list and keys)', async () => {
    const dev = await startDevServer();
    cleanup.push(() => dev.close());
    const connection = resolveConnection({ address: dev.address, token: 'secret-token' }, {});
    const kv = kvAt(connection, `${dev.url}/v1/v1`);
    for (const call of [() => kv.get('app/db'), () => kv.list('app/'), () => kv.keys('app/')]) {
      const error = await call().catch((e: unknown) => e as Error);
      expect(error).toBeInstanceOf(ConsulRequestError);
      expect((error as Error).message).toMatch(/has no endpoint \/v1\/v1\/kv\/app/);
      expect((error as Error).message).not.toContain('secret-token');
    }
    // The right path still reads a missing key as undefined.
    expect(await kvAt(connection, `${dev.url}/v1`).get('app/db')).toBeUndefined();
  });

  it('is an error when something other than Consul answers a KV read with a bare 404', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html', connection: 'close' });
      res.end('<h1>Not Found</h1>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const client = createConsulWatch({
      address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    });
    cleanup.push(() => client.close());
    await expect(client.kv.get('app/db')).rejects.toThrow(/has no endpoint \/v1\/kv\/app\/db/);
    const watch = client.watch({ type: 'key', key: 'app/db' });
    const error = await new Promise<Error>((resolve) => watch.on('error', resolve));
    expect(error).toBeInstanceOf(ConsulRequestError);
    expect(error.message).toMatch(/has no endpoint \/v1\/kv\/app\/db/);
  });
});
