import 'reflect-metadata';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import { Injectable, type LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsulModule, OnConsulChange } from '../src/index';

const apps: TestingModule[] = [];
const servers: DevServer[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  for (const server of servers.splice(0)) await server.close();
});

/** A Nest logger that keeps every line and lets a test await one. */
class Lines implements LoggerService {
  readonly all: string[] = [];
  private readonly waiters = new Set<() => void>();
  private add(level: string, message: unknown, context?: unknown) {
    this.all.push(`${level} [${String(context)}] ${String(message)}`);
    for (const w of [...this.waiters]) w();
  }
  log = (m: unknown, c?: unknown) => this.add('log', m, c);
  warn = (m: unknown, c?: unknown) => this.add('warn', m, c);
  error = (m: unknown, c?: unknown) => this.add('error', m, c);
  until(pattern: RegExp, count = 1): Promise<string[]> {
    return new Promise((resolve) => {
      const check = () => {
        const found = this.all.filter((l) => pattern.test(l));
        if (found.length < count) return;
        this.waiters.delete(check);
        resolve(found);
      };
      this.waiters.add(check);
      check();
    });
  }
}

async function start(
  options: Parameters<typeof ConsulModule.forRoot>[0],
  providers: unknown[],
  logger: LoggerService,
): Promise<TestingModule> {
  const app = await Test.createTestingModule({
    imports: [ConsulModule.forRoot(options)],
    providers: providers as never[],
  }).compile();
  app.useLogger(logger);
  apps.push(app);
  await app.init();
  return app;
}

@Injectable()
class ManyWatches {
  @OnConsulChange({ key: 'outage/a' })
  a() {}
  @OnConsulChange({ key: 'outage/b' })
  b() {}
  @OnConsulChange({ prefix: 'outage/c/' })
  c() {}
  @OnConsulChange({ service: 'outage-d' })
  d() {}
  @OnConsulChange({ services: true })
  e() {}
}

describe('Consul away at boot and during the run', () => {
  it("with config.onUnavailable: 'start', boots within readyTimeoutMs however many @OnConsulChange watches wait", async () => {
    const lines = new Lines();
    const readyTimeoutMs = 300;
    const app = await Test.createTestingModule({
      imports: [
        ConsulModule.forRoot({
          address: '127.0.0.1:1',
          config: { prefix: 'x/', readyTimeoutMs, onUnavailable: 'start' },
        }),
      ],
      providers: [ManyWatches],
    }).compile();
    app.useLogger(lines);
    apps.push(app);
    const started = performance.now();
    await app.init();
    expect(performance.now() - started).toBeLessThan(readyTimeoutMs + 200);
    expect(lines.all.join('\n')).toMatch(/starting without config/);
    expect(lines.all.join('\n')).toMatch(
      /starting without the first state of 5 @OnConsulChange watch\(es\) \(key "outage\/a", .*bounds the boot by config\.readyTimeoutMs/,
    );
  });

  it('logs one line when Consul answers again after the "cannot reach" warning, for the config and each watch', async () => {
    const first = await startDevServer();
    servers.push(first);
    const port = Number(new URL(first.url).port);
    const lines = new Lines();
    await start(
      {
        address: first.address,
        config: { prefix: 'outage/' },
        availability: { probeMinMs: 5, probeMaxMs: 20 },
      },
      [ManyWatches],
      lines,
    );
    // Every query parked first (the config's and five watches'): a watch between two requests
    // when the agent goes may send its next one to the agent that comes back, and never see
    // the outage, as any client would.
    await first.whenParked(6);
    await first.close();
    servers.splice(servers.indexOf(first), 1);
    await lines.until(/warn \[ConsulConfig\].*(cannot reach|unavailable)/);
    await lines.until(/warn \[OnConsulChange\] watch key "outage\/a"/);
    servers.push(await startDevServer({ port }));
    const [config] = await lines.until(/log \[ConsulConfig\].*answers again/);
    expect(config).toMatch(/config from outage\/: Consul answers again after \d+\.\d s$/);
    const watches = await lines.until(/log \[OnConsulChange\].*answers again/, 5);
    expect(watches.join('\n')).toMatch(
      /watch key "outage\/a" for ManyWatches\.a: Consul answers again after \d+\.\d s/,
    );
  });
});
