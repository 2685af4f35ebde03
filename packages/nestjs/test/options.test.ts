import 'reflect-metadata';
import { InvalidInputError } from '@consul-watch/core';
import { Test } from '@nestjs/testing';
import { describe, expect, it } from 'vitest';
import { ConsulModule, LeaderOnly, OnConsulChange } from '../src/index';

/** The error the module gives at compile, where it checks its options. */
async function refusal(module: ReturnType<typeof ConsulModule.forRoot>): Promise<unknown> {
  try {
    const app = await Test.createTestingModule({ imports: [module] }).compile();
    await app.close();
  } catch (error) {
    return error;
  }
  throw new Error('the module started');
}

const refused = async (
  options: Parameters<typeof ConsulModule.forRoot>[0],
  message: string | RegExp,
) => {
  const error = await refusal(ConsulModule.forRoot(options));
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as Error).message).toMatch(message);
};

describe('ConsulModule options', () => {
  it('refuses a misspelt option with the nearest name, at the top and in config and register', async () => {
    await refused(
      { adress: '127.0.0.1:8500' } as never,
      "ConsulModule: unknown option 'adress': did you mean 'address'?",
    );
    await refused(
      { config: { prefx: 'config/app/' } } as never,
      "ConsulModule config: unknown option 'prefx': did you mean 'prefix'?",
    );
    await refused(
      { register: { nmae: 'web' } } as never,
      "ConsulModule register: unknown option 'nmae': did you mean 'name'?",
    );
    await refused(
      { watch: { waitMS: 1000 } } as never,
      "ConsulModule watch: unknown option 'waitMS': did you mean 'waitMs'?",
    );
    await refused(
      { watch: { backoff: { basMs: 10 } } } as never,
      "ConsulModule watch.backoff: unknown option 'basMs': did you mean 'baseMs'?",
    );
    await refused(
      { availability: { probeMaxMS: 10 } } as never,
      "ConsulModule availability: unknown option 'probeMaxMS': did you mean 'probeMaxMs'?",
    );
  });

  it('refuses them in forRootAsync options too', async () => {
    const error = await refusal(
      ConsulModule.forRootAsync({
        useFactory: () => ({ config: { prefix: 'a/', readyTimeoutMS: 100 } }) as never,
      }),
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toBe(
      "ConsulModule config: unknown option 'readyTimeoutMS': did you mean 'readyTimeoutMs'?",
    );
  });

  it("names the module's own options when config names nothing to read", async () => {
    await refused(
      { config: {} },
      "ConsulModule config names nothing to read: give config.prefix (a folder of keys, such as 'config/my-app/') or config.layers",
    );
    await refused({ config: { prefix: [] } }, /give config\.prefix .* or config\.layers/);
    await refused({ config: { layers: 'config/app/' } } as never, /config\.layers must be a list/);
  });

  it('refuses a settle that is not { minMs, maxMs? }, under config.settle', async () => {
    await refused(
      { config: { prefix: 'a/', settle: { minMs: '500' } } } as never,
      'ConsulModule config.settle.minMs must be a whole number of milliseconds from 1 to 3600000, got "500"',
    );
    await refused(
      { config: { prefix: 'a/', settle: { minMs: 500, maxMS: 900 } } } as never,
      "ConsulModule config.settle: unknown option 'maxMS': did you mean 'maxMs'?",
    );
  });

  it('refuses a number given as text, quoting it', async () => {
    await refused(
      { config: { prefix: 'a/', readyTimeoutMs: '3000' } } as never,
      'ConsulModule config.readyTimeoutMs must be a number of milliseconds, 0 or more (default 10000), got "3000"',
    );
    await refused(
      { watchReadyTimeoutMs: '3000' } as never,
      /ConsulModule watchReadyTimeoutMs must be a number .* got "3000"$/,
    );
    await refused(
      { config: { prefix: 'a/', onUnavailable: 'Start' } } as never,
      `ConsulModule config.onUnavailable must be 'fail' or 'start', got "Start"`,
    );
  });
});

describe('decorator options', () => {
  it('@LeaderOnly refuses a misspelt option with the nearest name', () => {
    const error = (() => {
      try {
        LeaderOnly({ key: 'jobs/a', ttlMS: 10_000 } as never);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toBe(
      `@LeaderOnly("jobs/a"): unknown option 'ttlMS': did you mean 'ttlMs'?`,
    );
  });

  it('@OnConsulChange refuses a misspelt option, and one of another watch form', () => {
    expect(() => OnConsulChange({ kye: 'app/flag' } as never)).toThrow(
      "@OnConsulChange: unknown option 'kye': did you mean 'key'?",
    );
    expect(() => OnConsulChange({ key: 'app/flag', passingOnly: true } as never)).toThrow(
      "@OnConsulChange({ key }): option 'passingOnly' does not go with 'key'; it takes initial, datacenter, token, consistency, key",
    );
    expect(() => OnConsulChange({ checks: { servce: 'web' } } as never)).toThrow(
      "@OnConsulChange checks: unknown option 'servce': did you mean 'service'?",
    );
  });
});
