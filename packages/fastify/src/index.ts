import './types';

export { type ConsulConfigOptions, consulConfig } from './consulConfig';
export { type ConsulHealthBody, type ConsulHealthOptions, consulHealth } from './consulHealth';
export {
  type LiveConfigEventsHandler,
  type LiveConfigEventsOptions,
  liveConfigEvents,
} from './liveConfigEvents';
export type { ConsulConfigRegistry, RequestConfig } from './types';
