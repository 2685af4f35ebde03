// Session behaviour that needs the dev-server's own controls: short TTLs (sessionTtlMinMs),
// snapshots, persistence. What a real agent does too is in conformance.session.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../src/devServer';

const servers: DevServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function start(options: Parameters<typeof startDevServer>[0] = {}) {
  const dev = await startDevServer({ sessionTtlMinMs: 50, ...options });
  servers.push(dev);
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${dev.url}${path}`, {
      method,
      headers: { connection: 'close' },
      ...(body === undefined
        ? {}
        : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  const session = async (body: Record<string, unknown>) =>
    ((await (await call('PUT', '/v1/session/create', body)).json()) as { ID: string }).ID;
  const acquire = async (key: string, id: string) =>
    (await (await call('PUT', `/v1/kv/${key}?acquire=${id}`, 'v')).json()) as boolean;
  const holder = async (key: string) =>
    ((await (await call('GET', `/v1/kv/${key}`)).json()) as { Session?: string }[])[0]?.Session;
  return { dev, call, session, acquire, holder };
}

describe('session TTL', () => {
  it('invalidates a session not renewed within twice its TTL, and the blocking read of it wakes', async () => {
    const { call, session, acquire, holder } = await start();
    // Taken before the request: the server's timer starts after it is sent.
    const createdAt = performance.now();
    const id = await session({ TTL: '100ms', LockDelay: '0s' });
    expect(await acquire('ttl/key', id)).toBe(true);
    const first = await call('GET', `/v1/session/info/${id}`);
    const index = first.headers.get('x-consul-index');
    await first.arrayBuffer();
    const after = await call('GET', `/v1/session/info/${id}?index=${index}&wait=5s`);
    expect(await after.json()).toEqual([]);
    // Consul's grace: the timer runs for twice the TTL.
    expect(performance.now() - createdAt).toBeGreaterThanOrEqual(199);
    expect(await holder('ttl/key')).toBeUndefined();
  });

  it('keeps a session that is renewed within its TTL', async () => {
    const { call, session } = await start();
    const id = await session({ TTL: '300ms' });
    for (let i = 0; i < 6; i++) {
      // Each renewal restarts the 600 ms timer; 6 × 150 ms outlives one timer.
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect((await call('PUT', `/v1/session/renew/${id}`)).status).toBe(200);
    }
  });

  it('refuses a TTL under sessionTtlMinMs, naming the limit', async () => {
    const { call } = await start({ sessionTtlMinMs: 1000 });
    const res = await call('PUT', '/v1/session/create', { TTL: '500ms' });
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('must be between [1s=24h0m0s]');
  });
});

describe('lock-delay', () => {
  it('lets another session take the key once the lock-delay has passed', async () => {
    const { call, session, acquire } = await start();
    const first = await session({ LockDelay: '150ms' });
    const second = await session({ LockDelay: '0s' });
    expect(await acquire('delay/key', first)).toBe(true);
    await call('PUT', `/v1/session/destroy/${first}`);
    const destroyedAt = Date.now();
    expect(await acquire('delay/key', second)).toBe(false);
    let taken = false;
    while (!taken && Date.now() - destroyedAt < 2000) {
      taken = await acquire('delay/key', second);
      if (!taken) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(taken).toBe(true);
    expect(Date.now() - destroyedAt).toBeGreaterThanOrEqual(140);
  });
});

describe('invalidation by the catalog', () => {
  it('invalidates the sessions of a node deregistered through the catalog', async () => {
    const { call, session, acquire, holder } = await start();
    await call('PUT', '/v1/catalog/register', {
      Node: 'worker-1',
      Address: '10.0.0.1',
      Check: { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' },
    });
    const id = await session({ Node: 'worker-1', LockDelay: '0s' });
    expect(await acquire('node/key', id)).toBe(true);
    await call('PUT', '/v1/catalog/deregister', { Node: 'worker-1', ServiceID: '', CheckID: '' });
    expect(await (await call('GET', `/v1/session/info/${id}`)).json()).toEqual([]);
    expect(await holder('node/key')).toBeUndefined();
  });
});

describe('sessions in snapshots and the data file', () => {
  it('restores sessions and the locks they hold with a snapshot', async () => {
    const { dev, call, session, acquire, holder } = await start();
    const id = await session({ Name: 'kept', LockDelay: '0s' });
    expect(await acquire('snap/key', id)).toBe(true);
    const snapshot = dev.snapshot();
    await call('PUT', `/v1/session/destroy/${id}`);
    expect(await holder('snap/key')).toBeUndefined();
    dev.restore(snapshot);
    expect(await holder('snap/key')).toBe(id);
    const [restored] = (await (await call('GET', `/v1/session/info/${id}`)).json()) as {
      Name: string;
    }[];
    expect(restored?.Name).toBe('kept');
  });

  it('persists sessions and held locks across a restart on the same data file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'consul-dev-session-'));
    try {
      const dataFile = join(dir, 'state.json');
      const first = await start({ dataFile });
      const id = await first.session({ Name: 'durable', TTL: '10s' });
      expect(await first.acquire('durable/key', id)).toBe(true);
      await first.dev.close();
      servers.splice(servers.indexOf(first.dev), 1);
      const second = await start({ dataFile });
      expect(await second.holder('durable/key')).toBe(id);
      expect((await second.call('PUT', `/v1/session/renew/${id}`)).status).toBe(200);
      // Closed here, before its directory goes: its last save must find the file's folder.
      await second.dev.close();
      servers.splice(servers.indexOf(second.dev), 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
