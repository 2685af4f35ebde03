// A consumer's TypeScript, checked with --strict and skipLibCheck false against the packed types.

import { loadConsulEnv } from '@consul-watch/config-loader';
import { type ConsulWatch, createConsulWatch, type WatchChange } from '@consul-watch/core';
import { startDevServer } from '@consul-watch/dev-server';
import { consulConfig } from '@consul-watch/express';
import { ConsulModule } from '@consul-watch/nestjs';

export async function typed(): Promise<void> {
  const dev = await startDevServer();
  const consul: ConsulWatch = createConsulWatch({ address: dev.address });
  const watch = consul.watch(
    { type: 'keyprefix', prefix: 'app/' },
    (change: WatchChange<'keyprefix'>) => {
      for (const c of change.changes) if (c.op === 'set') c.entry.value.toString('utf8');
    },
  );
  const status: 'connecting' | 'connected' | 'unavailable' | 'failing' = watch.status.state;
  void status;
  const config = consul.liveConfig<{ greeting?: string }>({ layers: ['app/'] });
  const greeting: string | undefined = (await config.ready(1_000)).greeting;
  void greeting;
  void consulConfig({ layers: ['app/'] });
  void ConsulModule.forRoot({ config: { prefix: 'app' } });
  await loadConsulEnv({ prefix: 'app', env: {} }).catch(() => undefined);
  await consul.close();
  await dev.close();
}
