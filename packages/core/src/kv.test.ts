import { randomUUID } from 'node:crypto';
import { startTestAgent, type TestAgent } from '@consul-watch/dev-server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConnection } from './connection';
import { ConsulHttp } from './consulHttp';
import { DecodeError, InvalidInputError, NotFoundError } from './errors';
import { KvClient } from './kv';

let agent: TestAgent;
let http: ConsulHttp;
let kv: KvClient;
const prefix = `test-kv-${randomUUID().slice(0, 8)}/`;

beforeAll(async () => {
  agent = await startTestAgent();
  http = new ConsulHttp(resolveConnection({ address: agent.address, prefix }));
  kv = new KvClient(http);
});

afterAll(async () => {
  await new KvClient(new ConsulHttp(resolveConnection({ address: agent.address })))
    .delete(prefix, { recurse: true })
    .catch(() => {});
  http.close();
  await agent.close();
});

describe('KvClient', () => {
  it("treats the client's prefix as a folder: 'app' and 'app/' both put 'db' at 'app/db'", async () => {
    const bare = new ConsulHttp(
      resolveConnection({ address: agent.address, prefix: `${prefix}folder` }),
    );
    const root = new ConsulHttp(resolveConnection({ address: agent.address }));
    try {
      await new KvClient(bare).put('db', 'one');
      expect(await new KvClient(root).getString(`${prefix}folder/db`)).toBe('one');
      expect(await new KvClient(root).getString(`${prefix}folderdb`)).toBeUndefined();
      expect((await new KvClient(bare).list('')).map((e) => e.key)).toEqual(['db']);
    } finally {
      bare.close();
      root.close();
    }
  });

  it('round-trips strings, bytes and JSON values', async () => {
    await kv.put('s', 'hello');
    await kv.put('b', Buffer.from([0, 255, 1, 128]));
    await kv.put('j.json', { db: { host: 'h1', port: 5432 } });
    expect(await kv.getString('s')).toBe('hello');
    expect(await kv.getBuffer('b')).toEqual(Buffer.from([0, 255, 1, 128]));
    expect(await kv.get('j.json')).toEqual({ db: { host: 'h1', port: 5432 } });
  });

  it('reads one field inside a JSON document stored at a key', async () => {
    await kv.put('settings', JSON.stringify({ db: { host: 'db.internal', replicas: ['a', 'b'] } }));
    expect(await kv.get('settings', 'db.host')).toBe('db.internal');
    expect(await kv.get('settings', 'db.replicas.1')).toBe('b');
    expect(await kv.get('settings', 'db.missing')).toBeUndefined();
  });

  it('decodes YAML by the key extension', async () => {
    await kv.put('conf.yaml', 'feature:\n  enabled: true\n');
    expect(await kv.get('conf.yaml')).toEqual({ feature: { enabled: true } });
  });

  it('returns undefined for a missing key, or NotFoundError when required', async () => {
    expect(await kv.get('nope')).toBeUndefined();
    await expect(kv.get('nope', undefined, { required: true })).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('names the key when a value is not the JSON it should be', async () => {
    await kv.put('broken.json', '{not json');
    const error = await kv.get('broken.json').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecodeError);
    expect((error as DecodeError).key).toBe('broken.json');
    expect((error as Error).message).toContain('broken.json');
    // A one-off read has no last good value to fall back on, so it does not promise one.
    expect((error as Error).message).not.toContain('last good value');
  });

  it('stores flags and honours cas on put and delete', async () => {
    expect(await kv.put('c', 'v1', { cas: 0, flags: 42 })).toBe(true);
    expect(await kv.put('c', 'v2', { cas: 0 })).toBe(false);
    const entry = await kv.getEntry('c');
    expect(entry?.flags).toBe(42);
    expect(await kv.put('c', 'v2', { cas: entry!.modifyIndex })).toBe(true);
    expect(await kv.delete('c', { cas: entry!.modifyIndex })).toBe(false);
    const again = await kv.getEntry('c');
    expect(await kv.delete('c', { cas: again!.modifyIndex })).toBe(true);
    expect(await kv.getEntry('c')).toBeUndefined();
  });

  it('lists entries and keys relative to the prefix, folders once with a separator', async () => {
    await kv.put('tree/a/1', '1');
    await kv.put('tree/a/2', '2');
    await kv.put('tree/b', 'b');
    expect((await kv.list('tree/')).map((e) => e.key)).toEqual(['tree/a/1', 'tree/a/2', 'tree/b']);
    expect(await kv.keys('tree/', { separator: '/' })).toEqual(['tree/a/', 'tree/b']);
    await kv.delete('tree/', { recurse: true });
    expect(await kv.list('tree/')).toEqual([]);
    expect(await kv.keys('tree/')).toEqual([]);
  });

  it('applies a transaction atomically, or none of it', async () => {
    const ok = await kv.txn([
      { verb: 'set', key: 'tx/1', value: 'one' },
      { verb: 'set', key: 'tx/2', value: { two: 2 } },
    ]);
    expect(ok.ok).toBe(true);
    expect(ok.results.map((e) => e.key)).toEqual(['tx/1', 'tx/2']);
    const failed = await kv.txn([
      { verb: 'set', key: 'tx/3', value: 'three' },
      { verb: 'check-not-exists', key: 'tx/1' },
    ]);
    expect(failed.ok).toBe(false);
    expect(failed.errors[0]?.opIndex).toBe(1);
    expect(await kv.getEntry('tx/3')).toBeUndefined();
  });

  it('rejects bad keys and oversize values before any request, naming the key', async () => {
    await expect(kv.put('', 'x')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(kv.put('/abs', 'x')).rejects.toThrow(/"\/abs" must not begin with '\/'/);
    await expect(kv.put('big', Buffer.alloc(512 * 1024 + 1))).rejects.toThrow(
      /"big" is 524289 bytes/,
    );
    await expect(kv.put('ctl\nkey', 'x')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(
      kv.txn(Array.from({ length: 129 }, (_, i) => ({ verb: 'delete' as const, key: `k${i}` }))),
    ).rejects.toThrow(/at most 128/);
    expect(await kv.put('max', Buffer.alloc(512 * 1024))).toBe(true);
  });
});
