import { channel } from 'node:diagnostics_channel';
import type { ConsulWatchError } from './errors';

/**
 * What consul-watch publishes on `node:diagnostics_channel`. Names and message shapes are
 * public API; messages are plain objects, built only when the channel has subscribers.
 */
export const CHANNEL_NAMES = {
  requestStart: 'consul-watch:request:start',
  requestEnd: 'consul-watch:request:end',
  delivery: 'consul-watch:delivery',
  handler: 'consul-watch:handler',
  unavailable: 'consul-watch:unavailable',
  recovered: 'consul-watch:recovered',
  liveConfigUpdate: 'consul-watch:live-config:update',
  heartbeatFailed: 'consul-watch:registration:heartbeat-failed',
} as const;

/** Which watch a message is about: its type and the description its log lines use. */
export interface WatchRef {
  /** key, keyprefix, services, nodes, service, checks or event. */
  type: string;
  /** `keyprefix "app/"`; names keys and services, never a token or a value. */
  watch: string;
}

/** A blocking request leaves. */
export interface RequestStartMessage extends WatchRef {
  /** The index sent, as decimal digits; undefined for a request that must answer at once. */
  index: string | undefined;
}

/** A blocking request ended: answered, failed, or aborted by `stop()`. */
export interface RequestEndMessage extends WatchRef {
  index: string | undefined;
  /** X-Consul-Index of the answer. */
  indexOut: string | undefined;
  durationMs: number;
  status: 'ok' | 'error' | 'aborted';
  /** With status 'error': the typed error (its `code` is stable). */
  error?: ConsulWatchError;
}

/** A change is handed to one subscriber's handler. */
export interface DeliveryMessage extends WatchRef {
  /** Keys, instances or events in the change. */
  changes: number;
  index: string;
  /** The first state, delivered because the subscriber asked for `initial`. */
  initial: boolean;
}

/** A subscriber's handler returned (or its promise settled). */
export interface HandlerMessage extends WatchRef {
  durationMs: number;
  /** From the arrival of the answer that carried the change to the handler's end. */
  sinceAnswerMs: number;
  /** What the handler threw or rejected with. */
  error?: unknown;
}

/** A watch's spell of errors began (or its kind of error changed). */
export interface UnavailableMessage extends WatchRef {
  /** 'unavailable': Consul cannot be reached; 'failing': Consul refuses (403, 400, a bad filter). */
  state: 'unavailable' | 'failing';
  error: ConsulWatchError;
}

/** A watch had an answer again after a spell of errors. */
export interface RecoveredMessage extends WatchRef {
  downMs: number;
}

/** A live config took a new snapshot, or refused one. */
export interface LiveConfigUpdateMessage {
  outcome: 'applied' | 'rejected';
  /** Why a snapshot was refused: its schema, or a value that does not decode. */
  reason?: 'schema' | 'decode';
  /** Where the applied snapshot came from. */
  source?: 'consul' | 'cache';
  /** Dot paths that changed (applied), or that did not decode (rejected for decode). */
  paths: readonly string[];
  error?: ConsulWatchError;
}

/** A registration's heartbeat (or re-registration) failed; it keeps trying. */
export interface HeartbeatFailedMessage {
  service: string;
  id: string;
  error: ConsulWatchError;
}

export const channels = {
  requestStart: channel(CHANNEL_NAMES.requestStart),
  requestEnd: channel(CHANNEL_NAMES.requestEnd),
  delivery: channel(CHANNEL_NAMES.delivery),
  handler: channel(CHANNEL_NAMES.handler),
  unavailable: channel(CHANNEL_NAMES.unavailable),
  recovered: channel(CHANNEL_NAMES.recovered),
  liveConfigUpdate: channel(CHANNEL_NAMES.liveConfigUpdate),
  heartbeatFailed: channel(CHANNEL_NAMES.heartbeatFailed),
};

/** Keys, instances or events in a change event, whatever its watch type. */
export function changeCount(change: unknown): number {
  const c = change as {
    changes?: unknown[];
    added?: unknown[];
    removed?: unknown[];
    changed?: unknown[];
    events?: unknown[];
  };
  if (Array.isArray(c.changes)) return c.changes.length;
  if (Array.isArray(c.events)) return c.events.length;
  return (c.added?.length ?? 0) + (c.removed?.length ?? 0) + (c.changed?.length ?? 0);
}
