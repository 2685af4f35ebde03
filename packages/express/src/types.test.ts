import type { ConfigObject } from '@consul-watch/core';
import type { Request } from 'express';
import { describe, expectTypeOf, it } from 'vitest';
import type { RequestConfig } from './index';

// Checked by `tsc` (pnpm typecheck): importing the package types req.config on Express's Request.
// apps/express-demo shows the other half: its ConsulConfigRegistry augmentation types
// req.config.site?.title as string | undefined.
describe('req.config typing', () => {
  it('is on Express Request once the package is imported, a config object by default', () => {
    expectTypeOf<Request['config']>().toEqualTypeOf<RequestConfig>();
    expectTypeOf<RequestConfig>().toEqualTypeOf<ConfigObject>();
  });
});
