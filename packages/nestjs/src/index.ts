export { ConsulModule } from './consul.module';
export {
  type ConsulConfigSection,
  type ConsulModuleOptions,
  MODULE_OPTIONS_TOKEN as CONSUL_MODULE_OPTIONS,
} from './consul.options';
export { CONSUL_CLIENT, ConsulService, InjectConsul } from './consul.service';
export { ConsulConfigService } from './consulConfig.service';
export {
  type ConsulHealthDetails,
  ConsulHealthError,
  ConsulHealthIndicator,
  type ConsulHealthOptions,
  type ConsulHealthResult,
} from './consulHealth.indicator';
export { ConsulLeaderService, type LeaderCampaignOptions } from './consulLeader.service';
export { ConsulRegistration } from './consulRegistration.service';
export { ConsulValue } from './consulValue.decorator';
export { LeaderOnly, type LeaderOnlyOptions } from './leaderOnly.decorator';
export { OnConsulChange, type OnConsulChangeOptions } from './onConsulChange.decorator';
