import { type ConfigChangeEvent, InvalidInputError, type LiveConfig } from '@consul-watch/core';
import { pickPaths } from '@consul-watch/core/internal';
import type { Request, Response } from 'express';

export interface LiveConfigEventsOptions {
  /** Dot paths that may leave the server; nothing else is ever sent. */
  expose: string[];
  /** Comment line sent this often to keep proxies from closing the stream. Default 15 000 ms. */
  heartbeatMs?: number;
  /** Reconnect delay the browser is told to use. Default 2 000 ms. */
  retryMs?: number;
}

export interface LiveConfigEventsHandler {
  (req: Request, res: Response): void;
  /** Open streams now. */
  readonly connections: number;
  /** Ends every open stream. */
  close(): void;
}

const touches = (changed: string, exposed: string) =>
  changed === exposed || changed.startsWith(`${exposed}.`) || exposed.startsWith(`${changed}.`);

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
  const expose = options?.expose;
  if (
    !Array.isArray(expose) ||
    expose.length === 0 ||
    expose.some((p) => typeof p !== 'string' || p === '' || p.startsWith('.') || p.endsWith('.'))
  ) {
    throw new InvalidInputError(
      'liveConfigEvents needs expose: a non-empty list of dot paths, such as ["features", "ui.theme"]',
    );
  }
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const retryMs = options.retryMs ?? 2_000;
  const streams = new Set<() => void>();

  const handler = ((req: Request, res: Response) => {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write(`retry: ${retryMs}\n\n`);
    let id = 0;
    let waiting = false;
    let pending = false;
    const send = () => {
      if (waiting) {
        pending = true;
        return;
      }
      const snapshot = live.snapshot;
      if (snapshot === undefined) return;
      id += 1;
      const ok = res.write(
        `id: ${id}\nevent: config\ndata: ${JSON.stringify(pickPaths(snapshot, expose))}\n\n`,
      );
      if (!ok) {
        waiting = true;
        res.once('drain', () => {
          waiting = false;
          if (pending) {
            pending = false;
            send();
          }
        });
      }
    };
    const onChange = (event: ConfigChangeEvent<T>) => {
      if (event.paths.some((p) => expose.some((e) => touches(p, e)))) send();
    };
    const onReady = () => send();
    const heartbeat = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
    const end = () => {
      clearInterval(heartbeat);
      live.off('change', onChange);
      live.off('ready', onReady);
      streams.delete(end);
      if (!res.writableEnded) res.end();
    };
    streams.add(end);
    live.on('change', onChange);
    if (live.snapshot !== undefined) send();
    else live.on('ready', onReady);
    req.on('close', end);
  }) as LiveConfigEventsHandler;
  Object.defineProperty(handler, 'connections', { get: () => streams.size });
  handler.close = () => {
    for (const end of [...streams]) end();
  };
  return handler;
}
