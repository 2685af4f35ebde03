import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/index';
import { call, type Sent } from './helpers';

let dir: string;
let file: string;
const open: DevServer[] = [];
const agents: Agent[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'consul-dev-persist-'));
  file = join(dir, 'state.json');
});
afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  for (const dev of open.splice(0)) await dev.close();
  await rm(dir, { recursive: true, force: true });
});

async function start(): Promise<DevServer> {
  const errors: Error[] = [];
  const dev = await startDevServer({ dataFile: file, onError: (e) => errors.push(e) });
  open.push(dev);
  return dev;
}

async function stop(dev: DevServer): Promise<void> {
  await dev.close();
  open.splice(open.indexOf(dev), 1);
}

const http = (dev: DevServer, sent: Sent) => call({ port: dev.port, agent: false }, sent);

describe('dataFile', () => {
  it('keeps KV (bytes, flags, indexes), services, TTL checks and events across close() and a restart', async () => {
    const first = await start();
    const value = Buffer.from([0, 255, 1, 128, 10]);
    await http(first, {
      method: 'PUT',
      path: `/v1/kv/p/bin?flags=18446744073709551615`,
      body: value,
    });
    await http(first, { method: 'PUT', path: '/v1/kv/p/gone', body: 'x' });
    await http(first, { method: 'DELETE', path: '/v1/kv/p/gone' });
    const reg = await http(first, {
      method: 'PUT',
      path: '/v1/agent/service/register',
      body: JSON.stringify({ Name: 'api', ID: 'api-1', Port: 9000, Check: { TTL: '1h' } }),
    });
    expect(reg.status).toBe(200);
    expect(
      (await http(first, { method: 'PUT', path: '/v1/agent/check/pass/service:api-1' })).status,
    ).toBe(200);
    const event = JSON.parse(
      (
        await http(first, { method: 'PUT', path: '/v1/event/fire/ship', body: 'v2' })
      ).body.toString(),
    );
    const before = await http(first, { method: 'GET', path: '/v1/kv/p/?recurse' });
    const beforeIndex = BigInt(before.headers['x-consul-index'] as string);
    await stop(first);
    expect(await readdir(dir)).toEqual(['state.json']);

    const second = await start();
    const after = await http(second, { method: 'GET', path: '/v1/kv/p/?recurse' });
    expect(after.body.toString()).toBe(before.body.toString());
    // The prefix index includes the tombstone of p/gone: it must not go backwards.
    expect(BigInt(after.headers['x-consul-index'] as string)).toBe(beforeIndex);
    const [entry] = JSON.parse(after.body.toString());
    expect(Buffer.from(entry.Value, 'base64').equals(value)).toBe(true);
    expect(after.body.toString()).toContain('"Flags":18446744073709551615');
    // A new write continues the index, never reuses one.
    await http(second, { method: 'PUT', path: '/v1/kv/p/new', body: 'n' });
    const next = await http(second, { method: 'GET', path: '/v1/kv/p/new' });
    expect(BigInt(next.headers['x-consul-index'] as string)).toBeGreaterThan(beforeIndex);
    const health = JSON.parse(
      (
        await http(second, { method: 'GET', path: '/v1/health/service/api?passing' })
      ).body.toString(),
    );
    expect(health).toHaveLength(1);
    expect(health[0].Service).toMatchObject({ ID: 'api-1', Port: 9000 });
    const events = JSON.parse(
      (await http(second, { method: 'GET', path: '/v1/event/list' })).body.toString(),
    );
    expect(events.map((e: { ID: string }) => e.ID)).toEqual([event.ID]);
    await stop(second);
  });

  it('is valid JSON whenever it is read during a burst of writes (never torn), and leaves no .tmp behind', async () => {
    const dev = await start();
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    agents.push(agent);
    const big = 'v'.repeat(4_096);
    let writing = true;
    let reads = 0;
    const torn: string[] = [];
    const reader = (async () => {
      while (writing) {
        let text: string;
        try {
          text = await readFile(file, 'utf8');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT' && reads === 0) continue;
          throw error;
        }
        reads++;
        try {
          expect(JSON.parse(text).version).toBe(1);
        } catch {
          torn.push(`${text.length} bytes: …${text.slice(-60)}`);
        }
      }
    })();
    let next = 0;
    const total = 1_500;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < total) {
          const i = next++;
          const put = await call(
            { port: dev.port, agent },
            { method: 'PUT', path: `/v1/kv/burst/${i % 300}`, body: `${i}:${big}` },
          );
          expect(put.body.toString()).toBe('true');
        }
      }),
    );
    writing = false;
    await reader;
    expect(torn).toEqual([]);
    expect(reads).toBeGreaterThan(3);
    await stop(dev);
    expect(await readdir(dir)).toEqual(['state.json']);
    // close() flushed the last write.
    const saved = JSON.parse(await readFile(file, 'utf8'));
    expect(JSON.stringify(saved)).toContain(
      Buffer.from(`${total - 1}:${big}`)
        .toString('base64')
        .slice(0, 40),
    );
  });

  it.each([
    ['truncated JSON', '{"version":1,"index":4,"kv":{"entries":[['],
    ['an empty file', ''],
    ['binary garbage', '\u0000\u00ff\u00fe garbage'],
    ['JSON null', 'null'],
    ['another program’s JSON', '{"name":"package","version":"1.0.0"}'],
    ['a data file with missing parts', '{"version":1,"index":3}'],
    [
      'a data file with a broken entry',
      JSON.stringify({
        version: 1,
        index: 3,
        kv: { tableIndex: 1, entries: [null], tombstones: [] },
        catalog: { tables: {}, serviceIndexes: [], nodes: [], services: [], checks: [] },
        events: { ltime: 0, events: [] },
        ttlChecks: [],
      }),
    ],
  ])('refuses to start on %s, naming the file and what to do', async (_, content) => {
    await writeFile(file, content);
    const error = await startDevServer({ dataFile: file }).then(
      (dev) => {
        open.push(dev);
        throw new Error('started on a corrupt data file');
      },
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/delete|remove|move/i);
    // The file is left as it was, for the user to look at.
    expect(await readFile(file, 'utf8')).toBe(content);
  });
});
