import type { LiveConfig } from '@consul-watch/core';
import { type ConfigEventsOptions, configEvents } from '@consul-watch/core/internal';
import type { Request, Response } from 'express';

export type LiveConfigEventsOptions = ConfigEventsOptions;

export interface LiveConfigEventsHandler {
  (req: Request, res: Response): void;
  /** Open streams now. */
  readonly connections: number;
  /** Ends every open stream. */
  close(): void;
}

/**
 * A Server-Sent Events route that pushes config changes to browsers. What it sends is an
 * explicit allow-list of paths, so secrets never leave the server by accident. A slow
 * client is never sent a backlog: while its socket is full, only the latest state waits.
 */
export function liveConfigEvents<T>(
  config: LiveConfig<T> | { config: LiveConfig<T> },
  options: LiveConfigEventsOptions,
): LiveConfigEventsHandler {
  const live =
    'config' in config && !('snapshot' in config) ? config.config : (config as LiveConfig<T>);
  const events = configEvents('liveConfigEvents', options);
  const handler = ((req: Request, res: Response) =>
    events.open(live, req, res)) as LiveConfigEventsHandler;
  Object.defineProperty(handler, 'connections', { get: () => events.connections });
  handler.close = () => events.close();
  return handler;
}
