import 'reflect-metadata';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createConsulWatch, type WatchChange } from '@consul-watch/core';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import {
  ConsulConfigService,
  ConsulHealthIndicator,
  ConsulModule,
  ConsulRegistration,
  ConsulValue,
  OnConsulChange,
} from '@consul-watch/nestjs';
import {
  Controller,
  type DynamicModule,
  Get,
  Headers,
  HttpException,
  type INestApplication,
  Injectable,
  Logger,
  type LoggerService,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OpenFeatureClient } from '@openfeature/nestjs-sdk';
import { type Client, OpenFeature } from '@openfeature/server-sdk';
import { FLAGS_KEY, featureFlagsModule, flagDocument, nextFlagChange } from './featureFlags';

export { FLAGS_KEY, flagDocument } from './featureFlags';

/** The keys this demo reads, and what it seeds when they are missing. */
export const PREFIX = 'demo/nest/';
/** The service whose health the demo follows. */
export const PAYMENTS = 'payments';
const SEED: Record<string, string> = {
  'limits/requests-per-minute': '60',
  greeting: 'Hello from Nest',
};

export interface DemoConfig {
  limits?: { 'requests-per-minute'?: number };
  greeting?: string;
}

/** What the change handlers saw, newest last (the last 50). */
@Injectable()
export class ChangeLog {
  private readonly logger = new Logger('ChangeLog');
  readonly entries: { at: string; what: string }[] = [];
  /** Emits 'entry' with each line as it is added. */
  readonly events = new EventEmitter();

  private add(what: string): void {
    this.logger.log(what);
    this.entries.push({ at: new Date().toISOString(), what });
    if (this.entries.length > 50) this.entries.shift();
    this.events.emit('entry', what);
  }

  @OnConsulChange({ prefix: PREFIX })
  onConfigKey(change: WatchChange<'keyprefix'>): void {
    for (const c of change.changes) {
      this.add(
        c.op === 'set' ? `set ${c.key} = ${c.entry.value.toString('utf8')}` : `delete ${c.key}`,
      );
    }
  }

  @OnConsulChange({ service: PAYMENTS, initial: true })
  onPayments(change: WatchChange<'service'>): void {
    const passing = change.current.filter((e) =>
      e.Checks.every((check) => check.Status === 'passing'),
    ).length;
    // The health of the `payments` service as Consul sees it; the demo registers none.
    this.add(
      change.current.length === 0
        ? `${PAYMENTS}: no instance registered (register one with PUT /v1/agent/service/register to see it here)`
        : `${PAYMENTS}: ${passing} of ${change.current.length} instances passing their health checks`,
    );
  }
}

/** Reads one limit through @ConsulValue: always the current value. */
@Injectable()
export class RateLimits {
  @ConsulValue('limits.requests-per-minute', 60) readonly perMinute!: number;
}

@Controller()
export class DemoController {
  constructor(
    private readonly config: ConsulConfigService<DemoConfig>,
    private readonly limits: RateLimits,
    private readonly changes: ChangeLog,
    private readonly health: ConsulHealthIndicator,
    private readonly registration: ConsulRegistration,
    @OpenFeatureClient() private readonly flags: Client,
  ) {}

  @Get()
  index() {
    return {
      greeting: this.config.get('greeting', 'Hello'),
      try: ['/flags', '/config', '/changes', '/health'],
      registeredAs: this.registration.registration?.id,
    };
  }

  /** Feature flags through OpenFeature, for the user the `x-user` header names. */
  @Get('flags')
  async features(@Headers('x-user') user?: string) {
    const [checkout, banner, darkMode] = await Promise.all([
      this.flags.getBooleanDetails('new-checkout', false),
      this.flags.getStringDetails('checkout-banner', 'blue'),
      this.flags.getBooleanValue('dark-mode', false),
    ]);
    return {
      user: user || 'anonymous',
      newCheckout: checkout.value,
      checkoutBanner: banner.value,
      why: { newCheckout: checkout.reason, checkoutBanner: banner.reason },
      darkMode,
      requestsPerMinute: this.limits.perMinute,
    };
  }

  @Get('config')
  current() {
    return this.config.snapshot();
  }

  @Get('changes')
  recent() {
    return this.changes.entries;
  }

  @Get('health')
  async ready() {
    const result = await this.health.isHealthy('consul', { requireReachable: false });
    if (result.consul.status === 'down') throw new HttpException(result, 503);
    return result;
  }
}

/** The HTTP platforms the demo runs on. */
export const PLATFORMS = ['express', 'fastify'] as const;
export type NestPlatform = (typeof PLATFORMS)[number];

export interface NestDemoOptions {
  /** `express` (@nestjs/platform-express) or `fastify` (@nestjs/platform-fastify). Default: NEST_PLATFORM, else express. */
  platform?: NestPlatform;
  /**
   * Close on SIGINT/SIGTERM through Nest's shutdown hooks (which re-raise the signal after
   * closing). Default true; a host that handles signals itself (pnpm demo) turns it off.
   */
  shutdownHooks?: boolean;
  /** Default 0 (a free port). */
  port?: number;
  /** A Consul agent; default CONSUL_HTTP_ADDR, else an embedded dev-server. */
  consulAddress?: string;
  /** Nest's logger; false for none. */
  logger?: LoggerService | false;
}

export interface NestDemo {
  url: string;
  platform: NestPlatform;
  consulAddress: string;
  app: INestApplication;
  /** The app's live config (what /config reads, and /flags its limit). */
  config: ConsulConfigService<DemoConfig>;
  /** Resolves with the flags named by the next PROVIDER_CONFIGURATION_CHANGED. */
  nextFlagChange(): Promise<string[]>;
  close(): Promise<void>;
}

function demoModule(consulAddress: string, port: number, flags: DynamicModule): DynamicModule {
  return {
    module: class NestDemoModule {},
    imports: [
      flags,
      ConsulModule.forRoot({
        address: consulAddress,
        config: { prefix: PREFIX, format: 'auto' },
        register: { name: 'nestjs-demo', ...(port ? { port } : {}), tags: ['demo'] },
      }),
    ],
    controllers: [DemoController],
    providers: [ChangeLog, RateLimits],
  };
}

/** Starts the demo API: on CONSUL_HTTP_ADDR, or an embedded dev-server when none is given. */
export async function startNestDemo(options: NestDemoOptions = {}): Promise<NestDemo> {
  const platform = options.platform ?? process.env.NEST_PLATFORM ?? 'express';
  if (!PLATFORMS.includes(platform as NestPlatform))
    throw new Error(
      `nestjs-demo runs on ${PLATFORMS.join(' or ')}, not ${JSON.stringify(platform)}; set NEST_PLATFORM to one of them`,
    );
  let dev: DevServer | undefined;
  let consulAddress = options.consulAddress ?? process.env.CONSUL_HTTP_ADDR;
  if (!consulAddress) {
    dev = await startDevServer();
    consulAddress = dev.address;
  }
  const seeder = createConsulWatch({ address: consulAddress });
  let app: INestApplication | undefined;
  try {
    const existing = new Set(await seeder.kv.keys(PREFIX));
    for (const [key, value] of Object.entries(SEED)) {
      if (!existing.has(PREFIX + key)) await seeder.kv.put(PREFIX + key, value);
    }
    if ((await seeder.kv.getEntry(FLAGS_KEY)) === undefined)
      await seeder.kv.put(FLAGS_KEY, flagDocument());
    const port = options.port ?? 0;
    const nestOptions = { logger: options.logger === undefined ? new Logger() : options.logger };
    const module = demoModule(consulAddress, port, await featureFlagsModule(consulAddress));
    // The Fastify adapter is loaded only when asked for, so the Express start stays as quick.
    app =
      platform === 'fastify'
        ? await NestFactory.create(
            module,
            new (await import('@nestjs/platform-fastify')).FastifyAdapter(),
            nestOptions,
          )
        : await NestFactory.create(module, nestOptions);
    if (options.shutdownHooks !== false) app.enableShutdownHooks();
    await app.listen(port, '127.0.0.1');
  } catch (error) {
    await app?.close();
    await OpenFeature.close();
    await dev?.close();
    throw error;
  } finally {
    await seeder.close();
  }
  const started = app;
  const { port } = started.getHttpServer().address() as AddressInfo;
  if (dev)
    Logger.log(
      `no CONSUL_HTTP_ADDR set; started the embedded dev-server at ${dev.url}`,
      'NestDemo',
    );
  return {
    url: `http://127.0.0.1:${port}`,
    platform: platform as NestPlatform,
    consulAddress,
    app: started,
    config: started.get(ConsulConfigService),
    nextFlagChange,
    async close() {
      await started.close();
      // The OpenFeature module closes the provider on shutdown; this also covers a host without it.
      await OpenFeature.close();
      await dev?.close();
    },
  };
}
