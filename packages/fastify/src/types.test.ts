import type { ConfigObject, ConsulWatch, LiveConfig } from '@consul-watch/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { describe, expectTypeOf, it } from 'vitest';
import type { RequestConfig } from './index';

// Checked by `tsc` (pnpm typecheck): importing the package types request.config, app.consul and
// app.liveConfig. apps/fastify-demo shows the other half: its ConsulConfigRegistry augmentation
// types request.config.site?.title as string | undefined.
describe('Fastify typing', () => {
  it('puts config on FastifyRequest and consul, liveConfig on FastifyInstance, a config object by default', () => {
    expectTypeOf<FastifyRequest['config']>().toEqualTypeOf<RequestConfig>();
    expectTypeOf<RequestConfig>().toEqualTypeOf<ConfigObject>();
    expectTypeOf<FastifyInstance['consul']>().toEqualTypeOf<ConsulWatch>();
    expectTypeOf<FastifyInstance['liveConfig']>().toEqualTypeOf<LiveConfig<ConfigObject>>();
  });
});
