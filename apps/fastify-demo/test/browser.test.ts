import { silentLogger } from '@consul-watch/core';
import { describe, it } from 'vitest';
// The page is the Express demo's, and so is the check that drives it.
import { canRunBrowser, expectLivePage } from '../../express-demo/test/livePage';
import { PREFIX, startFastifyDemo } from '../src/app';

describe('fastify demo in a real browser', () => {
  it.skipIf(!canRunBrowser)(
    'updates the page live when a key changes in Consul, without a reload',
    async () => {
      const demo = await startFastifyDemo({ logger: silentLogger });
      try {
        await expectLivePage({
          url: demo.url,
          put: (key, value) => demo.app.consul.kv.put(PREFIX + key, value),
          screenshot: 'fastify-demo.png',
        });
      } finally {
        await demo.close();
      }
    },
    30_000,
  );
});
