import type { ConfigObject, ConsulWatch, LiveConfig } from '@consul-watch/core';

/**
 * Tell TypeScript what `request.config` holds, once per application:
 *
 * ```ts
 * declare module '@consul-watch/fastify' {
 *   interface ConsulConfigRegistry { config: AppConfig }
 * }
 * ```
 * Without it, `request.config` is a plain config object.
 */
// biome-ignore lint/suspicious/noEmptyInterface: it exists to be augmented by applications
export interface ConsulConfigRegistry {}

export type RequestConfig = ConsulConfigRegistry extends { config: infer C } ? C : ConfigObject;

declare module 'fastify' {
  interface FastifyInstance {
    /** The consul-watch client behind the config: the `client` given to the plugin, or its own. */
    consul: ConsulWatch;
    /** The live config behind `request.config`. */
    liveConfig: LiveConfig<RequestConfig>;
  }
  interface FastifyRequest {
    /**
     * The live config snapshot from Consul, set by the consulConfig plugin: immutable, and the
     * same object from the start of this request to its end even if Consul changes.
     */
    config: RequestConfig;
  }
}
