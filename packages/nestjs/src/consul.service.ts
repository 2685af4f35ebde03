import { type ConsulWatch, createConsulWatch } from '@consul-watch/core';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type ConsulModuleOptions, MODULE_OPTIONS_TOKEN } from './consul.options';
import { checkModuleOptions } from './optionNames';

/** The core client, one per module: KV operations and watches. Closed on shutdown. */
@Injectable()
export class ConsulService implements OnApplicationShutdown {
  readonly client: ConsulWatch;

  constructor(@Inject(MODULE_OPTIONS_TOKEN) options: ConsulModuleOptions) {
    // Every other provider of the module depends on this one: checked here, before any starts.
    checkModuleOptions(options);
    const {
      config: _config,
      register: _register,
      watchReadyTimeoutMs: _wait,
      ...connection
    } = options;
    this.client = createConsulWatch(connection);
  }

  get kv(): ConsulWatch['kv'] {
    return this.client.kv;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}

/** Injects the core client: `constructor(@InjectConsul() consul: ConsulWatch)`. */
export const CONSUL_CLIENT = Symbol('consul-watch client');
export const InjectConsul = (): ParameterDecorator => Inject(CONSUL_CLIENT);
