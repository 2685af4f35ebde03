import { type ConfigHealth, healthReport, type WatchHealth } from '@consul-watch/core';
import { Injectable } from '@nestjs/common';
import { ConsulService } from './consul.service';
import { ConsulConfigService } from './consulConfig.service';

export interface ConsulHealthOptions {
  /** How long the reachability probe may take. Default 2 000 ms. */
  timeoutMs?: number;
  /** Down when Consul does not answer. Default true; false reports it but stays up on the cached config. */
  requireReachable?: boolean;
  /** Down when the config last changed longer ago than this (for configs that must be refreshed). */
  maxAgeMs?: number;
  /** Down when a watch (or the config) has not heard from Consul for longer than this, ms. */
  maxStalenessMs?: number;
}

/** What one check found, under the indicator's key. */
export interface ConsulHealthDetails {
  status: 'up' | 'down';
  reachable: boolean;
  leader?: string;
  latencyMs?: number;
  error?: string;
  /** This client's own view: whether its watches reach Consul, since when, and each watch. */
  watches?: {
    available: boolean;
    since: string;
    outages: number;
    stalenessMs: number;
    list: WatchHealth[];
  };
  /** The live config: loaded, from where, its watches' state (`connected`, `unavailable`, …) and staleness. */
  config?: ConfigHealth;
}

export type ConsulHealthResult<K extends string = string> = Record<K, ConsulHealthDetails>;

/** Thrown by `check()` when down; `isHealthCheckError` and `causes` are what @nestjs/terminus reads. */
export class ConsulHealthError extends Error {
  readonly isHealthCheckError = true;
  constructor(
    message: string,
    readonly causes: ConsulHealthResult,
  ) {
    super(message);
    this.name = 'ConsulHealthError';
  }
}

/**
 * Readiness of Consul for this app, in @nestjs/terminus's result shape without depending on
 * it: `health.check([() => consulHealth.isHealthy('consul')])`.
 */
@Injectable()
export class ConsulHealthIndicator {
  constructor(
    private readonly consul: ConsulService,
    private readonly config: ConsulConfigService,
  ) {}

  /** The result, with status 'down' when unhealthy (terminus 11 reads it so). */
  async isHealthy<K extends string = 'consul'>(
    key: K = 'consul' as K,
    options: ConsulHealthOptions = {},
  ): Promise<ConsulHealthResult<K>> {
    const details: ConsulHealthDetails = { status: 'up', reachable: false };
    const problems: string[] = [];
    try {
      const { leader, latencyMs } = await this.consul.client.ping(options.timeoutMs ?? 2_000);
      Object.assign(details, {
        reachable: true,
        leader,
        latencyMs: Math.round(latencyMs * 100) / 100,
      });
    } catch (error) {
      details.error = (error as Error).message;
      if (options.requireReachable !== false) problems.push('Consul is not reachable');
    }
    const report = healthReport(
      {
        client: this.consul.client,
        ...(this.config.hasConfig ? { config: this.config.config } : {}),
      },
      options,
    );
    details.watches = {
      ...report.consul!,
      stalenessMs: report.stalenessMs,
      list: report.watches ?? [],
    };
    if (report.config) details.config = report.config;
    problems.push(...report.problems);
    if (problems.length > 0) {
      details.status = 'down';
      details.error = [problems.join('; '), details.error].filter(Boolean).join(': ');
    }
    return { [key]: details } as ConsulHealthResult<K>;
  }

  /** As `isHealthy`, but throws ConsulHealthError when down (terminus 10's convention). */
  async check<K extends string = 'consul'>(
    key: K = 'consul' as K,
    options: ConsulHealthOptions = {},
  ): Promise<ConsulHealthResult<K>> {
    const result = await this.isHealthy(key, options);
    if (result[key].status === 'down')
      throw new ConsulHealthError(`${key}: ${result[key].error}`, result);
    return result;
  }
}
