// @consul-watch/core/internal: what the @consul-watch packages share with core and users do
// not need. Not public API: it may change in any release, without notice.
export { writeFileAtomic } from './atomicFile';
export { type CommandLine, type FlagValues, parseCommandLine } from './commandLine';
export { type ConfigEvents, type ConfigEventsOptions, configEvents } from './configEvents';
export {
  type ConfigSource,
  type ConfigSourceOptions,
  describeValue,
  type NotReadyBody,
  openConfigSource,
} from './configSource';
export { getPath, pickPaths } from './configTree';
export { type Connection, resolveConnection } from './connection';
export { checkOptionNames, closestName, suggestion } from './optionNames';
export { checkSettle, Settle, type SettleOptions } from './settle';
