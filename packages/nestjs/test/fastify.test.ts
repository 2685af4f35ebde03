import 'reflect-metadata';
import { type ConsulWatch, createConsulWatch, type WatchChange } from '@consul-watch/core';
import { startTestAgent, type TestAgent } from '@consul-watch/dev-server/testing';
import {
  Controller,
  Get,
  HttpException,
  type INestApplication,
  Injectable,
  Param,
} from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ConsulConfigService,
  ConsulHealthIndicator,
  ConsulModule,
  ConsulService,
  OnConsulChange,
} from '../src/index';

// The module's main paths through a Nest app on @nestjs/platform-fastify, asked over HTTP:
// nothing in the module may assume Express.
let agent: TestAgent;
let kv: ConsulWatch;
const apps: INestApplication[] = [];
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

const prefix = `cw-nest-fastify/${Math.random().toString(36).slice(2, 8)}/`;

/** What the @OnConsulChange handler saw; a test awaits the key it expects. */
@Injectable()
class SeenChanges {
  readonly keys: string[] = [];
  private readonly waiters = new Set<() => void>();

  @OnConsulChange({ prefix })
  onChange(change: WatchChange<'keyprefix'>): void {
    for (const c of change.changes) this.keys.push(`${c.op} ${c.key}`);
    for (const wake of [...this.waiters]) wake();
  }

  until(entry: string): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!this.keys.includes(entry)) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }
}

@Controller()
class DemoController {
  constructor(
    private readonly config: ConsulConfigService,
    private readonly seen: SeenChanges,
    private readonly health: ConsulHealthIndicator,
  ) {}

  @Get('config/:path')
  read(@Param('path') path: string) {
    return { value: this.config.get(path, null) };
  }

  @Get('changes')
  changes() {
    return this.seen.keys;
  }

  @Get('health')
  async ready() {
    const result = await this.health.isHealthy('consul', { timeoutMs: 500 });
    if (result.consul.status === 'down') throw new HttpException(result, 503);
    return result;
  }
}

/** A Nest app on the Fastify adapter, listening on a free port; closed after the test. */
async function startOnFastify(
  options: Parameters<typeof ConsulModule.forRoot>[0],
): Promise<{ app: NestFastifyApplication; url: string }> {
  const module = await Test.createTestingModule({
    imports: [ConsulModule.forRoot(options)],
    controllers: [DemoController],
    providers: [SeenChanges],
  }).compile();
  const app = module.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
    logger: false,
  });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  return { app, url: await app.getUrl() };
}

const getJson = async (url: string) => {
  const res = await fetch(url, { headers: { connection: 'close' } });
  return { status: res.status, body: (await res.json()) as unknown };
};

describe('ConsulModule on @nestjs/platform-fastify', () => {
  it('serves the config through ConsulConfigService over HTTP, and the next request sees a change', async () => {
    await kv.kv.put(`${prefix}greeting`, 'hello');
    const { app, url } = await startOnFastify({
      address: agent.address,
      config: { prefix, format: 'auto' },
    });
    expect(app.getHttpAdapter().getType()).toBe('fastify');
    expect(await getJson(`${url}/config/greeting`)).toEqual({
      status: 200,
      body: { value: 'hello' },
    });
    const config = app.get(ConsulConfigService);
    const changed = new Promise((resolve) => config.config.on('change', resolve));
    await kv.kv.put(`${prefix}greeting`, 'hi');
    await changed;
    expect((await getJson(`${url}/config/greeting`)).body).toEqual({ value: 'hi' });
  });

  it('calls @OnConsulChange handlers, whose work the next request sees', async () => {
    const { app, url } = await startOnFastify({ address: agent.address });
    await kv.kv.put(`${prefix}flags/beta`, 'on');
    await app.get(SeenChanges).until(`set ${prefix}flags/beta`);
    expect((await getJson(`${url}/changes`)).body).toContain(`set ${prefix}flags/beta`);
  });

  it('answers /health up while Consul answers, and 503 in terminus shape when it does not', async () => {
    const up = await startOnFastify({ address: agent.address, config: { prefix } });
    expect(await getJson(`${up.url}/health`)).toMatchObject({
      status: 200,
      body: { consul: { status: 'up', reachable: true, config: { loaded: true } } },
    });
    const away = await startOnFastify({
      address: '127.0.0.1:1',
      // Its handler's watch cannot start either: bootstrap waits for it no longer than this.
      watchReadyTimeoutMs: 50,
      config: { prefix, readyTimeoutMs: 50, onUnavailable: 'start' },
    });
    expect(await getJson(`${away.url}/health`)).toMatchObject({
      status: 503,
      body: { consul: { status: 'down', reachable: false, config: { loaded: false } } },
    });
  });

  it('stops every watch when the Fastify app closes', async () => {
    const { app } = await startOnFastify({ address: agent.address, config: { prefix } });
    const client = app.get(ConsulService).client;
    // One shared watch serves the config and the handler: the same prefix.
    expect(client.activeQueries).toBe(1);
    await app.close();
    apps.splice(apps.indexOf(app), 1);
    expect(client.activeQueries).toBe(0);
  });
});
