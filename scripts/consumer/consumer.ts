// A consumer's TypeScript, checked with --strict and skipLibCheck false against the packed types.

import { loadConsulEnv } from '@consul-watch/config-loader';
import { type ConsulWatch, createConsulWatch, type WatchChange } from '@consul-watch/core';
import { startDevServer } from '@consul-watch/dev-server';
import { consulConfig } from '@consul-watch/express';
import { consulConfig as fastifyConfig, liveConfigEvents } from '@consul-watch/fastify';
import { ConsulModule } from '@consul-watch/nestjs';
import { ConsulFlagProvider, type FlagDocumentError } from '@consul-watch/openfeature';
import { OpenFeature } from '@openfeature/server-sdk';
import Fastify from 'fastify';

// What request.config holds, told once, as the Fastify README shows.
declare module '@consul-watch/fastify' {
  interface ConsulConfigRegistry {
    config: { greeting?: string };
  }
}

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
  const app = Fastify();
  await app.register(fastifyConfig, { layers: ['app/'], connection: { address: dev.address } });
  app.get('/hello', async (request) => {
    const hello: string | undefined = request.config.greeting;
    return { hello, watches: app.consul.activeQueries };
  });
  app.get('/events', liveConfigEvents({ expose: ['greeting'] }));
  await app.close();
  void ConsulModule.forRoot({ config: { prefix: 'app' } });
  const provider = new ConsulFlagProvider({
    sources: ['flags.json', 'flags/app/'],
    client: consul,
  });
  provider.on('error', (error) => {
    const key: string = (error as FlagDocumentError).key;
    void key;
  });
  OpenFeature.setProvider('consumer', provider);
  const on: boolean = await OpenFeature.getClient('consumer').getBooleanValue('x', false);
  void on;
  await OpenFeature.close();
  await loadConsulEnv({ prefix: 'app', env: {} }).catch(() => undefined);
  await consul.close();
  await dev.close();
}
