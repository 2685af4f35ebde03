import 'reflect-metadata';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import { Injectable, SetMetadata } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { filter, firstValueFrom } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConsulLeaderService, ConsulModule, LeaderOnly } from '../src/index';

// Short session TTLs need the dev-server's sessionTtlMinMs: these run on the embedded one.
let dev: DevServer;
const apps: TestingModule[] = [];
beforeAll(async () => {
  dev = await startDevServer({ sessionTtlMinMs: 50 });
});
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});
afterAll(() => dev.close());

const key = `cw-nest/leader-${Math.random().toString(36).slice(2, 8)}`;

@Injectable()
class Cleanup {
  runs = 0;
  @LeaderOnly({ key, ttlMs: 300, lockDelayMs: 0, retryMs: 20 })
  @SetMetadata('schedule:cron', '* * * * *')
  sweep(): string {
    this.runs++;
    return 'swept';
  }
}

async function start(): Promise<TestingModule> {
  const app = await Test.createTestingModule({
    imports: [ConsulModule.forRoot({ address: dev.address })],
    providers: [Cleanup],
  }).compile();
  app.useLogger(false);
  apps.push(app);
  await app.init();
  return app;
}
const leads = (app: TestingModule) =>
  firstValueFrom(
    app
      .get(ConsulLeaderService)
      .state$(key)
      .pipe(filter((s) => s.leader)),
  );

describe('@LeaderOnly', () => {
  it('runs the method on the leading instance only, and on the next one after it shuts down', async () => {
    const first = await start();
    await leads(first);
    const second = await start();
    expect(first.get(Cleanup).sweep()).toBe('swept');
    expect(second.get(Cleanup).sweep()).toBeUndefined();
    expect(second.get(Cleanup).runs).toBe(0);
    expect(second.get(ConsulLeaderService).isLeader(key)).toBe(false);

    const handedOver = leads(second);
    await first.close();
    apps.splice(apps.indexOf(first), 1);
    await handedOver;
    expect(second.get(Cleanup).sweep()).toBe('swept');
    expect(second.get(ConsulLeaderService).signal(key)?.aborted).toBe(false);
  });

  it('keeps the metadata of decorators applied before it, so a scheduler still finds the method', () => {
    expect(Reflect.getMetadata('schedule:cron', Cleanup.prototype.sweep)).toBe('* * * * *');
  });

  it('refuses a decorator without a key', () => {
    expect(() => LeaderOnly('')).toThrow(/needs a lock key/);
  });
});
