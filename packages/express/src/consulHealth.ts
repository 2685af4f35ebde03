import {
  type ConfigView,
  type ConsulWatch,
  type HealthOptions,
  type HealthReport,
  healthReport,
  InvalidInputError,
} from '@consul-watch/core';
import type { Request, Response } from 'express';

export interface ConsulHealthOptions extends HealthOptions {
  /** A client whose watches are reported (each watch's state and staleness). */
  client?: ConsulWatch;
  /** A live config, or the `consulConfig()` middleware whose config is reported. */
  config?: ConfigView | { readonly config: ConfigView };
}

/** What the probe answers: the report, and `status` as readiness probes and people read it. */
export type ConsulHealthBody = HealthReport & { status: 'up' | 'down' };

/**
 * A probe handler for readiness checks and dashboards: JSON with each watch's state and
 * staleness and the config's source and age; 200 when healthy, 503 when not (the config is
 * not loaded, or nothing was heard from Consul for longer than `maxStalenessMs`).
 * `app.get('/health/consul', consulHealth({ config: middleware, maxStalenessMs: 300_000 }))`
 */
export function consulHealth(options: ConsulHealthOptions): (req: Request, res: Response) => void {
  if (options === null || typeof options !== 'object' || (!options.client && !options.config))
    throw new InvalidInputError(
      'consulHealth needs a client, a config or both: consulHealth({ config: middleware, maxStalenessMs: 300000 })',
    );
  for (const name of ['maxStalenessMs', 'maxAgeMs'] as const) {
    const value = options[name];
    if (value !== undefined && !(typeof value === 'number' && value >= 0))
      throw new InvalidInputError(
        `consulHealth: ${name} must be a number of milliseconds, got ${JSON.stringify(value)}`,
      );
  }
  const config =
    options.config && 'config' in options.config ? options.config.config : options.config;
  return (_req, res) => {
    const report = healthReport(
      { ...(options.client ? { client: options.client } : {}), ...(config ? { config } : {}) },
      options,
    );
    const body: ConsulHealthBody = { status: report.healthy ? 'up' : 'down', ...report };
    res.set('Cache-Control', 'no-store');
    res.status(report.healthy ? 200 : 503).json(body);
  };
}
