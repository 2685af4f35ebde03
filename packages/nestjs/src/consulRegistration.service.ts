import type { ServiceRegistration } from '@consul-watch/core';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type ConsulModuleOptions, MODULE_OPTIONS_TOKEN } from './consul.options';
import { ConsulService } from './consul.service';

/** The app's own service registration, when the module's `register` option asks for one. */
@Injectable()
export class ConsulRegistration implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ConsulRegistration');
  private live: ServiceRegistration | undefined;

  constructor(
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: ConsulModuleOptions,
    private readonly consul: ConsulService,
  ) {}

  /** The registration, once bootstrap made it. */
  get registration(): ServiceRegistration | undefined {
    return this.live;
  }

  async onApplicationBootstrap(): Promise<void> {
    const register = this.options.register;
    if (!register) return;
    this.live = await this.consul.client.register({
      ...register,
      onError: (error) => this.logger.warn(`heartbeat of ${register.name}: ${error.message}`),
    });
    this.logger.log(`registered service ${register.name} as ${this.live.id}`);
  }

  async onApplicationShutdown(): Promise<void> {
    const live = this.live;
    this.live = undefined;
    await live?.stop().catch((error: Error) => this.logger.warn(`deregistering: ${error.message}`));
  }
}
