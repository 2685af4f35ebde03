import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as core from './index';
import * as internal from './internal';

describe('public API', () => {
  it('keeps what only the @consul-watch packages share on the internal entry', () => {
    for (const name of [
      'writeFileAtomic',
      'parseCommandLine',
      'resolveConnection',
      'getPath',
      'pickPaths',
      'decodeValue',
      'formatOfKey',
      'validateKey',
      'LastKnownGoodFile',
      'Readiness',
    ]) {
      expect(Object.keys(core)).not.toContain(name);
      expect(Object.keys(internal)).toContain(name);
    }
  });

  it('publishes types free of the HTTP layer and the engine behind them', () => {
    // `pnpm test` builds first; the declarations are what a user's editor sees.
    const file = fileURLToPath(new URL('../dist/index.d.ts', import.meta.url));
    if (!existsSync(file)) return expect.fail(`${file} is missing: run the build first`);
    const types = readFileSync(file, 'utf8');
    for (const name of ['ConsulHttp', 'AnyClient', 'SharedWatch', 'WatchType<', ': any'])
      expect(types).not.toContain(name);
  });
});
