import 'reflect-metadata';
import { type ConsulWatch, createConsulWatch, type WatchChange } from '@consul-watch/core';
import { startTestAgent, type TestAgent } from '@consul-watch/dev-server/testing';
import { Injectable, type LoggerService, Module, Scope } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test, type TestingModule } from '@nestjs/testing';
import { firstValueFrom, take } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConsulConfigService,
  ConsulHealthError,
  ConsulHealthIndicator,
  ConsulModule,
  ConsulRegistration,
  ConsulService,
  ConsulValue,
  InjectConsul,
  OnConsulChange,
} from '../src/index';

let agent: TestAgent;
let kv: ConsulWatch;
const apps: TestingModule[] = [];
beforeAll(async () => {
  agent = await startTestAgent();
  kv = createConsulWatch({ address: agent.address });
});
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});
afterAll(async () => {
  await kv.close();
  await agent.close();
});

const unique = (label: string) => `cw-nest/${label}-${Math.random().toString(36).slice(2, 8)}/`;
const put = (path: string, body: unknown) =>
  fetch(`${agent.url}${path}`, {
    method: 'PUT',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { connection: 'close' },
  });

/** Collects calls and lets a test await one that matches. */
class Calls {
  readonly seen: [string, WatchChange][] = [];
  private readonly waiters = new Set<() => void>();
  add(label: string, change: WatchChange) {
    this.seen.push([label, change]);
    for (const w of [...this.waiters]) w();
  }
  until(match: (label: string, change: WatchChange) => boolean): Promise<WatchChange> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching call; got ${this.seen.map(([l]) => l).join(', ')}`)),
        5_000,
      );
      const check = () => {
        const found = this.seen.find(([l, c]) => match(l, c));
        if (!found) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(found[1]);
      };
      this.waiters.add(check);
      check();
    });
  }
}

async function start(
  options: Parameters<typeof ConsulModule.forRoot>[0],
  providers: unknown[] = [],
  logger?: LoggerService,
) {
  const builder = Test.createTestingModule({
    imports: [ConsulModule.forRoot(options)],
    providers: providers as never[],
  });
  const app = await builder.compile();
  if (logger) app.useLogger(logger);
  apps.push(app);
  await app.init();
  return app;
}

describe('ConsulModule', () => {
  it('waits at bootstrap for the first config and serves it through ConsulConfigService', async () => {
    const prefix = unique('config');
    await kv.kv.put(`${prefix}db/pool/size`, '10');
    const app = await start({ address: agent.address, config: { prefix, format: 'auto' } });
    const config = app.get(ConsulConfigService);
    expect(config.get('db.pool.size')).toBe(10);
    expect(config.get('missing', 'fallback')).toBe('fallback');
    const next = firstValueFrom(config.changes$.pipe(take(1)));
    await kv.kv.put(`${prefix}db/pool/size`, '20');
    expect((await next).paths).toEqual(['db.pool.size']);
    expect(config.snapshot()).toEqual({ db: { pool: { size: 20 } } });
  });

  it('passes config.settle to its live config: a burst of writes is one change', async () => {
    const prefix = unique('settle');
    await kv.kv.put(`${prefix}n`, '0');
    const app = await start({ address: agent.address, config: { prefix, settle: { minMs: 150 } } });
    const config = app.get(ConsulConfigService);
    const changes: string[][] = [];
    config.config.on('change', (e) => changes.push(e.paths));
    const next = firstValueFrom(config.changes$.pipe(take(1)));
    for (let i = 1; i <= 5; i++) {
      await kv.kv.put(`${prefix}n`, String(i));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await next;
    expect(config.get('n')).toBe('5');
    const after = firstValueFrom(config.changes$.pipe(take(1)));
    await kv.kv.put(`${prefix}m`, 'x');
    await after;
    expect(changes).toEqual([['n'], ['m']]);
  });

  it('keeps the last valid config when an update fails its schema', async () => {
    const prefix = unique('schema');
    await kv.kv.put(`${prefix}port`, '8080');
    const app = await start({
      address: agent.address,
      config: { prefix, schema: z.object({ port: z.coerce.number().int().positive() }) },
    });
    const config = app.get(ConsulConfigService);
    const invalid = new Promise((resolve) => config.config.on('error', resolve));
    await kv.kv.put(`${prefix}port`, 'not-a-port');
    await invalid;
    expect(config.get('port')).toBe(8080);
  });

  it('fails bootstrap when the first config does not come in time, or starts anyway when told to', async () => {
    const failing = Test.createTestingModule({
      imports: [
        ConsulModule.forRoot({
          address: '127.0.0.1:1',
          config: { prefix: 'x/', readyTimeoutMs: 100 },
        }),
      ],
    });
    const app = await failing.compile();
    app.useLogger(false);
    await expect(app.init()).rejects.toThrow(/not ready within 100 ms/);
    await app.close();
    const starting = await start(
      {
        address: '127.0.0.1:1',
        config: { prefix: 'x/', readyTimeoutMs: 50, onUnavailable: 'start' },
      },
      [],
      { log() {}, error() {}, warn() {} },
    );
    expect(starting.get(ConsulConfigService).snapshot()).toBeUndefined();
  });

  it('forRootAsync takes its options from @nestjs/config ConfigService', async () => {
    const prefix = unique('async');
    await kv.kv.put(`${prefix}greeting`, 'hello');
    const app = await Test.createTestingModule({
      imports: [
        ConsulModule.forRootAsync({
          imports: [
            ConfigModule.forRoot({
              ignoreEnvFile: true,
              // The folder named without its trailing slash, as Spring Cloud Consul users write it.
              load: [() => ({ consul: { address: agent.address, prefix: prefix.slice(0, -1) } })],
            }),
          ],
          inject: [ConfigService],
          useFactory: (env: ConfigService) => ({
            address: env.getOrThrow<string>('consul.address'),
            config: { prefix: env.getOrThrow<string>('consul.prefix') },
          }),
        }),
      ],
    }).compile();
    apps.push(app);
    await app.init();
    expect(app.get(ConsulConfigService).get('greeting')).toBe('hello');
    expect(await app.get(ConsulService).kv.put(`${prefix}k`, 'v')).toBe(true);
  });
});

describe('@OnConsulChange', () => {
  it('calls each decorated method with the typed change of its watch, sharing identical watches', async () => {
    const prefix = unique('decorators');
    const name = prefix.split('/')[1]!.replace(/[^a-z0-9-]/g, '');
    const calls = new Calls();
    @Injectable()
    class Listener {
      constructor(@InjectConsul() readonly consul: ConsulWatch) {}
      @OnConsulChange({ key: `${prefix}flag` })
      onKey(c: WatchChange) {
        calls.add('key', c);
      }
      @OnConsulChange({ prefix })
      @OnConsulChange({ event: `${name}-deploy` })
      onPrefixOrEvent(c: WatchChange) {
        calls.add(c.type, c);
      }
      @OnConsulChange({ prefix })
      alsoPrefix(c: WatchChange) {
        calls.add('prefix-again', c);
      }
      @OnConsulChange({ service: name, passingOnly: true })
      onService(c: WatchChange) {
        calls.add('service', c);
      }
      @OnConsulChange({ services: true })
      onServices(c: WatchChange) {
        calls.add('services', c);
      }
      @OnConsulChange({ nodes: true, initial: true })
      onNodes(c: WatchChange) {
        calls.add('nodes', c);
      }
      @OnConsulChange({ checks: { service: name } })
      onChecks(c: WatchChange) {
        calls.add('checks', c);
      }
    }
    const app = await start({ address: agent.address }, [Listener]);
    expect(app.get(Listener).consul).toBe(app.get(ConsulService).client);
    await calls.until((l, c) => l === 'nodes' && c.initial);
    // key, keyprefix, event, service, services, nodes, checks: seven watches for eight methods' nine decorators
    expect(app.get(ConsulService).client.activeQueries).toBe(7);
    await kv.kv.put(`${prefix}flag`, 'on');
    await calls.until((l, c) => l === 'key' && c.type === 'key' && c.entries.has(`${prefix}flag`));
    await calls.until(
      (l, c) => l === 'keyprefix' && c.type === 'keyprefix' && c.entries.has(`${prefix}flag`),
    );
    await calls.until((l) => l === 'prefix-again');
    await put(`/v1/event/fire/${name}-deploy`, 'v2');
    const event = await calls.until(
      (l, c) => l === 'event' && c.type === 'event' && c.events.length > 0,
    );
    expect(event.type === 'event' && event.events[0]?.Payload?.toString()).toBe('v2');
    await put('/v1/agent/service/register', { Name: name, Check: { TTL: '30s' } });
    await calls.until(
      (l, c) => l === 'services' && c.type === 'services' && c.added.some((s) => s.name === name),
    );
    await calls.until((l, c) => l === 'checks' && c.type === 'checks' && c.added.length === 1);
    await put(`/v1/agent/check/pass/service:${name}`, '');
    await calls.until((l, c) => l === 'service' && c.type === 'service' && c.added.length === 1);
    await put(`/v1/agent/service/deregister/${name}`, '');
  });

  it('logs a throwing handler with its watch, and the watch goes on', async () => {
    const prefix = unique('throws');
    const errors: string[] = [];
    const calls = new Calls();
    @Injectable()
    class Fragile {
      @OnConsulChange({ prefix })
      async onChange(c: WatchChange) {
        calls.add('call', c);
        if (calls.seen.length === 1) throw new Error('boom');
      }
    }
    await start({ address: agent.address }, [Fragile], {
      log() {},
      warn() {},
      error: (m: string) => errors.push(m),
    });
    await kv.kv.put(`${prefix}a`, '1');
    await calls.until(() => calls.seen.length === 1);
    await kv.kv.put(`${prefix}b`, '2');
    await calls.until(() => calls.seen.length === 2);
    expect(
      errors.some(
        (e) =>
          e.includes('Fragile.onChange failed') &&
          e.includes(`keyprefix "${prefix}"`) &&
          e.includes('boom'),
      ),
    ).toBe(true);
  });

  it('gives a request-scoped provider a fresh instance per change', async () => {
    const prefix = unique('scoped');
    const calls = new Calls();
    let created = 0;
    @Injectable({ scope: Scope.REQUEST })
    class PerChange {
      readonly id = ++created;
      @OnConsulChange({ prefix })
      onChange(c: WatchChange) {
        calls.add(String(this.id), c);
      }
    }
    await start({ address: agent.address }, [PerChange]);
    await kv.kv.put(`${prefix}a`, '1');
    await calls.until(() => calls.seen.length === 1);
    await kv.kv.put(`${prefix}b`, '2');
    await calls.until(() => calls.seen.length === 2);
    expect(new Set(calls.seen.map(([id]) => id)).size).toBe(2);
  });

  it('calls a handler once per change when the app imports ConsulModule twice', async () => {
    const prefix = unique('twice');
    const calls = new Calls();
    @Injectable()
    class Once {
      @OnConsulChange({ prefix })
      onChange(c: WatchChange) {
        calls.add('call', c);
      }
    }
    @Module({ imports: [ConsulModule.forRoot({ address: agent.address })] })
    class Feature {}
    const warnings: string[] = [];
    const twice = await Test.createTestingModule({
      imports: [ConsulModule.forRoot({ address: agent.address }), Feature],
      providers: [Once],
    }).compile();
    twice.useLogger({ log() {}, error() {}, warn: (m: string) => warnings.push(m) });
    apps.push(twice);
    await twice.init();
    await kv.kv.put(`${prefix}a`, '1');
    await calls.until(() => calls.seen.length >= 1);
    // A second binding would deliver each change twice; a's duplicate would be in before b's change.
    await kv.kv.put(`${prefix}b`, '2');
    await calls.until((_l, c) => c.type === 'keyprefix' && c.entries.has(`${prefix}b`));
    expect(calls.seen).toHaveLength(2);
    expect(warnings.some((w) => w.includes('imported more than once'))).toBe(true);
  });

  it('starts within watchReadyTimeoutMs when Consul does not answer, and says which watch it is missing', async () => {
    @Injectable()
    class Waiting {
      @OnConsulChange({ key: 'never/answered' })
      onChange() {}
    }
    const warnings: string[] = [];
    const started = performance.now();
    const app = await start({ address: '127.0.0.1:1', watchReadyTimeoutMs: 100 }, [Waiting], {
      log() {},
      error() {},
      warn: (m: string) => warnings.push(m),
    });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(app.get(ConsulService).client.activeQueries).toBe(1);
    expect(
      warnings.some((w) => w.includes('key "never/answered"') && w.includes('starting anyway')),
    ).toBe(true);
  });

  it('stops every watch on close, leaving nothing open', async () => {
    @Injectable()
    class Quiet {
      @OnConsulChange({ prefix: unique('closing') })
      onChange() {}
    }
    const app = await start({ address: agent.address }, [Quiet]);
    const client = app.get(ConsulService).client;
    expect(client.activeQueries).toBe(1);
    await app.close();
    apps.splice(apps.indexOf(app), 1);
    expect(client.activeQueries).toBe(0);
  });
});

describe('@ConsulValue', () => {
  it('reads the current value at its path from module init on, with its default', async () => {
    const prefix = unique('value');
    await kv.kv.put(`${prefix}db/pool/size`, '10');
    const seenAtInit: unknown[] = [];
    @Injectable()
    class Pool {
      @ConsulValue('db.pool.size') readonly size!: number;
      @ConsulValue('db.pool.idle', 30) readonly idle!: number;
      onModuleInit() {
        seenAtInit.push(this.size, this.idle);
      }
    }
    const app = await start({ address: agent.address, config: { prefix, format: 'auto' } }, [Pool]);
    expect(seenAtInit).toEqual([10, 30]);
    const pool = app.get(Pool);
    const changed = firstValueFrom(app.get(ConsulConfigService).changes$.pipe(take(1)));
    await kv.kv.put(`${prefix}db/pool/size`, '25');
    await changed;
    expect(pool.size).toBe(25);
    expect(() => {
      (pool as { size: number }).size = 1;
    }).toThrow(/reads "db.pool.size" from Consul and cannot be assigned/);
  });

  it('turns text into the property type, and keeps the last good value when it does not fit, reporting it once', async () => {
    const prefix = unique('typed');
    await kv.kv.put(`${prefix}limits/rpm`, '42');
    await kv.kv.put(`${prefix}flags/beta`, 'true');
    @Injectable()
    class Limits {
      @ConsulValue('limits.rpm', 60) readonly perMinute!: number;
      @ConsulValue('flags.beta', false) readonly beta!: boolean;
      @ConsulValue('limits.rpm') readonly asText!: string;
    }
    const app = await start({ address: agent.address, config: { prefix } }, [Limits]);
    const limits = app.get(Limits);
    expect([limits.perMinute, limits.beta, limits.asText]).toEqual([42, true, '42']);
    const warned: string[] = [];
    const config = app.get(ConsulConfigService);
    const report = config.reportValueError.bind(config);
    config.reportValueError = (error) => {
      warned.push(error.message);
      report(error);
    };
    const changed = firstValueFrom(config.changes$.pipe(take(1)));
    await kv.kv.put(`${prefix}limits/rpm`, 'abc');
    await changed;
    expect([limits.perMinute, limits.perMinute, limits.asText]).toEqual([42, 42, 'abc']);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(
      /Limits\.perMinute is a number .* "abc"; it keeps its last good value 42/,
    );
  });

  it('refuses an empty path where the decorator is written', () => {
    expect(() => ConsulValue('')).toThrow(/needs a dot path/);
  });
});

describe('register', () => {
  it('registers the app as a service with a passing check on bootstrap and deregisters it on close', async () => {
    const name = unique('self').split('/')[1]!;
    const app = await start({
      address: agent.address,
      register: { name, port: 3000, tags: ['nest'], ttlMs: 1_000 },
    });
    const id = app.get(ConsulRegistration).registration?.id;
    expect(id).toMatch(new RegExp(`^${name}-`));
    const health = async () =>
      (await (await fetch(`${agent.url}/v1/health/service/${name}?passing=true`)).json()) as {
        Service: { ID: string; Tags: string[] };
      }[];
    expect((await health()).map((e) => [e.Service.ID, e.Service.Tags])).toEqual([[id, ['nest']]]);
    await app.close();
    apps.splice(apps.indexOf(app), 1);
    expect(await health()).toEqual([]);
  });
});

describe('ConsulHealthIndicator', () => {
  it('reports up with the config age while Consul answers, and down in terminus shape when it does not', async () => {
    const prefix = unique('health');
    await kv.kv.put(`${prefix}a`, '1');
    const app = await start({ address: agent.address, config: { prefix } });
    const up = await app.get(ConsulHealthIndicator).isHealthy('consul');
    expect(up.consul).toMatchObject({
      status: 'up',
      reachable: true,
      config: { loaded: true, source: 'consul' },
    });
    expect(up.consul.config?.ageMs).toBeGreaterThanOrEqual(0);
    expect(await app.get(ConsulHealthIndicator).isHealthy('kv', { maxAgeMs: 0 - 1 })).toMatchObject(
      {
        kv: { status: 'down', error: expect.stringMatching(/config older than -1 ms/) },
      },
    );

    const away = await start(
      { address: '127.0.0.1:1', config: { prefix, readyTimeoutMs: 50, onUnavailable: 'start' } },
      [],
      {
        log() {},
        error() {},
        warn() {},
      },
    );
    const indicator = away.get(ConsulHealthIndicator);
    const down = await indicator.isHealthy('consul', { timeoutMs: 500 });
    expect(down.consul).toMatchObject({
      status: 'down',
      reachable: false,
      config: { loaded: false, source: 'none' },
    });
    expect(down.consul.error).toMatch(
      /Consul is not reachable; config not loaded: ping: cannot reach Consul/,
    );
    const thrown = await indicator.check('consul', { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(ConsulHealthError);
    expect((thrown as ConsulHealthError).isHealthCheckError).toBe(true);
    expect((thrown as ConsulHealthError).causes.consul?.status).toBe('down');
  });

  it("lists each watch's state and staleness, and goes down past maxStalenessMs", async () => {
    const prefix = unique('stale');
    await kv.kv.put(`${prefix}a`, '1');
    const app = await start({ address: agent.address, config: { prefix } });
    const fresh = await app
      .get(ConsulHealthIndicator)
      .isHealthy('consul', { maxStalenessMs: 60_000 });
    expect(fresh.consul.status).toBe('up');
    expect(fresh.consul.watches).toMatchObject({ available: true, stalenessMs: 0 });
    expect(fresh.consul.watches?.list).toEqual([
      expect.objectContaining({ type: 'keyprefix', state: 'connected', stalenessMs: 0 }),
    ]);
    expect(fresh.consul.config).toMatchObject({ state: 'connected', stalenessMs: 0 });

    const away = await start(
      { address: '127.0.0.1:1', config: { prefix, readyTimeoutMs: 50, onUnavailable: 'start' } },
      [],
      { log() {}, error() {}, warn() {} },
    );
    const stale = await away
      .get(ConsulHealthIndicator)
      .isHealthy('consul', { timeoutMs: 200, requireReachable: false, maxStalenessMs: 10 });
    expect(stale.consul.status).toBe('down');
    expect(stale.consul.error).toMatch(/not heard from Consul for \d+ ms \(more than 10 ms\)/);
    expect(stale.consul.watches?.stalenessMs).toBeGreaterThan(10);
  });
});
