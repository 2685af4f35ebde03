import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevServer } from '@consul-watch/dev-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Fixture, fixture, gate, uniquePrefix } from '../test/helpers';
import { createConsulWatch } from './consulWatch';
import {
  ConfigValidationError,
  type ConsulWatchError,
  DecodeError,
  InvalidInputError,
  NotFoundError,
} from './errors';
import type { ConfigChangeEvent, LiveConfig } from './liveConfig';
import type { Logger } from './logger';

let f: Fixture;
let dir: string;
beforeAll(async () => {
  f = await fixture();
  dir = await mkdtemp(join(tmpdir(), 'cw-lkg-'));
});
afterAll(async () => {
  await f.close();
  await rm(dir, { recursive: true, force: true });
});
const closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c();
});

/** Resolves with the next config change event. */
/**
 * Writes `file` as a live config of `layer` with `flag` = `value` leaves it, on a dev-server
 * that is gone when this returns; resolves with the port it had, for a server to come back on.
 */
async function saveLastKnownGood(file: string, layer: string, value: string): Promise<number> {
  const dev = await startDevServer();
  const writer = createConsulWatch({ address: dev.address });
  await writer.kv.put(`${layer}flag`, value);
  const first = createConsulWatch({ address: dev.address });
  await first.liveConfig({ layers: [layer], lastKnownGoodFile: file }).ready(5_000);
  await first.close(); // closing waits for the file to be written
  await writer.close();
  await dev.close();
  return dev.port;
}

function nextChange<T>(config: LiveConfig<T>): Promise<ConfigChangeEvent<T>> {
  return new Promise((resolve) => {
    const listener = (event: ConfigChangeEvent<T>) => {
      config.off('change', listener);
      resolve(event);
    };
    config.on('change', listener);
  });
}

describe('live config', () => {
  it('layers shared, per-app and per-profile prefixes, later ones winning, as a nested frozen snapshot', async () => {
    const root = uniquePrefix('layers');
    const kv = f.client.kv;
    await kv.put(`${root}application/db/host`, 'shared-db');
    await kv.put(`${root}application/db/port`, '5432');
    await kv.put(`${root}application/log/level`, 'info');
    await kv.put(`${root}my-app/db/host`, 'app-db');
    await kv.put(`${root}my-app,prod/log/level`, 'warn');
    const config = f.client.liveConfig({
      layers: [`${root}application/`, `${root}my-app/`, `${root}my-app,prod/`],
    });
    const snapshot = await config.ready(5_000);
    expect(snapshot).toEqual({ db: { host: 'app-db', port: '5432' }, log: { level: 'warn' } });
    expect(Object.isFrozen(snapshot) && Object.isFrozen((snapshot as { db: object }).db)).toBe(
      true,
    );
    expect(config.get('db.host')).toBe('app-db');
    expect(config.get('db.missing', 'fallback')).toBe('fallback');
    expect(config.source).toBe('consul');
  });

  it('decodes JSON and YAML documents, by extension, in a tree and as a whole layer', async () => {
    const root = uniquePrefix('docs');
    await f.client.kv.put(`${root}base.yaml`, 'features:\n  beta: false\nlimits:\n  rps: 100\n');
    await f.client.kv.put(`${root}tree/flags.json`, '{"beta": true}');
    await f.client.kv.put(`${root}tree/name`, 'svc');
    const config = f.client.liveConfig({ layers: [`${root}base.yaml`, `${root}tree/`] });
    expect(await config.ready(5_000)).toEqual({
      features: { beta: false },
      limits: { rps: 100 },
      flags: { beta: true },
      name: 'svc',
    });
  });

  it('decodes extensionless tree values as JSON when asked, or automatically', async () => {
    const root = uniquePrefix('fmt');
    await f.client.kv.put(`${root}port`, '8080');
    await f.client.kv.put(`${root}name`, 'plain text');
    const auto = f.client.liveConfig({ layers: [root], format: 'auto' });
    expect(await auto.ready(5_000)).toEqual({ port: 8080, name: 'plain text' });
    const text = f.client.liveConfig({ layers: [root] });
    expect(await text.ready(5_000)).toEqual({ port: '8080', name: 'plain text' });
  });

  it('subscribe(path) fires only when that path decoded value changed', async () => {
    const root = uniquePrefix('sub');
    await f.client.kv.put(`${root}db/host`, 'h1');
    await f.client.kv.put(`${root}feature/x`, 'off');
    const config = f.client.liveConfig({ layers: [root] });
    await config.ready(5_000);
    const db: unknown[] = [];
    const feature: unknown[] = [];
    config.subscribe('db', (v) => db.push(v));
    config.subscribe('feature.x', (v, prev) => feature.push([prev, v]));
    let change = nextChange(config);
    await f.client.kv.put(`${root}feature/x`, 'on');
    expect((await change).paths).toEqual(['feature.x']);
    change = nextChange(config);
    await f.client.kv.put(`${root}db/host`, 'h1'); // same bytes: nothing changes
    await f.client.kv.put(`${root}db/host`, 'h2');
    expect((await change).paths).toEqual(['db.host']);
    expect(feature).toEqual([['off', 'on']]);
    expect(db).toEqual([{ host: 'h2' }]);
  });

  it('keeps the last good value of a key whose value stops decoding, and names the key', async () => {
    const root = uniquePrefix('bad');
    await f.client.kv.put(`${root}settings.json`, '{"a": 1}');
    const config = f.client.liveConfig({ layers: [root] });
    await config.ready(5_000);
    const errors: ConsulWatchError[] = [];
    config.on('error', (e) => errors.push(e));
    const failed = new Promise<void>((resolve) => config.on('error', () => resolve()));
    await f.client.kv.put(`${root}settings.json`, '{"a": 2');
    await failed;
    expect(errors[0]).toBeInstanceOf(DecodeError);
    expect(errors[0]?.message).toContain(`${root}settings.json`);
    expect(config.get('settings.a')).toBe(1);
    const change = nextChange(config);
    await f.client.kv.put(`${root}settings.json`, '{"a": 3}');
    await change;
    expect(config.get('settings.a')).toBe(3);
  });

  it('validates with a Standard Schema (zod): an invalid update is reported and the last valid config stays', async () => {
    const root = uniquePrefix('schema');
    await f.client.kv.put(`${root}port`, '8080');
    const schema = z.object({
      port: z.coerce.number().int().min(1).max(65535),
      name: z.string().default('svc'),
    });
    const config = f.client.liveConfig({ layers: [root], schema });
    const first = await config.ready(5_000);
    expect(first).toEqual({ port: 8080, name: 'svc' });
    const invalid = new Promise<ConsulWatchError>((resolve) => config.on('error', resolve));
    await f.client.kv.put(`${root}port`, 'not-a-port');
    const error = await invalid;
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).issues[0]?.path).toBe('port');
    expect(config.snapshot).toEqual({ port: 8080, name: 'svc' });
    const change = nextChange(config);
    await f.client.kv.put(`${root}port`, '9090');
    await change;
    expect(config.get('port')).toBe(9090);
  });

  it('ready(timeout) rejects with a TimeoutError naming the layers when nothing arrives', async () => {
    const dead = createConsulWatch({
      address: '127.0.0.1:1',
      watch: { backoff: { baseMs: 5, maxMs: 10 } },
    });
    closing.push(() => dead.close());
    const config = dead.liveConfig({ layers: ['cfg/'] });
    config.on('error', () => {});
    await expect(config.ready(100)).rejects.toThrow(
      /cfg\/ not ready within 100 ms.*cannot reach Consul/,
    );
  });

  it('starts on the last-known-good file when Consul is unreachable, says so, and catches up when Consul returns', async () => {
    const file = join(dir, 'lkg.json');
    const port = await saveLastKnownGood(file, 'app/', 'on');
    expect(JSON.parse(await readFile(file, 'utf8')).config).toEqual({ flag: 'on' });

    const lines: string[] = [];
    const logger: Logger = {
      debug() {},
      info: (m) => lines.push(m),
      warn: (m) => lines.push(m),
      error() {},
    };
    const client = createConsulWatch({
      address: `127.0.0.1:${port}`,
      logger,
      watch: { backoff: { baseMs: 5, maxMs: 20 } },
    });
    closing.push(() => client.close());
    const config = client.liveConfig({ layers: ['app/'], lastKnownGoodFile: file });
    config.on('error', () => {});
    expect(await config.ready(5_000)).toEqual({ flag: 'on' });
    expect(config.source).toBe('cache');
    expect(lines.some((l) => l.includes('last-known-good') && l.includes(file))).toBe(true);

    const back = await startDevServer({ port });
    closing.push(() => back.close());
    const caught = nextChange(config);
    const again = createConsulWatch({ address: back.address });
    await again.kv.put('app/flag', 'off');
    await again.close();
    expect((await caught).source).toBe('consul');
    expect(config.get('flag')).toBe('off');
    expect(lines.some((l) => l.includes('caught up'))).toBe(true);
  });

  it('keeps the config from Consul when a schema finishes checking the last-known-good file after it', async () => {
    const file = join(dir, 'lkg-late.json');
    const port = await saveLastKnownGood(file, 'late/', 'cached');

    // The first check (the file's) is held until Consul's config is in; later ones pass at once.
    const held = gate();
    const fileChecked = gate();
    const fileCheckStarted = gate();
    let checks = 0;
    const schema = {
      '~standard': {
        version: 1 as const,
        vendor: 'test',
        validate: async (value: unknown) => {
          checks += 1;
          if (checks === 1) {
            fileCheckStarted.open();
            await held.opened;
            fileChecked.open();
          }
          return { value: value as { flag: string } };
        },
      },
    };
    const client = createConsulWatch({
      address: `127.0.0.1:${port}`,
      watch: { backoff: { baseMs: 5, maxMs: 20 } },
    });
    closing.push(() => client.close());
    const config = client.liveConfig({ layers: ['late/'], lastKnownGoodFile: file, schema });
    config.on('error', () => {});
    await fileCheckStarted.opened;

    const back = await startDevServer({ port });
    closing.push(() => back.close());
    const again = createConsulWatch({ address: back.address });
    await again.kv.put('late/flag', 'consul');
    await again.close();
    expect(await config.ready(5_000)).toEqual({ flag: 'consul' });

    held.open();
    await fileChecked.opened;
    // Every microtask of the file's check has run before the next turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    expect(config.source).toBe('consul');
    expect(config.get('flag')).toBe('consul');
  });

  it('refuses a document layer that does not hold an object', async () => {
    const key = `${uniquePrefix('doc')}list.json`;
    await f.client.kv.put(key, '[1,2]');
    const config = f.client.liveConfig({ layers: [key] });
    const error = await new Promise<ConsulWatchError>((resolve) => config.on('error', resolve));
    expect(error.message).toMatch(/must hold a JSON object/);
  });
});

it('reports a corrupt last-known-good file, does not use it, and leaves it as it was', async () => {
  const file = join(dir, 'corrupt.json');
  await writeFile(file, 'not json');
  const lines: string[] = [];
  const reported = gate();
  const logger: Logger = {
    debug() {},
    info() {},
    error() {},
    warn: (m) => {
      lines.push(m);
      if (m.includes('cannot be used')) reported.open();
    },
  };
  const dead = createConsulWatch({
    address: '127.0.0.1:1',
    logger,
    watch: { backoff: { baseMs: 5, maxMs: 10 } },
  });
  const config = dead.liveConfig({ layers: ['x/'], lastKnownGoodFile: file });
  config.on('error', () => {});
  await reported.opened;
  expect(config.snapshot).toBeUndefined();
  expect(config.source).toBe('none');
  await dead.close();
  expect(await readFile(file, 'utf8')).toBe('not json');
});

describe('live config settle', () => {
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('applies a burst of writes as one change once quiet for minMs, without holding back ready()', async () => {
    const root = uniquePrefix('settle');
    await f.client.kv.put(`${root}n`, '0');
    // A quiet time far beyond ready()'s bound: the first config is not held back by it.
    const patient = f.client.liveConfig({ layers: [root], settle: { minMs: 60_000 } });
    closing.push(() => patient.close());
    expect(await patient.ready(2_000)).toEqual({ n: '0' });

    const config = f.client.liveConfig({ layers: [root], settle: { minMs: 150 } });
    closing.push(() => config.close());
    await config.ready(5_000);
    const events: ConfigChangeEvent<unknown>[] = [];
    config.on('change', (e) => events.push(e));
    const first = nextChange(config);
    for (let i = 1; i <= 6; i++) {
      await f.client.kv.put(`${root}n`, String(i));
      await f.client.kv.put(`${root}m${i}`, 'x');
      await pause(20);
    }
    const burst = await first;
    expect(burst.snapshot).toMatchObject({ n: '6', m1: 'x', m6: 'x' });
    expect(burst.previous).toEqual({ n: '0' });
    expect(burst.paths.sort()).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'n']);
    // The next write is a burst of its own: nothing of the first was left over.
    const next = nextChange(config);
    await f.client.kv.put(`${root}n`, '7');
    expect((await next).paths).toEqual(['n']);
    expect(events).toHaveLength(2);
  });

  it('applies a burst that never quietens maxMs after its first change', async () => {
    const root = uniquePrefix('settle-max');
    await f.client.kv.put(`${root}n`, '0');
    const config = f.client.liveConfig({ layers: [root], settle: { minMs: 150, maxMs: 400 } });
    closing.push(() => config.close());
    await config.ready(5_000);
    let applied = 0;
    config.on('change', () => applied++);
    const started = performance.now();
    let i = 0;
    while (applied === 0 && performance.now() - started < 5_000) {
      await f.client.kv.put(`${root}n`, String(++i));
      await pause(30);
    }
    const took = performance.now() - started;
    expect(applied).toBe(1);
    expect(took).toBeGreaterThanOrEqual(380);
    expect(took).toBeLessThan(1_000);
  });

  it('refuses a settle that is not { minMs, maxMs? }, naming it', () => {
    const client = f.client;
    expect(() => client.liveConfig({ layers: ['a/'], settle: 500 } as never)).toThrow(
      new InvalidInputError(
        'liveConfig settle must be an object such as { minMs: 500, maxMs: 2000 }, got 500',
      ),
    );
    expect(() => client.liveConfig({ layers: ['a/'], settle: { minMs: 200, maxMs: 100 } })).toThrow(
      'liveConfig settle.maxMs must be a whole number of milliseconds from minMs (200) to 3600000, got 100',
    );
    expect(() => client.liveConfig({ layers: ['a/'], setle: { minMs: 1 } } as never)).toThrow(
      "liveConfig: unknown option 'setle': did you mean 'settle'?",
    );
  });
});

describe('live config caughtUp', () => {
  it("tells when the config has taken in a watch's change: at once, after settling, or on close", async () => {
    const root = uniquePrefix('caught-up');
    await f.client.kv.put(`${root}app/n`, '0');
    await f.client.kv.put(`${root}doc.json`, '{"a":1}');
    const config = f.client.liveConfig({
      layers: [`${root}app/`, `${root}doc.json`],
      settle: { minMs: 200 },
    });
    closing.push(() => config.close());
    await config.ready(5_000);
    // A watch of its own on a key of the first layer: a separate blocking query.
    const changes: { index: string; keys: string[] }[] = [];
    let told = () => {};
    const watch = f.client.watch({ type: 'key', key: `${root}app/n` }, (change) => {
      changes.push({ index: change.index, keys: change.changes.map((c) => c.key) });
      told();
    });
    closing.push(() => watch.stop());
    await watch.ready();
    const first = changes[0]!;
    // The state the config started from is taken in: no promise, no tick.
    expect(config.caughtUp(first.index, first.keys)).toBeUndefined();
    // Keys no layer holds: nothing to wait for.
    expect(config.caughtUp('999999999', [`${root}other`, `${root}doc.json/x`])).toBeUndefined();

    const heard = new Promise<void>((resolve) => {
      told = resolve;
    });
    await f.client.kv.put(`${root}app/n`, '1');
    await heard;
    const change = changes.at(-1)!;
    const waiting = config.caughtUp(change.index, change.keys);
    // settle holds the config back, so the watch is ahead of it.
    expect(waiting).toBeInstanceOf(Promise);
    expect(config.snapshot).toMatchObject({ n: '0' });
    await waiting;
    expect(config.snapshot).toMatchObject({ n: '1' });
    expect(config.caughtUp(change.index, change.keys)).toBeUndefined();

    // A document layer holds its key only; an index beyond anything pending waits until close().
    const pending = config.caughtUp('999999999', [`${root}doc.json`]);
    expect(pending).toBeInstanceOf(Promise);
    await config.close();
    await pending;
  });
});

describe('live config layers', () => {
  it('reads a { prefix } layer as a folder: its name with or without the slash, never a sibling folder', async () => {
    const prefix = uniquePrefix('folder');
    await f.client.kv.put(`${prefix}cfg/level`, 'info');
    await f.client.kv.put(`${prefix}cfg2/level`, 'sibling');
    const config = f.client.liveConfig({ layers: [{ prefix: `${prefix}cfg` }] });
    closing.push(() => config.close());
    expect(await config.ready(5_000)).toEqual({ level: 'info' });
  });
});

describe('live config at scale', () => {
  it('a change to one of 1,000 keys calls only that path’s subscribers and keeps every unchanged subtree', async () => {
    const prefix = uniquePrefix('thousand');
    const ops = Array.from({ length: 1_000 }, (_, i) => ({
      verb: 'set' as const,
      key: `${prefix}svc${Math.floor(i / 10)}/k${i % 10}`,
      value: `v${i}`,
    }));
    for (let i = 0; i < ops.length; i += 100) await f.client.kv.txn(ops.slice(i, i + 100));
    const config = f.client.liveConfig({ layers: [prefix] });
    closing.push(() => config.close());
    const first = (await config.ready(5_000)) as Record<string, Record<string, string>>;
    const called: string[] = [];
    for (let s = 0; s < 100; s++)
      for (let k = 0; k < 10; k++)
        config.subscribe(`svc${s}.k${k}`, () => called.push(`svc${s}.k${k}`));
    config.subscribe('svc42', () => called.push('svc42'));
    const changed = nextChange(config);
    await f.client.kv.put(`${prefix}svc42/k3`, 'new');
    const event = await changed;
    expect(event.paths).toEqual(['svc42.k3']);
    expect(called.sort()).toEqual(['svc42', 'svc42.k3']);
    const next = event.snapshot as Record<string, Record<string, string>>;
    expect(next.svc42).toEqual({ ...first.svc42, k3: 'new' });
    for (let s = 0; s < 100; s++) if (s !== 42) expect(next[`svc${s}`]).toBe(first[`svc${s}`]);
    expect(Object.isFrozen(next) && Object.isFrozen(next.svc42)).toBe(true);
  });

  it('a schema that builds new objects still leaves every unchanged subtree its identity', async () => {
    const prefix = uniquePrefix('schema-share');
    await f.client.kv.put(`${prefix}db/host`, 'a');
    await f.client.kv.put(`${prefix}log/level`, 'info');
    const schema = z.object({
      db: z.object({ host: z.string() }),
      log: z.object({ level: z.string() }),
    });
    const config = f.client.liveConfig({ layers: [prefix], schema });
    closing.push(() => config.close());
    const first = await config.ready(5_000);
    const changed = nextChange(config);
    await f.client.kv.put(`${prefix}log/level`, 'debug');
    const { snapshot } = await changed;
    expect(snapshot.log.level).toBe('debug');
    expect(snapshot.db).toBe(first.db);
  });
});

/** A logger that keeps its warnings and lets a test await one that matches. */
function warnings() {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const logger: Logger = {
    debug() {},
    info() {},
    warn(message) {
      lines.push(message);
      for (const w of [...waiters]) w();
    },
    error() {},
  };
  const until = (match: RegExp, timeoutMs = 5_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.find((l) => match.test(l));
        if (found === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `no warning matching ${match} within ${timeoutMs} ms; got ${JSON.stringify(lines)}`,
          ),
        );
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { lines, logger, until };
}

describe('live config: layers that read as nothing speak', () => {
  it('a key layer without its trailing slash, over a folder of keys, says which folder was meant, once', async () => {
    const root = uniquePrefix('noslash');
    await f.client.kv.put(`${root}my-app/greeting`, 'hi');
    const said = warnings();
    const client = createConsulWatch({ address: f.agent.address, logger: said.logger });
    closing.push(() => client.close());
    const config = client.liveConfig({ layers: [`${root}my-app`] });
    expect(await config.ready(5_000)).toEqual({});
    const line = await said.until(/did you mean/);
    expect(line).toContain(`layer '${root}my-app' is absent`);
    expect(line).toContain(`did you mean the folder '${root}my-app/'?`);
    // A later change of another layer's key says nothing more.
    await f.client.kv.put(`${root}my-app/greeting`, 'hello');
    await f.client.kv.put(`${root}my-app`, '{"a":1}');
    await config.ready();
    expect(said.lines.filter((l) => l.includes('is absent'))).toHaveLength(1);
  });

  it('an absent optional layer is a warning naming it; the config is ready on the others', async () => {
    const root = uniquePrefix('optional');
    await f.client.kv.put(`${root}base/port`, '80');
    const said = warnings();
    const client = createConsulWatch({ address: f.agent.address, logger: said.logger });
    closing.push(() => client.close());
    const config = client.liveConfig({ layers: [`${root}base/`, `${root}override/`] });
    expect(await config.ready(5_000)).toEqual({ port: '80' });
    const line = await said.until(/is absent/);
    expect(line).toContain(`layer '${root}override/' is absent (no key under the prefix`);
    expect(line).toContain('required: true');
    expect(said.lines.some((l) => l.includes(`'${root}base/'`))).toBe(false);
  });

  it('without a logger, the absent layer is said on stderr', async () => {
    const root = uniquePrefix('stderr');
    const written: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      const client = createConsulWatch({ address: f.agent.address });
      closing.push(() => client.close());
      await client.liveConfig({ layers: [`${root}nothing.json`] }).ready(5_000);
      await client.kv.get(`${root}nothing.json`); // one round trip: the hint's probe has answered too
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.stderr.write = write;
    }
    expect(written.join('')).toContain(`layer '${root}nothing.json' is absent`);
  });

  it('a required layer that is absent fails ready() with a NotFoundError naming it, and is ready once it is written', async () => {
    const root = uniquePrefix('required');
    await f.client.kv.put(`${root}app/x`, '1');
    const said = warnings();
    const client = createConsulWatch({ address: f.agent.address, logger: said.logger });
    closing.push(() => client.close());
    const config = client.liveConfig({ layers: [{ key: `${root}app`, required: true }] });
    const error = (await config.ready(5_000).catch((e: unknown) => e)) as ConsulWatchError;
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.message).toContain(`required layer '${root}app' is absent`);
    expect(error.message).toContain(`did you mean the folder '${root}app/'?`);
    // Asked again while it is absent: the same answer at once, not a wait.
    await expect(config.ready()).rejects.toBe(error);
    const readyNow = new Promise<void>((resolve) => config.on('ready', resolve));
    await f.client.kv.put(`${root}app`, '{"x":2}');
    await readyNow;
    await expect(config.ready()).resolves.toEqual({ x: 2 });
  });

  it('a required layer deleted later keeps the last config and reports it', async () => {
    const root = uniquePrefix('required-later');
    await f.client.kv.put(`${root}base.json`, '{"a":1}');
    await f.client.kv.put(`${root}app.json`, '{"b":2}');
    const client = createConsulWatch({ address: f.agent.address });
    closing.push(() => client.close());
    const config = client.liveConfig({
      layers: [`${root}base.json`, { key: `${root}app.json`, required: true }],
    });
    const errors: ConsulWatchError[] = [];
    const reported = new Promise<void>((resolve) =>
      config.on('error', (e) => {
        errors.push(e);
        resolve();
      }),
    );
    expect(await config.ready(5_000)).toEqual({ a: 1, b: 2 });
    await f.client.kv.delete(`${root}app.json`);
    await reported;
    expect(errors[0]).toBeInstanceOf(NotFoundError);
    expect(config.snapshot).toEqual({ a: 1, b: 2 });
  });

  it('refuses unknown option names, strings as timeouts and layers that are not a list, naming them', async () => {
    const client = f.client;
    expect(() => client.liveConfig({ layers: ['a/'], fromat: 'json' } as never)).toThrow(
      new InvalidInputError("liveConfig: unknown option 'fromat': did you mean 'format'?"),
    );
    expect(() => client.liveConfig({ layers: 'a/' } as never)).toThrow(
      new InvalidInputError(
        `liveConfig needs at least one layer, such as { layers: ['config/my-app/'] }; got "a/"`,
      ),
    );
    expect(() => client.liveConfig({ layers: [{ key: 'a', requird: true }] } as never)).toThrow(
      "liveConfig layer 0: unknown option 'requird': did you mean 'required'?",
    );
    expect(() => client.liveConfig({ layers: [{ key: 'a', prefix: 'b/' }] } as never)).toThrow(
      'needs either prefix (a folder of keys) or key (one JSON/YAML document), not both',
    );
    const config = client.liveConfig({ layers: [uniquePrefix('ready')] });
    closing.push(() => config.close());
    await expect(config.ready('3000' as never)).rejects.toThrow(
      'timeoutMs must be a number of milliseconds, 0 or more, got "3000"',
    );
  });
});
