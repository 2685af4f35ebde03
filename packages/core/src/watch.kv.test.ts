import { startDevServer } from '@consul-watch/dev-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, fixture, gate, record, uniquePrefix } from '../test/helpers';
import { createConsulWatch } from './consulWatch';

let f: Fixture;
beforeAll(async () => {
  f = await fixture();
});
afterAll(() => f.close());

describe('keyprefix watch', () => {
  it('delivers the first state, then a set with the previous value, then a delete', async () => {
    const prefix = uniquePrefix('kp');
    await f.client.kv.put(`${prefix}a`, '1');
    const watch = f.client.watch({ type: 'keyprefix', prefix });
    const r = record(watch);
    const first = await r.until((c) => c.initial);
    expect(first.changes.map((c) => [c.op, c.key])).toEqual([['set', `${prefix}a`]]);

    await f.client.kv.put(`${prefix}a`, '2');
    const set = await r.until((c) => !c.initial);
    expect(set.changes).toHaveLength(1);
    const change = set.changes[0]!;
    expect(change.op).toBe('set');
    if (change.op === 'set') {
      expect(change.entry.value.toString()).toBe('2');
      expect(change.previous?.value.toString()).toBe('1');
    }

    const before = r.changes.length;
    await f.client.kv.delete(`${prefix}a`);
    const del = await r.until(() => true, before);
    expect(del.changes).toEqual([expect.objectContaining({ op: 'delete', key: `${prefix}a` })]);
    expect(del.entries.size).toBe(0);
    await watch.stop();
  });

  it('keeps the entry objects of unchanged keys from one change to the next, and decodes only the changed one', async () => {
    const prefix = uniquePrefix('reuse');
    for (let i = 0; i < 50; i++) await f.client.kv.put(`${prefix}k${i}`, `v${i}`);
    const watch = f.client.watch({ type: 'keyprefix', prefix });
    const r = record(watch);
    const first = await r.until((c) => c.initial);
    await f.client.kv.put(`${prefix}k7`, 'changed');
    const next = await r.until((c) => !c.initial);
    expect(next.changes.map((c) => c.key)).toEqual([`${prefix}k7`]);
    for (const [key, entry] of next.entries) {
      if (key === `${prefix}k7`) {
        expect(entry).not.toBe(first.entries.get(key));
        expect(entry.value.toString()).toBe('changed');
      } else expect(entry).toBe(first.entries.get(key));
    }
    await watch.stop();
  });

  it('delivers nothing for writes outside the prefix or rewrites of the same bytes', async () => {
    const prefix = uniquePrefix('quiet');
    await f.client.kv.put(`${prefix}k`, 'same');
    const watch = f.client.watch({ type: 'keyprefix', prefix });
    const r = record(watch);
    await r.until((c) => c.initial);
    await f.client.kv.put(`${uniquePrefix('elsewhere')}x`, 'noise');
    await f.client.kv.put(`${prefix}k`, 'same'); // ModifyIndex moves, data does not
    await f.client.kv.put(`${prefix}marker`, 'm');
    const next = await r.until((c) => !c.initial);
    expect(next.changes.map((c) => c.key)).toEqual([`${prefix}marker`]);
    expect(r.changes).toHaveLength(2);
    await watch.stop();
  });

  it('coalesces changes for a slow subscriber into one change from what it saw last', async () => {
    const prefix = uniquePrefix('slow');
    const hold = gate();
    const seen: string[][] = [];
    const watch = f.client.watch({ type: 'keyprefix', prefix, initial: false }, async (change) => {
      seen.push(change.changes.map((c) => `${c.op}:${c.key.slice(prefix.length)}`));
      await hold.opened;
    });
    await watch.ready(5_000);
    await f.client.kv.put(`${prefix}1`, 'a');
    const fast = record(f.client.watch({ type: 'keyprefix', prefix, initial: false }));
    await fast.until((c) => c.entries.has(`${prefix}1`));
    for (const k of ['2', '3', '4']) await f.client.kv.put(`${prefix}${k}`, k);
    await f.client.kv.delete(`${prefix}1`);
    await fast.until((c) => c.entries.size === 3 && !c.entries.has(`${prefix}1`));
    hold.open();
    const done = record(watch);
    await done.until((c) => c.entries.size === 3);
    // The slow handler saw the first write, then one change with everything after it.
    expect(seen).toEqual([['set:1'], ['delete:1', 'set:2', 'set:3', 'set:4']]);
    await watch.stop();
  });
});

describe('key watch', () => {
  it('reports a missing key as an empty first state, then its creation and deletion', async () => {
    const key = `${uniquePrefix('key')}flag`;
    const r = record(f.client.watch({ type: 'key', key }));
    const first = await r.until((c) => c.initial);
    expect(first.entries.size).toBe(0);
    await f.client.kv.put(key, 'on');
    const created = await r.until((c) => c.entries.size === 1);
    expect(created.changes[0]).toMatchObject({ op: 'set', key });
    await f.client.kv.delete(key);
    const deleted = await r.until((c) => c.changes[0]?.op === 'delete');
    expect(deleted.entries.size).toBe(0);
  });

  it('watches a key with spaces, reserved and non-ASCII characters, in every consistency mode, and sends the datacenter', async () => {
    const prefix = uniquePrefix('odd key');
    const key = `${prefix}a b/ü?&#=%+`;
    for (const consistency of ['default', 'stale', 'consistent'] as const) {
      const r = record(f.client.watch({ type: 'key', key, consistency }));
      await r.until((c) => c.initial);
      await f.client.kv.put(key, consistency);
      const change = await r.until((c) => c.entries.get(key)?.value.toString() === consistency);
      expect(change.changes[0]).toMatchObject({ op: 'set', key });
      const under = record(f.client.watch({ type: 'keyprefix', prefix, consistency }));
      const first = await under.until((c) => c.initial);
      expect([...first.entries.keys()]).toEqual([key]);
    }
    const elsewhere = f.client.watch({
      type: 'keyprefix',
      prefix,
      datacenter: 'nowhere',
      backoff: { baseMs: 10, maxMs: 20 },
    });
    const error = await new Promise<Error>((resolve) => elsewhere.on('error', resolve));
    expect(error.message).toMatch(/keyprefix/);
    await elsewhere.stop();
  });

  it('applies the connection prefix to watched keys and reports keys relative to it', async () => {
    const prefix = uniquePrefix('withprefix');
    const scoped = (await import('../src/consulWatch')).createConsulWatch({
      address: f.agent.address,
      prefix,
    });
    const r = record(scoped.watch({ type: 'key', key: 'db/host' }));
    await r.until((c) => c.initial);
    await f.client.kv.put(`${prefix}db/host`, 'h1');
    const change = await r.until((c) => c.entries.has('db/host'));
    expect(change.changes[0]?.key).toBe('db/host');
    await scoped.close();
  });
});

describe('a watch and its connection', () => {
  it('re-parks on the connection its answer came on: one connection through the first answer and every change', async () => {
    // A dev-server of its own: the test counts the sockets open on it.
    const server = await startDevServer({ port: 0, host: '127.0.0.1' });
    const writer = createConsulWatch({ address: server.address });
    const client = createConsulWatch({ address: server.address });
    try {
      await writer.kv.put('conn/k', '0');
      const writers = server.stats.connections;
      const r = record(client.watch({ type: 'key', key: 'conn/k' }));
      await r.until((c) => c.initial);
      await server.whenParked(1);
      expect(server.stats.connections - writers).toBe(1);
      for (let i = 1; i <= 3; i++) {
        const before = r.changes.length;
        await writer.kv.put('conn/k', String(i));
        await r.until(() => true, before);
        await server.whenParked(1);
        expect(server.stats.connections - writers).toBe(1);
      }
    } finally {
      await client.close();
      await writer.close();
      await server.close();
    }
  });
});
