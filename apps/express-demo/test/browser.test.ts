import { silentLogger } from '@consul-watch/core';
import { describe, it } from 'vitest';
import { PREFIX, startExpressDemo } from '../src/app';
import { canRunBrowser, expectLivePage } from './livePage';

describe('express demo in a real browser', () => {
  it.skipIf(!canRunBrowser)(
    'updates the page live when a key changes in Consul, without a reload',
    async () => {
      const demo = await startExpressDemo({ logger: silentLogger });
      try {
        await expectLivePage({
          url: demo.url,
          put: (key, value) => demo.client.kv.put(PREFIX + key, value),
          screenshot: 'express-demo.png',
        });
      } finally {
        await demo.close();
      }
    },
    30_000,
  );
});
