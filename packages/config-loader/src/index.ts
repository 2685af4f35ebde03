export { type ConsulEnvOptions, type ConsulEnvResult, loadConsulEnv } from './consulEnv';
export { parseDotenv } from './dotenv';
export { envNameOf, type NameOptions } from './envNames';
export { expandValues } from './expand';
export {
  type ConsulEnvWatch,
  type EnvChange,
  type RollingOptions,
  type RolloutStep,
  type WatchConsulEnvOptions,
  watchConsulEnv,
} from './watchConsulEnv';
