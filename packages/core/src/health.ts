import type { AvailabilityStatus } from './availability';
import { InvalidInputError } from './errors';
import { checkOptionNames, namesOf } from './optionNames';
import { checkNumberTypes } from './optionValues';
import type { WatchState, WatchStatus } from './sharedWatch';

export interface HealthOptions {
  /** Unhealthy when a watch (or the config) has not heard from Consul for longer than this, ms. */
  maxStalenessMs?: number;
  /** Unhealthy when the config last changed longer ago than this, ms (for configs that must be refreshed). */
  maxAgeMs?: number;
}

/** One watch of a client: what it watches, where it stands, how stale it is. */
export interface WatchHealth {
  type: string;
  /** `keyprefix "app/"`: names keys and services, never a token or a value. */
  watch: string;
  state: WatchState;
  since: string;
  stalenessMs: number;
}

export interface ConfigHealth {
  loaded: boolean;
  source: 'consul' | 'cache' | 'none';
  state: WatchState;
  stateSince: string;
  stalenessMs: number;
  lastUpdate?: string;
  ageMs?: number;
}

/** How current what this process runs on is: what probes and health indicators report. */
export interface HealthReport {
  healthy: boolean;
  /** Why it is unhealthy, one phrase each; empty when healthy. */
  problems: string[];
  /** The most stale watch (or config), ms. */
  stalenessMs: number;
  /** Whether the client's requests reach Consul, since when, and how many outages so far. */
  consul?: { available: boolean; since: string; outages: number };
  watches?: WatchHealth[];
  config?: ConfigHealth;
}

/** What a health report reads of a live config (any `LiveConfig<T>` has it). */
export interface ConfigView {
  readonly snapshot: unknown;
  readonly source: 'consul' | 'cache' | 'none';
  readonly status: WatchStatus;
  readonly stalenessMs: number;
  readonly lastUpdate: Date | undefined;
}

/** What a health report reads: a client (its watches and availability), a live config, or both. */
export interface HealthSources {
  client?: { readonly availability: AvailabilityStatus; watchReport(): WatchHealth[] };
  config?: ConfigView;
}

const round = (ms: number) => Math.round(ms);

/** The facts a probe reports and the verdict on them, the same for every adapter. */
export function healthReport(sources: HealthSources, options: HealthOptions = {}): HealthReport {
  const problems: string[] = [];
  const report: HealthReport = { healthy: true, problems, stalenessMs: 0 };
  const { client, config } = sources;
  if (client) {
    const availability = client.availability;
    report.consul = {
      available: availability.available,
      since: availability.since.toISOString(),
      outages: availability.outages,
    };
    report.watches = client.watchReport();
    for (const w of report.watches)
      report.stalenessMs = Math.max(report.stalenessMs, w.stalenessMs);
  }
  if (config) {
    const status = config.status;
    const lastUpdate = config.lastUpdate;
    const stalenessMs = round(config.stalenessMs);
    report.config = {
      loaded: config.snapshot !== undefined,
      source: config.source,
      state: status.state,
      stateSince: status.since.toISOString(),
      stalenessMs,
      ...(lastUpdate
        ? { lastUpdate: lastUpdate.toISOString(), ageMs: Date.now() - lastUpdate.getTime() }
        : {}),
    };
    report.stalenessMs = Math.max(report.stalenessMs, stalenessMs);
    if (!report.config.loaded) problems.push('config not loaded');
    if (
      options.maxAgeMs !== undefined &&
      (report.config.ageMs === undefined || report.config.ageMs > options.maxAgeMs)
    )
      problems.push(`config older than ${options.maxAgeMs} ms`);
  }
  if (options.maxStalenessMs !== undefined && report.stalenessMs > options.maxStalenessMs)
    problems.push(
      `not heard from Consul for ${report.stalenessMs} ms (more than ${options.maxStalenessMs} ms)`,
    );
  report.healthy = problems.length === 0;
  return report;
}

export interface HealthProbeOptions extends HealthOptions {
  /** A client whose watches are reported (each watch's state and staleness). */
  client?: HealthSources['client'];
  /** A live config, or an adapter's middleware/plugin object that has one as `config`. */
  config?: ConfigView | { readonly config: ConfigView };
}

const PROBE_OPTIONS = namesOf<HealthProbeOptions>({
  client: true,
  config: true,
  maxStalenessMs: true,
  maxAgeMs: true,
});

/** What a probe answers: the report, and `status` as readiness probes and people read it. */
export type HealthProbeBody = HealthReport & { status: 'up' | 'down' };

/**
 * The answer of a health probe route, checked once where the route is made: 200 with the
 * report when healthy, 503 when not. Adapters turn it into their framework's response.
 */
export function healthProbe(
  options: HealthProbeOptions,
  caller: string,
): () => { statusCode: 200 | 503; body: HealthProbeBody } {
  if (options === null || typeof options !== 'object' || (!options.client && !options.config))
    throw new InvalidInputError(
      `${caller} needs a client, a config or both: ${caller}({ config, maxStalenessMs: 300000 })`,
    );
  checkOptionNames(options, PROBE_OPTIONS, caller);
  checkNumberTypes(options, ['maxStalenessMs', 'maxAgeMs'], caller);
  for (const name of ['maxStalenessMs', 'maxAgeMs'] as const) {
    const value = options[name];
    if (value !== undefined && !(value >= 0))
      throw new InvalidInputError(
        `${caller}: ${name} must be 0 or more milliseconds, got ${value}`,
      );
  }
  const config =
    options.config && 'config' in options.config ? options.config.config : options.config;
  const sources: HealthSources = {
    ...(options.client ? { client: options.client } : {}),
    ...(config ? { config } : {}),
  };
  return () => {
    const report = healthReport(sources, options);
    return {
      statusCode: report.healthy ? 200 : 503,
      body: { status: report.healthy ? 'up' : 'down', ...report },
    };
  };
}
