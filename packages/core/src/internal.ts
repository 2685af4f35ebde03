// @consul-watch/core/internal: what the @consul-watch packages share with core and users do
// not need. Not public API: it may change in any release, without notice.
export { writeFileAtomic } from './atomicFile';
export { decodeValue, formatOfKey } from './codec';
export { type CommandLine, type FlagValues, parseCommandLine } from './commandLine';
export { type ConfigEvents, type ConfigEventsOptions, configEvents } from './configEvents';
export {
  type ConfigSource,
  type ConfigSourceOptions,
  type NotReadyBody,
  openConfigSource,
} from './configSource';
export { getPath, pickPaths } from './configTree';
export { type Connection, resolveConnection } from './connection';
export { checkClientOptionNames } from './consulWatch';
export { validateKey } from './keys';
export { LastKnownGoodFile } from './lastKnownGood';
export { describeValue } from './messageText';
export { checkOptionNames, closestName, namesOf, suggestion } from './optionNames';
export { checkNumberTypes, positiveMs } from './optionValues';
export { Readiness } from './readiness';
export { checkSettle, Settle, type SettleOptions } from './settle';
