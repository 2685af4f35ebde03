import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ConfigurableModuleClass } from './consul.options';
import { CONSUL_CLIENT, ConsulService } from './consul.service';
import { ConsulChangeExplorer } from './consulChange.explorer';
import { ConsulConfigService } from './consulConfig.service';
import { ConsulHealthIndicator } from './consulHealth.indicator';
import { ConsulLeaderService } from './consulLeader.service';
import { ConsulRegistration } from './consulRegistration.service';

/** `ConsulModule.forRoot(options)` / `forRootAsync({ imports, inject, useFactory })`, with `isGlobal`. */
@Module({
  imports: [DiscoveryModule],
  providers: [
    ConsulService,
    {
      provide: CONSUL_CLIENT,
      useFactory: (consul: ConsulService) => consul.client,
      inject: [ConsulService],
    },
    ConsulConfigService,
    ConsulChangeExplorer,
    ConsulRegistration,
    ConsulHealthIndicator,
    ConsulLeaderService,
  ],
  exports: [
    ConsulService,
    CONSUL_CLIENT,
    ConsulConfigService,
    ConsulRegistration,
    ConsulHealthIndicator,
    ConsulLeaderService,
  ],
})
export class ConsulModule extends ConfigurableModuleClass {}
