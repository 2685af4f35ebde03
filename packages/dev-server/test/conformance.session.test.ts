// Sessions and KV locks as a Consul agent serves them. Runs against CONSUL_HTTP_ADDR when it is
// set, so every assertion here is one a real agent also satisfies:
//   CONSUL_HTTP_ADDR=127.0.0.1:8500 pnpm vitest run --project dev-server test/conformance.session.test.ts
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestAgent, type TestAgent } from '../src/testing';

let agent: TestAgent;
let node: string;
const p = `session-${Math.random().toString(36).slice(2, 8)}/`;
const created: string[] = [];

beforeAll(async () => {
  agent = await startTestAgent();
  node = ((await (await call('GET', '/v1/agent/self')).json()) as { Config: { NodeName: string } })
    .Config.NodeName;
});
afterEach(async () => {
  for (const id of created.splice(0)) await call('PUT', `/v1/session/destroy/${id}`);
});
afterAll(async () => {
  await call('DELETE', `/v1/kv/${p}?recurse`);
  await agent.close();
});

function call(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${agent.url}${path}`, {
    method,
    headers: { connection: 'close' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
}
async function jsonOf<T>(res: Promise<Response>): Promise<T> {
  return (await res).json() as Promise<T>;
}
async function createSession(body: Record<string, unknown> = {}): Promise<string> {
  const res = await call('PUT', '/v1/session/create', body);
  expect(res.status).toBe(200);
  const { ID } = (await res.json()) as { ID: string };
  created.push(ID);
  return ID;
}
interface SessionInfo {
  ID: string;
  Name: string;
  Node: string;
  LockDelay: number;
  Behavior: string;
  TTL: string;
  NodeChecks: string[] | null;
  CreateIndex: number;
  ModifyIndex: number;
}
interface Entry {
  Key: string;
  Value: string | null;
  LockIndex: number;
  Session?: string;
  Flags: number;
}
const info = (id: string) => jsonOf<SessionInfo[]>(call('GET', `/v1/session/info/${id}`));
const entry = async (key: string) => (await jsonOf<Entry[]>(call('GET', `/v1/kv/${key}`)))[0]!;
const acquire = (key: string, session: string, value = '') =>
  jsonOf<boolean>(call('PUT', `/v1/kv/${key}?acquire=${session}`, value));
const release = (key: string, session: string, value = '') =>
  jsonOf<boolean>(call('PUT', `/v1/kv/${key}?release=${session}`, value));

describe('sessions', () => {
  it('creates a session with Consul defaults: this node, serfHealth, 15 s lock-delay, release', async () => {
    const id = await createSession({ Name: 'defaults' });
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const [s] = await info(id);
    expect(s).toMatchObject({
      ID: id,
      Name: 'defaults',
      Node: node,
      LockDelay: 15_000_000_000,
      Behavior: 'release',
      TTL: '',
      NodeChecks: ['serfHealth'],
    });
    expect(s!.CreateIndex).toBeGreaterThan(0);
  });

  it('lists sessions, by node too, and answers an unknown session with an empty list', async () => {
    const a = await createSession({ Name: 'a', TTL: '30s', LockDelay: '1s' });
    const b = await createSession({ Name: 'b', Behavior: 'delete' });
    const all = await jsonOf<SessionInfo[]>(call('GET', '/v1/session/list'));
    expect(all.map((s) => s.ID)).toEqual(expect.arrayContaining([a, b]));
    const mine = await jsonOf<SessionInfo[]>(call('GET', `/v1/session/node/${node}`));
    expect(mine.find((s) => s.ID === a)).toMatchObject({
      TTL: '30s',
      LockDelay: 1_000_000_000,
      Behavior: 'release',
    });
    expect(mine.find((s) => s.ID === b)?.Behavior).toBe('delete');
    expect(await info('00000000-0000-0000-0000-000000000000')).toEqual([]);
  });

  it('renews a session with a TTL and answers 404 for one that does not exist', async () => {
    const id = await createSession({ TTL: '20s' });
    const renewed = await jsonOf<SessionInfo[]>(call('PUT', `/v1/session/renew/${id}`));
    expect(renewed[0]).toMatchObject({ ID: id, TTL: '20s' });
    const missing = await call('PUT', '/v1/session/renew/00000000-0000-0000-0000-000000000000');
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('not found');
  });

  it('refuses a TTL outside Consul limits and an unknown behavior with a 500 naming them', async () => {
    const short = await call('PUT', '/v1/session/create', { TTL: '1ms' });
    expect(short.status).toBe(500);
    expect(await short.text()).toMatch(/Invalid Session TTL '1000000', must be between \[/);
    const long = await call('PUT', '/v1/session/create', { TTL: '25h' });
    expect(long.status).toBe(500);
    const behavior = await call('PUT', '/v1/session/create', { Behavior: 'keep' });
    expect(behavior.status).toBe(500);
    expect(await behavior.text()).toContain("Invalid Behavior setting 'keep'");
    const node = await call('PUT', '/v1/session/create', { Node: `${p}no-such-node` });
    expect(node.status).toBe(500);
    expect(await node.text()).toContain('Missing node registration');
    const check = await call('PUT', '/v1/session/create', { NodeChecks: ['no-such-check'] });
    expect(check.status).toBe(500);
    expect(await check.text()).toContain("Missing check 'no-such-check' registration");
  });

  it('wakes a blocking read of the session list when a session is created', async () => {
    const first = await call('GET', '/v1/session/list');
    const index = first.headers.get('x-consul-index');
    await first.arrayBuffer();
    const parked = call('GET', `/v1/session/list?index=${index}&wait=10s`);
    const id = await createSession({ Name: 'wakes' });
    const res = await parked;
    expect(BigInt(res.headers.get('x-consul-index')!)).toBeGreaterThan(BigInt(index!));
    expect(((await res.json()) as SessionInfo[]).map((s) => s.ID)).toContain(id);
  });
});

describe('KV locks', () => {
  it('acquires a free key, raising LockIndex, and refuses it to another session', async () => {
    const one = await createSession({ LockDelay: '0s' });
    const two = await createSession({ LockDelay: '0s' });
    expect(await acquire(`${p}lock`, one, 'first')).toBe(true);
    expect(await entry(`${p}lock`)).toMatchObject({ LockIndex: 1, Session: one });
    expect(await acquire(`${p}lock`, one, 'again')).toBe(true); // the holder may write again
    expect(await entry(`${p}lock`)).toMatchObject({ LockIndex: 1, Value: btoa('again') });
    expect(await acquire(`${p}lock`, two)).toBe(false);
    expect(await release(`${p}lock`, two)).toBe(false);
    expect(await release(`${p}lock`, one, 'released')).toBe(true);
    const free = await entry(`${p}lock`);
    expect(free.Session).toBeUndefined();
    expect(free).toMatchObject({ LockIndex: 1, Value: btoa('released') });
    expect(await acquire(`${p}lock`, two)).toBe(true);
    expect(await entry(`${p}lock`)).toMatchObject({ LockIndex: 2, Session: two });
  });

  it('refuses acquire with a session that does not exist, and acquire with cas', async () => {
    const res = await call('PUT', `/v1/kv/${p}x?acquire=00000000-0000-0000-0000-000000000000`, 'v');
    expect(res.status).toBe(500);
    expect((await res.text()).toLowerCase()).toContain('invalid session');
    const both = await call('PUT', `/v1/kv/${p}x?acquire=abc&cas=0`, 'v');
    expect(both.status).toBe(400);
  });

  it('releases the keys of a destroyed session (behavior release) and keeps their values', async () => {
    const id = await createSession({ LockDelay: '0s' });
    expect(await acquire(`${p}rel`, id, 'kept')).toBe(true);
    await call('PUT', `/v1/session/destroy/${id}`);
    const e = await entry(`${p}rel`);
    expect(e.Session).toBeUndefined();
    expect(e.Value).toBe(btoa('kept'));
  });

  it('deletes the keys of a destroyed session with behavior delete', async () => {
    const id = await createSession({ LockDelay: '0s', Behavior: 'delete' });
    expect(await acquire(`${p}del`, id, 'gone')).toBe(true);
    await call('PUT', `/v1/session/destroy/${id}`);
    expect((await call('GET', `/v1/kv/${p}del`)).status).toBe(404);
  });

  it('holds a lock-delay on a key whose holder was invalidated', async () => {
    const holder = await createSession(); // default lock-delay: 15 s
    const next = await createSession();
    expect(await acquire(`${p}delayed`, holder)).toBe(true);
    await call('PUT', `/v1/session/destroy/${holder}`);
    expect(await acquire(`${p}delayed`, next)).toBe(false);
    // An explicit release sets no lock-delay.
    const third = await createSession();
    expect(await acquire(`${p}released`, third)).toBe(true);
    expect(await release(`${p}released`, third)).toBe(true);
    expect(await acquire(`${p}released`, next)).toBe(true);
  });

  it('invalidates a session when a check it names turns critical, releasing its keys', async () => {
    const checkId = `${p.slice(0, -1)}-check`;
    await call('PUT', '/v1/agent/check/register', {
      Name: checkId,
      CheckID: checkId,
      TTL: '30s',
      Status: 'passing',
    });
    try {
      const id = await createSession({ NodeChecks: ['serfHealth', checkId], LockDelay: '0s' });
      expect(await acquire(`${p}checked`, id)).toBe(true);
      await call('PUT', `/v1/agent/check/fail/${checkId}`);
      expect(await info(id)).toEqual([]);
      expect((await entry(`${p}checked`)).Session).toBeUndefined();
      const refused = await call('PUT', '/v1/session/create', { NodeChecks: [checkId] });
      expect(refused.status).toBe(500);
      expect(await refused.text()).toContain(`Check '${checkId}' is in critical state`);
    } finally {
      await call('PUT', `/v1/agent/check/deregister/${checkId}`);
    }
  });

  it('locks and checks sessions inside a transaction', async () => {
    const id = await createSession({ LockDelay: '0s' });
    const txn = (ops: unknown[]) => call('PUT', '/v1/txn', ops);
    const ok = await txn([
      { KV: { Verb: 'lock', Key: `${p}txn`, Value: btoa('t'), Session: id } },
      { KV: { Verb: 'check-session', Key: `${p}txn`, Session: id } },
    ]);
    expect(ok.status).toBe(200);
    expect(await entry(`${p}txn`)).toMatchObject({ Session: id, LockIndex: 1 });
    const other = await createSession({ LockDelay: '0s' });
    const refused = await txn([{ KV: { Verb: 'lock', Key: `${p}txn`, Session: other } }]);
    expect(refused.status).toBe(409);
    const unlocked = await txn([{ KV: { Verb: 'unlock', Key: `${p}txn`, Session: id } }]);
    expect(unlocked.status).toBe(200);
    expect((await entry(`${p}txn`)).Session).toBeUndefined();
  });
});
