import type { LiveConfig } from '@consul-watch/core';
import { type ConfigSourceOptions, openConfigSource } from '@consul-watch/core/internal';
import type { NextFunction, Request, Response } from 'express';

/** `config`, or `layers` (and friends) on `client` or `connection`; and `waitForReadyMs`. */
export type ConsulConfigOptions<T> = ConfigSourceOptions<T>;

export interface ConsulConfigMiddleware<T> {
  (req: Request, res: Response, next: NextFunction): void;
  /** The live config behind `req.config`. */
  readonly config: LiveConfig<T>;
  /** Stops what the middleware started itself (its live config and client); a given `config` or `client` is left running. */
  close(): Promise<void>;
}

/**
 * Middleware that sets `req.config` to the live config's current snapshot: one property
 * read per request, no Consul call on the request path. After a Consul outage it keeps
 * serving the last good snapshot.
 */
export function consulConfig<T = Record<string, unknown>>(
  options: ConsulConfigOptions<T>,
): ConsulConfigMiddleware<T> {
  const source = openConfigSource('consulConfig', options);
  const live = source.live;

  const middleware = ((req: Request, res: Response, next: NextFunction) => {
    const snapshot = live.snapshot;
    if (snapshot !== undefined) {
      req.config = snapshot as Request['config'];
      next();
      return;
    }
    source.awaitFirst(
      (first) => {
        req.config = first as Request['config'];
        next();
      },
      (body) => {
        res.status(503).set('Retry-After', '1').json(body);
      },
    );
  }) as ConsulConfigMiddleware<T>;
  Object.defineProperty(middleware, 'config', { value: live });
  middleware.close = () => source.close();
  return middleware;
}
