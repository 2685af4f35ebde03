// Conformance of the dev-server with a Consul agent, through the npm `consul` client (a client
// we did not write). Against a real agent:
//   CONSUL_HTTP_ADDR=127.0.0.1:8500 pnpm vitest run --project dev-server test/conformance.test.ts
import Consul from 'consul';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAgent, type TestAgent } from '../src/testing';
import { index, withResponse } from './clientResponse';

const external = Boolean(process.env.CONSUL_HTTP_ADDR);
let agent: TestAgent;
// biome-ignore lint/suspicious/noExplicitAny: the client's typings omit ctx, index and wait
let consul: any;
const p = `conformance-${Math.random().toString(36).slice(2, 8)}/`;

beforeAll(async () => {
  agent = await startTestAgent();
  consul = new (Consul as unknown as new (o: object) => unknown)({
    host: agent.host,
    port: agent.port,
  });
});
afterAll(async () => {
  await consul.kv.del({ key: p, recurse: true }).catch(() => {});
  consul.destroy();
  await agent.close();
});

describe('KV', () => {
  it('stores values, flags (all 64 bits) and answers a missing key with 404 and an index', async () => {
    await consul.kv.set({ key: `${p}a`, value: 'hello', flags: '18446744073709551615' });
    const { res, body } = await withResponse<{ Key: string; Value: string; Flags: number }>((ctx) =>
      consul.kv.get({ key: `${p}a`, ctx }),
    );
    expect(res.statusCode).toBe(200);
    expect(body).toMatchObject({ Key: `${p}a`, Value: 'hello' });
    for (const h of ['x-consul-index', 'x-consul-knownleader', 'x-consul-lastcontact'])
      expect(res.headers[h]).toBeDefined();
    const raw = await fetch(`${agent.url}/v1/kv/${p}a`).then((r) => r.text());
    expect(raw).toContain('"Flags":18446744073709551615');
    const missing = await withResponse((ctx) => consul.kv.get({ key: `${p}missing`, ctx }));
    expect(missing.res.statusCode).toBe(404);
    expect(index(missing.res)).toBeGreaterThan(0n);
  });

  it('lists recursively in key order, folders once with a separator, raw values, and empty values as null', async () => {
    for (const k of ['t/b', 't/a/2', 't/a/1', 't/c'])
      await consul.kv.set({ key: `${p}${k}`, value: k });
    await consul.kv.set({ key: `${p}empty`, value: '' });
    const list: { Key: string }[] = await consul.kv.get({ key: `${p}t/`, recurse: true });
    expect(list.map((e) => e.Key.slice(p.length))).toEqual(['t/a/1', 't/a/2', 't/b', 't/c']);
    expect(await consul.kv.keys({ key: `${p}t/`, separator: '/' })).toEqual([
      `${p}t/a/`,
      `${p}t/b`,
      `${p}t/c`,
    ]);
    expect((await consul.kv.get({ key: `${p}t/b`, raw: true })).toString()).toBe('t/b');
    const empty = (await fetch(`${agent.url}/v1/kv/${p}empty`).then((r) => r.json())) as {
      Value: string | null;
    }[];
    expect(empty[0]?.Value).toBeNull();
  });

  it('check-and-set: 0 means only if absent; a stale index is refused; cas with recurse is a 400', async () => {
    const cas = async (value: string, at: number) =>
      (await withResponse<boolean>((ctx) => consul.kv.set({ key: `${p}cas`, value, cas: at, ctx })))
        .body;
    expect(await cas('1', 0)).toBe(true);
    expect(await cas('2', 0)).toBe(false);
    const entry = await consul.kv.get(`${p}cas`);
    expect(await cas('3', entry.ModifyIndex)).toBe(true);
    const bad = await withResponse((ctx) =>
      consul.kv.del({ key: `${p}cas`, recurse: true, cas: 1, ctx }),
    );
    expect(bad.res.statusCode).toBe(400);
  });

  it('refuses a missing key name, a leading slash and a value over 512 KiB, as Consul does', async () => {
    const status = async (path: string, body?: string | Buffer) =>
      (await fetch(`${agent.url}/v1/kv/${path}`, { method: 'PUT', body })).status;
    expect(await status('', 'x')).toBe(400);
    expect(await status('/abs', 'x')).toBe(400);
    expect(await status(`${p}max`, Buffer.alloc(524288))).toBe(200);
    const over = await fetch(`${agent.url}/v1/kv/${p}over`, {
      method: 'PUT',
      body: Buffer.alloc(524289),
    });
    expect(over.status).toBe(413);
    expect(await over.text()).toMatch(/524289.*524288/);
  });

  it('wakes a parked prefix read on a delete under it, and not on writes elsewhere', async () => {
    await consul.kv.set({ key: `${p}w/x`, value: '1' });
    const first = await withResponse((ctx) => consul.kv.get({ key: `${p}w/`, recurse: true, ctx }));
    const parked = withResponse((ctx) =>
      consul.kv.get({
        key: `${p}w/`,
        recurse: true,
        index: String(index(first.res)),
        wait: '2s',
        ctx,
      }),
    );
    const started = performance.now();
    await consul.kv.set({ key: `${p}elsewhere`, value: 'noise' });
    await consul.kv.del(`${p}w/x`);
    const woken = await parked;
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(woken.res.statusCode).toBe(404);
    expect(index(woken.res)).toBeGreaterThan(index(first.res));
  });

  it('returns after wait with the same index when nothing changed', async () => {
    await consul.kv.set({ key: `${p}still`, value: '1' });
    const first = await withResponse((ctx) => consul.kv.get({ key: `${p}still`, ctx }));
    const again = await withResponse((ctx) =>
      consul.kv.get({ key: `${p}still`, index: String(index(first.res)), wait: '100ms', ctx }),
    );
    expect(index(again.res)).toBe(index(first.res));
  });

  it('answers malformed index and wait, and stale with consistent, with 400', async () => {
    for (const q of ['index=abc', 'index=1&wait=10', 'index=1&wait=soon', 'stale&consistent']) {
      expect((await fetch(`${agent.url}/v1/kv/${p}a?${q}`)).status, q).toBe(400);
    }
    expect((await fetch(`${agent.url}/v1/nope`)).status).toBe(404);
    expect((await fetch(`${agent.url}/v1/kv/${p}a`, { method: 'POST' })).status).toBe(405);
  });
});

describe('transactions', () => {
  it('applies all operations or none (409 with Errors)', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const ok = await consul.transaction.create([
      { KV: { Verb: 'set', Key: `${p}tx/1`, Value: b64('one') } },
    ]);
    expect(ok.Results).toHaveLength(1);
    const failed = await withResponse<{ Errors: { OpIndex: number }[] }>((ctx) =>
      consul.transaction.create(
        [
          { KV: { Verb: 'set', Key: `${p}tx/2`, Value: b64('two') } },
          { KV: { Verb: 'check-not-exists', Key: `${p}tx/1` } },
        ],
        { ctx },
      ),
    );
    expect(failed.res.statusCode).toBe(409);
    expect(failed.body.Errors[0]?.OpIndex).toBe(1);
    expect(await consul.kv.get(`${p}tx/2`)).toBeUndefined();
  });
});

describe('agent, catalog and health', () => {
  it('registers a service with a TTL check that starts critical and follows pass/warn', async () => {
    const name = `svc-${p.slice(12, 18)}`;
    await consul.agent.service.register({ name, port: 8080, tags: ['v1'], check: { ttl: '30s' } });
    const entries = await consul.health.service({ service: name });
    const check = entries[0].Checks.find((c: { ServiceID: string }) => c.ServiceID === name);
    expect(check).toMatchObject({ CheckID: `service:${name}`, Status: 'critical' });
    expect(await consul.health.service({ service: name, passing: true })).toEqual([]);
    await consul.agent.check.pass(`service:${name}`);
    expect(await consul.health.service({ service: name, passing: true })).toHaveLength(1);
    expect(Object.keys(await consul.catalog.service.list())).toEqual(
      expect.arrayContaining(['consul', name]),
    );
    await consul.agent.service.deregister(name);
    expect(await consul.health.checks(name)).toEqual([]);
  });

  it('has the agent node with serfHealth, agent/self and a leader', async () => {
    const self = await consul.agent.self();
    expect(self.Config).toMatchObject({
      Datacenter: expect.any(String),
      NodeName: expect.any(String),
    });
    const nodes = await consul.catalog.node.list();
    expect(nodes.some((n: { Node: string }) => n.Node === self.Config.NodeName)).toBe(true);
    const serf = await consul.health.state('any');
    expect(serf.some((c: { CheckID: string }) => c.CheckID === 'serfHealth')).toBe(true);
    expect(typeof (await consul.status.leader())).toBe('string');
  });
});

describe('user events', () => {
  it('fires events whose list index is the newest ID, first 16 hex digits XOR the last 16', async () => {
    const name = `ev-${p.slice(12, 18)}`;
    const fired = await consul.event.fire({ name, payload: 'v1' });
    expect(fired).toMatchObject({ Name: name, Version: 1 });
    const { res, body } = await withResponse<{ ID: string }[]>((ctx) =>
      consul.event.list({ name, ctx }),
    );
    const hex = body[body.length - 1]!.ID.replace(/-/g, '');
    expect(index(res)).toBe(BigInt(`0x${hex.slice(0, 16)}`) ^ BigInt(`0x${hex.slice(16)}`));
  });
});

describe.skipIf(external)('dev-server controls', () => {
  it('after restore to an older snapshot, a parked query answers at once with a lower index', async () => {
    const dev = agent.dev!;
    await consul.kv.set({ key: `${p}r/a`, value: '1' });
    const snapshot = dev.snapshot();
    await consul.kv.set({ key: `${p}r/b`, value: '2' });
    const now = await withResponse((ctx) => consul.kv.get({ key: `${p}r/`, recurse: true, ctx }));
    const parked = withResponse<{ Key: string }[]>((ctx) =>
      consul.kv.get({
        key: `${p}r/`,
        recurse: true,
        index: String(index(now.res)),
        wait: '5s',
        ctx,
      }),
    );
    await dev.whenParked(1);
    dev.restore(snapshot);
    const answered = await parked;
    expect(index(answered.res)).toBeLessThan(index(now.res));
    expect(answered.body.map((e) => e.Key)).toEqual([`${p}r/a`]);
  });

  it('with an ACL token, refuses requests without it or with another, but not status', async () => {
    const { startDevServer } = await import('../src/devServer');
    const locked = await startDevServer({ aclToken: 'conformance-secret' });
    const status = (path: string, token?: string) =>
      fetch(`${locked.url}${path}`, token ? { headers: { 'X-Consul-Token': token } } : {}).then(
        async (r) => [r.status, await r.text()],
      );
    expect(await status('/v1/kv/x')).toEqual([403, 'Permission denied']);
    expect(await status('/v1/kv/x', 'wrong')).toEqual([403, 'ACL not found']);
    expect((await status('/v1/kv/x', 'conformance-secret'))[0]).toBe(404);
    expect((await status('/v1/status/leader'))[0]).toBe(200);
    await locked.close();
  });
});
