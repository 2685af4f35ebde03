import type { Consistency } from '../connection';
import {
  type CatalogChange,
  type CatalogNode,
  type ChecksParams,
  checksWatch,
  type FilterParams,
  type HealthCheck,
  nodesWatch,
  type ServiceEntry,
  type ServiceParams,
  type ServiceSummary,
  servicesWatch,
  serviceWatch,
} from './catalog';
import { type EventChange, type EventParams, eventWatch } from './event';
import { type KvChange, keyprefixWatch, keyWatch } from './kv';
import type { WatchType } from './watchType';

/** The seven watch types of Consul's own `consul watch`, spelled out so the public types stay free of the modules behind them. */
export type WatchTypeName =
  | 'key'
  | 'keyprefix'
  | 'services'
  | 'nodes'
  | 'service'
  | 'checks'
  | 'event';

/** The seven watch types of Consul's own `consul watch`. */
export const watchTypes: Record<WatchTypeName, AnyWatchType> = {
  key: keyWatch,
  keyprefix: keyprefixWatch,
  services: servicesWatch,
  nodes: nodesWatch,
  service: serviceWatch,
  checks: checksWatch,
  event: eventWatch,
};

/** The names of the settings every watch takes. */
export const WATCH_SETTINGS = ['datacenter', 'token', 'consistency'] as const;

/** Settings every watch takes; a watch with different settings is a different watch. */
export interface WatchSettings {
  datacenter?: string;
  /** ACL token for this watch, instead of the connection's. */
  token?: string;
  consistency?: Consistency;
}

export type WatchSpec = WatchSettings &
  (
    | { type: 'key'; key: string }
    | { type: 'keyprefix'; prefix: string }
    | ({ type: 'services' } & FilterParams)
    | ({ type: 'nodes' } & FilterParams)
    | ({ type: 'service' } & ServiceParams)
    | ({ type: 'checks' } & ChecksParams)
    | ({ type: 'event' } & EventParams)
  );

export interface WatchChangeByType {
  key: KvChange;
  keyprefix: KvChange;
  services: CatalogChange<ServiceSummary>;
  nodes: CatalogChange<CatalogNode>;
  service: CatalogChange<ServiceEntry>;
  checks: CatalogChange<HealthCheck>;
  event: EventChange;
}

/** What a subscriber receives: the type's change, with the watch type, index and whether it is the first state. */
export type WatchChange<T extends WatchTypeName = WatchTypeName> = {
  [K in T]: WatchChangeByType[K] & { type: K; index: string; initial: boolean };
}[T];

// biome-ignore lint/suspicious/noExplicitAny: the registry holds types of different parameters
export type AnyWatchType = WatchType<any, any, any, any>;

export type {
  CatalogChange,
  CatalogNode,
  EventChange,
  HealthCheck,
  KvChange,
  ServiceEntry,
  ServiceSummary,
};
