import {
  type ConfigLayer,
  type ConsulWatch,
  type ConsulWatchOptions,
  createConsulWatch,
  InvalidInputError,
  type LiveConfig,
  type StandardSchemaV1,
  type TreeFormat,
} from '@consul-watch/core';
import type { NextFunction, Request, Response } from 'express';

export interface ConsulConfigOptions<T> {
  /** A live config the application already has; the middleware only reads it. */
  config?: LiveConfig<T>;
  /** Otherwise one is made from these, on `client` or on a client made from `connection`. */
  client?: ConsulWatch;
  /** Connection (and watch engine) options for a client of the middleware's own. */
  connection?: ConsulWatchOptions;
  layers?: ConfigLayer[];
  format?: TreeFormat;
  schema?: StandardSchemaV1<unknown, T>;
  lastKnownGoodFile?: string;
  /**
   * Before the first config has arrived: 0 (default) answers 503 at once; a positive number
   * holds the request up to that many milliseconds, then answers 503.
   */
  waitForReadyMs?: number;
}

export interface ConsulConfigMiddleware<T> {
  (req: Request, res: Response, next: NextFunction): void;
  /** The live config behind `req.config`. */
  readonly config: LiveConfig<T>;
  /** Stops what the middleware started itself (its live config and client); a given `config` or `client` is left running. */
  close(): Promise<void>;
}

function notReady(res: Response, detail?: string): void {
  res
    .status(503)
    .set('Retry-After', '1')
    .json({
      error: 'config_not_ready',
      message: `The configuration from Consul is not loaded yet${detail ? ` (${detail})` : ''}; retry shortly.`,
    });
}

/** What a bad option value is, for a message: its type (a number as it is), never a content that may be secret. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  return typeof value === 'object' ? 'an object of another kind' : `a ${typeof value}`;
}

const hasMethods = (value: unknown, ...names: string[]): boolean =>
  typeof value === 'object' &&
  value !== null &&
  names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');

/**
 * Middleware that sets `req.config` to the live config's current snapshot: one property
 * read per request, no Consul call on the request path. After a Consul outage it keeps
 * serving the last good snapshot.
 */
export function consulConfig<T = Record<string, unknown>>(
  options: ConsulConfigOptions<T>,
): ConsulConfigMiddleware<T> {
  const needs =
    'consulConfig needs either config (a LiveConfig) or layers, such as { layers: ["config/my-app/"] }';
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidInputError(`${needs}; got ${describe(options)} instead of an options object`);
  }
  const waitMs = options.waitForReadyMs ?? 0;
  if (typeof waitMs !== 'number' || !Number.isFinite(waitMs) || waitMs < 0) {
    throw new InvalidInputError(
      `consulConfig waitForReadyMs must be 0 or more milliseconds (a finite number), got ${typeof waitMs === 'string' ? JSON.stringify(waitMs) : describe(waitMs)}`,
    );
  }
  let ownClient: ConsulWatch | undefined;
  let config = options.config;
  if (config && !hasMethods(config, 'ready', 'close', 'on')) {
    throw new InvalidInputError(
      `consulConfig config must be a LiveConfig (from client.liveConfig() or liveConfig()), got ${describe(config)}; or give layers instead`,
    );
  }
  if (!config) {
    if (!options.layers || options.layers.length === 0) {
      throw new InvalidInputError(needs);
    }
    if (
      options.client !== undefined &&
      options.client !== null &&
      !hasMethods(options.client, 'liveConfig')
    ) {
      throw new InvalidInputError(
        `consulConfig client must be a ConsulWatch from createConsulWatch(), got ${describe(options.client)}; or leave it out and give connection options`,
      );
    }
    if (!options.client) ownClient = createConsulWatch(options.connection);
    const client = options.client ?? ownClient!;
    config = client.liveConfig<T>({
      layers: options.layers,
      ...(options.format ? { format: options.format } : {}),
      ...(options.schema ? { schema: options.schema } : {}),
      ...(options.lastKnownGoodFile ? { lastKnownGoodFile: options.lastKnownGoodFile } : {}),
    });
  }
  const live = config;

  const middleware = ((req: Request, res: Response, next: NextFunction) => {
    const snapshot = live.snapshot;
    if (snapshot !== undefined) {
      req.config = snapshot as Request['config'];
      next();
      return;
    }
    if (waitMs === 0) {
      notReady(res);
      return;
    }
    live.ready(waitMs).then(
      (first) => {
        req.config = first as Request['config'];
        next();
      },
      () => notReady(res, `still waiting after ${waitMs} ms`),
    );
  }) as ConsulConfigMiddleware<T>;
  Object.defineProperty(middleware, 'config', { value: live });
  middleware.close = async () => {
    if (!options.config) await live.close();
    await ownClient?.close();
  };
  return middleware;
}
