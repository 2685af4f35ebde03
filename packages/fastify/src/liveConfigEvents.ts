import type { OutgoingHttpHeaders } from 'node:http';
import { InvalidInputError, type LiveConfig } from '@consul-watch/core';
import {
  type ConfigEvents,
  type ConfigEventsOptions,
  configEvents,
} from '@consul-watch/core/internal';
import type { FastifyReply, FastifyRequest } from 'fastify';

export type LiveConfigEventsOptions = ConfigEventsOptions;

export interface LiveConfigEventsHandler {
  (request: FastifyRequest, reply: FastifyReply): void;
  /** Open streams now. */
  readonly connections: number;
  /** Ends every open stream. */
  close(): void;
}

/** The routes' streams per live config, so the plugin can end them before the server closes. */
const streamsOf = new WeakMap<LiveConfig<unknown>, Set<ConfigEvents>>();
/**
 * The name every handler made here carries. Fastify binds a route's handler to its instance, so
 * `request.routeOptions.handler` is a bound copy: no identity to compare, but the name stays
 * ("bound consulWatchLiveConfigEvents").
 */
const NAME = 'consulWatchLiveConfigEvents';

/** Whether a route's handler is one of ours: before the first config it is let through to wait for it. */
export const isLiveConfigEvents = (handler: unknown): boolean =>
  typeof handler === 'function' && (handler.name === NAME || handler.name === `bound ${NAME}`);

/** Ends the streams open on `live` (the plugin's preClose: open streams would hold the server). */
export function endStreams(live: LiveConfig<unknown>): void {
  for (const events of streamsOf.get(live) ?? []) events.close();
  streamsOf.delete(live);
}

/**
 * A route handler serving Server-Sent Events: the exposed part of `app.liveConfig` at connect
 * and after every change that touches it. What it sends is an explicit allow-list of paths, so
 * secrets never leave the server by accident; a slow client is never sent a backlog. Streams
 * end when the app closes.
 */
export function liveConfigEvents(options: LiveConfigEventsOptions): LiveConfigEventsHandler {
  const events = configEvents('liveConfigEvents', options);
  const handler = ((request: FastifyRequest, reply: FastifyReply) => {
    const live = request.server.liveConfig as LiveConfig<unknown> | null | undefined;
    if (!live) {
      throw new InvalidInputError(
        'liveConfigEvents serves the config of the consulConfig plugin: register it on this app first, app.register(consulConfig, { layers: [...] })',
      );
    }
    const open = streamsOf.get(live) ?? new Set();
    streamsOf.set(live, open.add(events));
    // The stream outlives Fastify's reply cycle: it is written on the raw response from here on.
    reply.hijack();
    events.open(live, request.raw, reply.raw, reply.getHeaders() as OutgoingHttpHeaders);
  }) as LiveConfigEventsHandler;
  Object.defineProperty(handler, 'connections', { get: () => events.connections });
  handler.close = () => events.close();
  Object.defineProperty(handler, 'name', { value: NAME });
  return handler;
}
