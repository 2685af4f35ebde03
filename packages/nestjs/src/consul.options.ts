import type {
  ConfigLayer,
  ConsulWatchOptions,
  ServiceRegistrationOptions,
  SettleOptions,
  StandardSchemaV1,
  TreeFormat,
} from '@consul-watch/core';
import { ConfigurableModuleBuilder } from '@nestjs/common';

export interface ConsulConfigSection {
  /** Folders of keys, each a tree layer of the live config, in order (later wins): 'config/my-app' or 'config/my-app/'. A string or a list. Documents go in `layers`. */
  prefix?: string | string[];
  layers?: ConfigLayer[];
  format?: TreeFormat;
  schema?: StandardSchemaV1;
  lastKnownGoodFile?: string;
  /** Apply a burst of changes once, when quiet for `minMs` or `maxMs` after its first change; the first config is not held back. */
  settle?: SettleOptions;
  /** How long bootstrap waits for the first config. Default 10 000 ms. */
  readyTimeoutMs?: number;
  /** When the first config does not come in time: fail bootstrap (default) or start without it. */
  onUnavailable?: 'fail' | 'start';
}

export interface ConsulModuleOptions extends ConsulWatchOptions {
  /** A live config for ConsulConfigService; without it only the client and @OnConsulChange are provided. */
  config?: ConsulConfigSection;
  /**
   * Registers this app as a Consul service at bootstrap, keeps its TTL check passing, and
   * deregisters it at shutdown.
   */
  register?: Omit<ServiceRegistrationOptions, 'onError'>;
  /** How long bootstrap waits for each @OnConsulChange watch's first state. Default 10 000 ms. */
  watchReadyTimeoutMs?: number;
}

export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<ConsulModuleOptions>()
    .setClassMethodName('forRoot')
    .setExtras({ isGlobal: false }, (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
    }))
    .build();
