import 'reflect-metadata';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type ConfigChangeEvent,
  type ConsulWatch,
  type EngineOptions,
  type Logger,
  type WatchChange,
} from '@consul-watch/core';
import { consulConfig } from '@consul-watch/express';
import {
  ConsulConfigService,
  ConsulModule,
  type ConsulModuleOptions,
  ConsulService,
  OnConsulChange,
} from '@consul-watch/nestjs';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import { ConfigProbe, type TruthTarget, WatchProbe } from './soakProbes';

export interface SoakExpressApp {
  probe: ConfigProbe;
  url: string;
  /** GET /config with fetch: what `req.config` holds for a request now. */
  fetchConfig(): Promise<unknown>;
  close(): Promise<void>;
}

/** An Express app in process, with consulConfig() middleware on its own client. */
export async function startExpressApp(
  client: ConsulWatch,
  layers: string[],
  target: TruthTarget,
): Promise<SoakExpressApp> {
  const middleware = consulConfig({ client, layers, format: 'auto' });
  const probe = new ConfigProbe('express req.config', target);
  const unfollow = probe.follow(middleware.config);
  const app = express();
  app.use(middleware);
  app.get('/config', (req, res) => {
    res.json(req.config);
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    probe,
    url,
    async fetchConfig() {
      // No keep-alive: no socket outlives the request.
      const res = await fetch(`${url}/config`, { headers: { connection: 'close' } });
      if (res.status !== 200) throw new Error(`GET /config answered ${res.status}`);
      return res.json();
    },
    async close() {
      unfollow();
      await middleware.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface SoakNestApp {
  /** ConsulConfigService: its changes$ and snapshot(). */
  config: ConfigProbe;
  /** An @OnConsulChange({ prefix, initial: true }) handler. */
  handler: WatchProbe;
  snapshot(): unknown;
  /** Blocking queries of the client ConsulModule made. */
  activeQueries(): number;
  close(): Promise<void>;
}

/**
 * A Nest application context with ConsulModule.forRoot (config + an @OnConsulChange
 * handler), on its own client through `address`.
 */
export async function startNestApp(options: {
  address: string;
  engine: EngineOptions;
  logger: Logger;
  configLayers: string[];
  configTarget: TruthTarget;
  handlerPrefix: string;
}): Promise<SoakNestApp> {
  // The explorer sends a watch's errors to Nest's logger only: not counted per handler.
  const handler = new WatchProbe(
    'nest @OnConsulChange',
    { kind: 'keyprefix', prefix: options.handlerPrefix },
    { countsErrors: false },
  );
  const config = new ConfigProbe('nest ConsulConfigService', options.configTarget);

  @Injectable()
  class SoakListener {
    @OnConsulChange({ prefix: options.handlerPrefix, initial: true })
    onKv(change: WatchChange<'keyprefix'>): void {
      handler.deliver(change);
    }
  }

  const moduleOptions: ConsulModuleOptions = {
    address: options.address,
    logger: options.logger,
    watch: options.engine,
    config: { prefix: options.configLayers, format: 'auto' as const },
  };

  @Module({ imports: [ConsulModule.forRoot(moduleOptions)], providers: [SoakListener] })
  class SoakNestModule {}

  const app = await NestFactory.createApplicationContext(SoakNestModule, { logger: false });
  const service = app.get(ConsulConfigService);
  const consul = app.get(ConsulService);
  config.ready(service.snapshot());
  const subscription = service.changes$.subscribe((event: ConfigChangeEvent<unknown>) =>
    config.deliver(event),
  );
  const onError = () => {
    config.errors += 1;
  };
  service.config.on('error', onError);
  return {
    config,
    handler,
    snapshot: () => service.snapshot(),
    activeQueries: () => consul.client.activeQueries,
    async close() {
      subscription.unsubscribe();
      service.config.off('error', onError);
      await app.close();
    },
  };
}
