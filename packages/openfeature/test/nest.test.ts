import 'reflect-metadata';
import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BooleanFeatureFlag, OpenFeatureClient, OpenFeatureModule } from '@openfeature/nestjs-sdk';
import { type Client, type EvaluationDetails, OpenFeature } from '@openfeature/server-sdk';
import { firstValueFrom, type Observable } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulFlagProvider } from '../src';
import { type Fixture, fixture, putCheckoutFlag } from './helpers';

// @openfeature/nestjs-sdk 0.2.x declares Nest ≤ 11 as its peer; this is the README's example
// run on the repository's Nest 12.
let f: Fixture;
let app: INestApplication;

@Controller()
class CheckoutController {
  constructor(@OpenFeatureClient() private readonly flags: Client) {}

  @Get('checkout')
  async checkout(
    @BooleanFeatureFlag({ flagKey: 'new-checkout', defaultValue: false })
    feature: Observable<EvaluationDetails<boolean>>,
  ) {
    return (await firstValueFrom(feature)).value ? 'new' : 'old';
  }

  @Get('deep')
  async deep() {
    return (await this.flags.getBooleanValue('new-checkout', false)) ? 'new' : 'old';
  }
}

beforeAll(async () => {
  f = await fixture();
  await putCheckoutFlag(f.writer, ['ann']);
  const provider = new ConsulFlagProvider({
    sources: ['flags/my-app/'],
    connection: { address: f.dev.address },
  });
  @Module({
    imports: [
      OpenFeatureModule.forRoot({
        defaultProvider: provider,
        contextFactory: (context) => {
          const user = context.switchToHttp().getRequest().headers['x-user'];
          return { targetingKey: typeof user === 'string' ? user : 'anonymous' };
        },
      }),
    ],
    controllers: [CheckoutController],
  })
  class AppModule {}
  app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  // forRoot sets the provider without waiting: wait for it here, as an app's bootstrap would.
  await new Promise<void>((resolve) =>
    OpenFeature.getClient().addHandler('PROVIDER_READY' as never, () => resolve()),
  );
});
afterAll(async () => {
  await app?.close();
  await OpenFeature.close();
  await f.close();
});

describe('@openfeature/nestjs-sdk on Nest 12', () => {
  it('injects the client, evaluates @BooleanFeatureFlag with the context from the request', async () => {
    const url = await app.getUrl();
    const get = async (path: string, user: string) =>
      (await fetch(`${url}${path}`, { headers: { 'x-user': user, connection: 'close' } })).text();
    expect(await get('/checkout', 'ann')).toBe('new');
    expect(await get('/checkout', 'cy')).toBe('old');
    expect(await get('/deep', 'ann')).toBe('new');
    expect(await get('/deep', 'cy')).toBe('old');
  });
});
