import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { pickPaths } from './configTree';
import { InvalidInputError } from './errors';
import type { ConfigChangeEvent, LiveConfig } from './liveConfig';
import { checkOptionNames, namesOf } from './optionNames';
import { positiveMs } from './optionValues';

export interface ConfigEventsOptions {
  /** Dot paths that may leave the server; nothing else is ever sent. */
  expose: string[];
  /** Comment line sent this often to keep proxies from closing the stream. Default 15 000 ms. */
  heartbeatMs?: number;
  /** Reconnect delay the browser is told to use. Default 2 000 ms. */
  retryMs?: number;
}

/** The Server-Sent Events streams of one route, whatever the framework in front of it. */
export interface ConfigEvents {
  /**
   * Serves one `text/event-stream` on a Node response until the client goes away or
   * `close()`: the exposed part of the config at connect (or when the first config arrives)
   * and after every change that touches it. `headers` are sent along with the stream's own.
   */
  open<T>(
    live: LiveConfig<T>,
    req: IncomingMessage,
    res: ServerResponse,
    headers?: OutgoingHttpHeaders,
  ): void;
  /** Open streams now. */
  readonly connections: number;
  /** Ends every open stream. */
  close(): void;
}

const EVENTS_OPTIONS = namesOf<ConfigEventsOptions>({
  expose: true,
  heartbeatMs: true,
  retryMs: true,
});

const touches = (changed: string, exposed: string) =>
  changed === exposed || changed.startsWith(`${exposed}.`) || exposed.startsWith(`${changed}.`);

/**
 * Streams of config changes for browsers. What they send is an explicit allow-list of paths,
 * so secrets never leave the server by accident. A slow client is never sent a backlog: while
 * its socket is full, only the latest state waits. `name` is the front door, for the message.
 */
export function configEvents(name: string, options: ConfigEventsOptions): ConfigEvents {
  if (options !== null && typeof options === 'object')
    checkOptionNames(options, EVENTS_OPTIONS, name);
  const expose = options?.expose;
  if (
    !Array.isArray(expose) ||
    expose.length === 0 ||
    expose.some((p) => typeof p !== 'string' || p === '' || p.startsWith('.') || p.endsWith('.'))
  ) {
    throw new InvalidInputError(
      `${name} needs expose: a non-empty list of dot paths, such as ["features", "ui.theme"]`,
    );
  }
  const paths = [...expose];
  const heartbeatMs = positiveMs(name, 'heartbeatMs', options.heartbeatMs, 15_000);
  const retryMs = positiveMs(name, 'retryMs', options.retryMs, 2_000);
  const streams = new Set<() => void>();

  function open<T>(
    live: LiveConfig<T>,
    req: IncomingMessage,
    res: ServerResponse,
    headers: OutgoingHttpHeaders = {},
  ): void {
    res.writeHead(200, {
      ...headers,
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
        `id: ${id}\nevent: config\ndata: ${JSON.stringify(pickPaths(snapshot, paths))}\n\n`,
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
      if (event.paths.some((p) => paths.some((e) => touches(p, e)))) send();
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
  }

  return {
    open,
    get connections() {
      return streams.size;
    },
    close() {
      for (const end of [...streams]) end();
    },
  };
}
