export type { StandardSchemaV1 } from '@standard-schema/spec';
export {
  type AvailabilityOptions,
  type AvailabilityStatus,
  DEFAULT_AVAILABILITY,
} from './availability';
export type { BackoffOptions } from './backoff';
export type { ValueFormat } from './codec';
export type { ConfigObject } from './configTree';
export type { ConnectionOptions, Consistency } from './connection';
export {
  type ConsulWatch,
  type ConsulWatchOptions,
  createConsulWatch,
  DEFAULT_ENGINE,
  type LeaderOptions,
  type WatchRequest,
} from './consulWatch';
export {
  CHANNEL_NAMES,
  type DeliveryMessage,
  type HandlerMessage,
  type HeartbeatFailedMessage,
  type LiveConfigUpdateMessage,
  type RecoveredMessage,
  type RequestEndMessage,
  type RequestStartMessage,
  type UnavailableMessage,
  type WatchRef,
} from './diagnostics';
export * from './errors';
export { changeToJson } from './handlers/changeJson';
export { type HttpHandlerOptions, httpHandler } from './handlers/http';
export { type ScriptHandlerOptions, scriptHandler } from './handlers/script';
export {
  type ConfigHealth,
  type ConfigView,
  type HealthOptions,
  type HealthProbeBody,
  type HealthProbeOptions,
  type HealthReport,
  type HealthSources,
  healthProbe,
  healthReport,
  type WatchHealth,
} from './health';
export type { AcquireOptions, Holdable, HoldOptions } from './hold';
export type {
  DeleteOptions,
  GetOptions,
  KvClient,
  KvEntry,
  KvTxnOp,
  KvTxnResult,
  PutOptions,
} from './kv';
export type { KvKeyChange } from './kvDiff';
export { type LeaderCallbacks, LeaderElection, type LeaderState } from './leader';
export {
  type ConfigChangeEvent,
  type ConfigLayer,
  LiveConfig,
  type LiveConfigOptions,
  type TreeFormat,
} from './liveConfig';
export { type ConsulLock, LOCK_FLAGS, type LockOptions } from './lock';
export { consoleLogger, type Logger, silentLogger } from './logger';
export { INSTRUMENTS } from './metrics';
export type { ServiceRegistration, ServiceRegistrationOptions } from './registration';
export { type ConsulSemaphore, SEMAPHORE_FLAGS, type SemaphoreOptions } from './semaphore';
export { type ConsulSession, DEFAULT_SESSION, type SessionOptions } from './session';
export type { SettleOptions } from './settle';
export type { EngineOptions, WatchState, WatchStatus } from './sharedWatch';
export { Watch, type WatchOptions } from './watch';
export type {
  CatalogChange,
  CatalogNode,
  EventChange,
  HealthCheck,
  KvChange,
  ServiceEntry,
  ServiceSummary,
  WatchChange,
  WatchSettings,
  WatchSpec,
  WatchTypeName,
} from './watchTypes';
export type { CheckState, ChecksParams, FilterParams, ServiceParams } from './watchTypes/catalog';
export type { EventParams, UserEvent } from './watchTypes/event';
