import { type HealthProbeBody, type HealthProbeOptions, healthProbe } from '@consul-watch/core';
import type { Request, Response } from 'express';

/** `client`, `config` (the `consulConfig()` middleware or a LiveConfig), `maxStalenessMs`, `maxAgeMs`. */
export type ConsulHealthOptions = HealthProbeOptions;
export type ConsulHealthBody = HealthProbeBody;

/**
 * A probe handler for readiness checks and dashboards: JSON with each watch's state and
 * staleness and the config's source and age; 200 when healthy, 503 when not (the config is
 * not loaded, or nothing was heard from Consul for longer than `maxStalenessMs`).
 * `app.get('/health/consul', consulHealth({ config: middleware, maxStalenessMs: 300_000 }))`
 */
export function consulHealth(options: ConsulHealthOptions): (req: Request, res: Response) => void {
  const answer = healthProbe(options, 'consulHealth');
  return (_req, res) => {
    const { statusCode, body } = answer();
    res.set('Cache-Control', 'no-store');
    res.status(statusCode).json(body);
  };
}
