import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type ConsulWatch,
  consoleLogger,
  createConsulWatch,
  type LiveConfig,
} from '@consul-watch/core';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import { consulConfig, liveConfigEvents } from '@consul-watch/express';
import express from 'express';
import { type PageConfig, type PageDemoOptions, page, seedPage } from './page';

/** The keys this demo reads (it seeds them when they are missing). */
export const PREFIX = 'demo/express/';

type AppConfig = PageConfig;

declare module '@consul-watch/express' {
  interface ConsulConfigRegistry {
    config: AppConfig;
  }
}

export type ExpressDemoOptions = PageDemoOptions;

export interface ExpressDemo {
  url: string;
  /** The agent it talks to (`host:port`). */
  consulAddress: string;
  client: ConsulWatch;
  /** The live config behind req.config and the page. */
  config: LiveConfig<AppConfig>;
  close(): Promise<void>;
}

export async function startExpressDemo(options: ExpressDemoOptions = {}): Promise<ExpressDemo> {
  const log = options.logger ?? consoleLogger('express-demo');
  let dev: DevServer | undefined;
  let consulAddress = options.consulAddress ?? process.env.CONSUL_HTTP_ADDR;
  if (!consulAddress) {
    dev = await startDevServer();
    consulAddress = dev.address;
    log.info(`no CONSUL_HTTP_ADDR set; started the embedded dev-server at ${dev.url}`);
  }
  const client = createConsulWatch({ address: consulAddress, logger: log });
  try {
    await seedPage(client.kv, PREFIX, 'consul-watch demo');
  } catch (error) {
    await client.close();
    await dev?.close();
    throw error;
  }

  const config = consulConfig<AppConfig>({
    client,
    layers: [PREFIX],
    format: 'auto',
    waitForReadyMs: 5_000,
  });
  const events = liveConfigEvents(config, { expose: ['site', 'ui', 'features'] });
  const app = express();
  app.get('/', (_req, res) => {
    res.type('html').send(page);
  });
  // No icon: answered empty rather than 404, so the browser's request leaves no error behind.
  app.get('/favicon.ico', (_req, res) => {
    res.status(204).end();
  });
  app.get('/events', events);
  app.get('/api/settings', config, (req, res) => {
    res.json({
      title: req.config.site?.title,
      banner: req.config.site?.banner,
      theme: req.config.ui?.theme,
      beta: req.config.features?.beta === true,
    });
  });

  const server: Server = app.listen(options.port ?? 0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    consulAddress,
    client,
    config: config.config,
    async close() {
      events.close();
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
      await config.close();
      await client.close();
      await dev?.close();
    },
  };
}
