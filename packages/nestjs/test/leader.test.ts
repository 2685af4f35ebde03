import 'reflect-metadata';
import { InvalidInputError } from '@consul-watch/core';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import { Injectable, type OnModuleInit, SetMetadata } from '@nestjs/common';
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

async function start(providers: unknown[] = [Cleanup]): Promise<TestingModule> {
  const app = await Test.createTestingModule({
    imports: [ConsulModule.forRoot({ address: dev.address })],
    providers: providers as never[],
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

/** The sessions the dev-server holds, as Consul lists them. */
async function sessions(): Promise<{ Name: string; TTL: string; LockDelay: number }[]> {
  return (await fetch(`${dev.url}/v1/session/list`)).json() as never;
}

/** Boots an app and gives back the error it failed with. */
async function bootError(providers: unknown[]): Promise<unknown> {
  try {
    await start(providers);
  } catch (error) {
    return error;
  }
  throw new Error('the app started');
}

describe('@LeaderOnly options', () => {
  it('apply when state$(key) in an onModuleInit starts the campaign first', async () => {
    const fast = `cw-nest/fast-${Math.random().toString(36).slice(2, 8)}`;
    @Injectable()
    class Jobs {
      @LeaderOnly({ key: fast, ttlMs: 10_000, lockDelayMs: 0, sessionName: `jobs-${fast}` })
      run() {}
    }
    @Injectable()
    class Watcher implements OnModuleInit {
      leading = false;
      constructor(private readonly leaders: ConsulLeaderService) {}
      onModuleInit() {
        this.leaders.state$(fast).subscribe((s) => (this.leading = s.leader));
      }
    }
    const app = await start([Watcher, Jobs]);
    await firstValueFrom(
      app
        .get(ConsulLeaderService)
        .state$(fast)
        .pipe(filter((s) => s.leader)),
    );
    const mine = (await sessions()).filter((s) => s.Name === `jobs-${fast}`);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.TTL).toMatch(/^(10s|10000ms)$/);
    expect(mine[0]!.LockDelay).toBe(0);
    expect(app.get(Watcher).leading).toBe(true);
  });

  it('refuses two different option sets for one key, naming both places', async () => {
    const key2 = `cw-nest/two-${Math.random().toString(36).slice(2, 8)}`;
    @Injectable()
    class Reports {
      @LeaderOnly({ key: key2, ttlMs: 10_000 })
      nightly() {}
    }
    @Injectable()
    class Other implements OnModuleInit {
      constructor(private readonly leaders: ConsulLeaderService) {}
      onModuleInit() {
        this.leaders.state$(key2, { ttlMs: 20_000 }).subscribe();
      }
    }
    const error = await bootError([Reports, Other]);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^leader key "${key2}" is given two different option sets: \\{ ttlMs: 10000 \\} by @LeaderOnly on Reports\\.nightly, and \\{ ttlMs: 20000 \\} by ConsulLeaderService\\.state\\$\\("${key2}"\\) \\(at Other\\.onModuleInit .*leader\\.test\\.ts:\\d+:\\d+\\)\\)`,
      ),
    );
  });

  it('refuses two decorators giving one key different options', async () => {
    const key3 = `cw-nest/three-${Math.random().toString(36).slice(2, 8)}`;
    @Injectable()
    class A {
      @LeaderOnly(key3)
      one() {}
    }
    @Injectable()
    class B {
      @LeaderOnly({ key: key3, lockDelayMs: 0 })
      two() {}
    }
    const error = await bootError([A, B]);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toContain(
      `leader key "${key3}" is given two different option sets: {} (the defaults) by @LeaderOnly on A.one, and { lockDelayMs: 0 } by @LeaderOnly on B.two`,
    );
  });
});
