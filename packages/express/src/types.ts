import type { ConfigObject } from '@consul-watch/core';

/**
 * Tell TypeScript what `req.config` holds, once per application:
 *
 * ```ts
 * declare module '@consul-watch/express' {
 *   interface ConsulConfigRegistry { config: AppConfig }
 * }
 * ```
 * Without it, `req.config` is a plain config object.
 */
// biome-ignore lint/suspicious/noEmptyInterface: it exists to be augmented by applications
export interface ConsulConfigRegistry {}

export type RequestConfig = ConsulConfigRegistry extends { config: infer C } ? C : ConfigObject;

declare global {
  namespace Express {
    interface Request {
      /**
       * The live config snapshot from Consul, set by `consulConfig()`: immutable, and the
       * same object from the start of this request to its end even if Consul changes.
       */
      config: RequestConfig;
    }
  }
}
