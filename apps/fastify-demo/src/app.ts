import { consoleLogger, type LiveConfig } from '@consul-watch/core';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import {
  type PageConfig,
  type PageDemoOptions,
  page,
  seedPage,
} from '@consul-watch/express-demo/page';
import { consulConfig, liveConfigEvents } from '@consul-watch/fastify';
import Fastify, { type FastifyInstance } from 'fastify';

/** The keys this demo reads (it seeds them when they are missing). */
export const PREFIX = 'demo/fastify/';

// The page and the settings it shows are the Express demo's: one page, two frameworks.
type AppConfig = PageConfig;

declare module '@consul-watch/fastify' {
  interface ConsulConfigRegistry {
    config: AppConfig;
  }
}

export type FastifyDemoOptions = PageDemoOptions;

export interface FastifyDemo {
  url: string;
  /** The agent it talks to (`host:port`). */
  consulAddress: string;
  app: FastifyInstance;
  /** The live config behind request.config and the page. */
  config: LiveConfig<AppConfig>;
  close(): Promise<void>;
}

/** The routes: the page, its event stream, and the settings as JSON from request.config. */
async function routes(app: FastifyInstance): Promise<void> {
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page));
  // No icon: answered empty rather than 404, so the browser's request leaves no error behind.
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());
  app.get('/events', liveConfigEvents({ expose: ['site', 'ui', 'features'] }));
  app.get('/api/settings', async (request) => ({
    title: request.config.site?.title,
    banner: request.config.site?.banner,
    theme: request.config.ui?.theme,
    beta: request.config.features?.beta === true,
  }));
}

export async function startFastifyDemo(options: FastifyDemoOptions = {}): Promise<FastifyDemo> {
  const log = options.logger ?? consoleLogger('fastify-demo');
  let dev: DevServer | undefined;
  let consulAddress = options.consulAddress ?? process.env.CONSUL_HTTP_ADDR;
  if (!consulAddress) {
    dev = await startDevServer();
    consulAddress = dev.address;
    log.info(`no CONSUL_HTTP_ADDR set; started the embedded dev-server at ${dev.url}`);
  }
  const app = Fastify();
  // Closed last, after the plugin has closed its client.
  if (dev) app.addHook('onClose', () => dev.close());
  try {
    await app.register(consulConfig, {
      connection: { address: consulAddress, logger: log },
      layers: [PREFIX],
      format: 'auto',
      waitForReadyMs: 5_000,
    });
    await seedPage(app.consul.kv, PREFIX, 'consul-watch demo on Fastify');
    await app.register(routes);
    await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  } catch (error) {
    await app.close();
    throw error;
  }
  const { port } = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    consulAddress,
    app,
    config: app.liveConfig,
    close: () => app.close(),
  };
}
