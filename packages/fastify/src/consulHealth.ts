import { type HealthProbeBody, type HealthProbeOptions, healthProbe } from '@consul-watch/core';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** `client`, `config` (the live config, `app.liveConfig`), `maxStalenessMs`, `maxAgeMs`. */
export type ConsulHealthOptions = HealthProbeOptions;
export type ConsulHealthBody = HealthProbeBody;

/**
 * A probe route handler for readiness checks and dashboards: JSON with each watch's state and
 * staleness and the config's source and age; 200 when healthy, 503 when not.
 * `app.get('/health/consul', consulHealth({ client: app.consul, config: app.liveConfig, maxStalenessMs: 300_000 }))`
 */
export function consulHealth(
  options: ConsulHealthOptions,
): (request: FastifyRequest, reply: FastifyReply) => Promise<ConsulHealthBody> {
  const answer = healthProbe(options, 'consulHealth');
  return async (_request, reply) => {
    const { statusCode, body } = answer();
    reply.code(statusCode).header('Cache-Control', 'no-store');
    return body;
  };
}
