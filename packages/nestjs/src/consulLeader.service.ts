import {
  InvalidInputError,
  type LeaderElection,
  type LeaderState,
  type LockOptions,
} from '@consul-watch/core';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Observable } from 'rxjs';
import { ConsulService } from './consul.service';
import { type CampaignDeclaration, declaredCampaigns } from './leaderOnly.decorator';

/** Settings of one campaign; the same for every user of a key in this app. */
export type LeaderCampaignOptions = Omit<LockOptions, 'session'>;

/**
 * Leader elections of this app, one per key, shared by every @LeaderOnly method and every
 * caller that asks for the same key. Each steps down at shutdown, so another instance takes
 * over at once instead of after the session's TTL.
 */
@Injectable()
export class ConsulLeaderService implements OnApplicationShutdown {
  private readonly logger = new Logger('ConsulLeader');
  private readonly elections = new Map<string, LeaderElection>();
  /** The options each running campaign was started with, and who gave them. */
  private readonly started = new Map<string, CampaignDeclaration>();

  constructor(private readonly consul: ConsulService) {}

  /**
   * Campaigns for `key` (once per key; later calls return the same election). Without
   * options it takes those of the @LeaderOnly decorators for `key`, whoever calls first;
   * options that differ from theirs, or from the running campaign's, are refused.
   */
  campaign(key: string, options?: LeaderCampaignOptions): LeaderElection {
    return this.join(
      key,
      options,
      `ConsulLeaderService.campaign(${JSON.stringify(key)})${callerOf()}`,
    );
  }

  /** @internal `campaign`, naming where the options come from for a refusal's message. */
  join(key: string, options: LeaderCampaignOptions | undefined, where: string): LeaderElection {
    const running = this.elections.get(key);
    const given =
      options !== undefined && Object.keys(options).length > 0 ? { options, where } : undefined;
    // Every source of options for the key must agree: the decorators, whoever started it, this caller.
    const sources = [
      ...(running ? [this.started.get(key)!] : declaredCampaigns(key)),
      ...(given ? [given] : []),
    ];
    const first = sources[0];
    for (const other of sources.slice(1))
      if (first && !sameOptions(first.options, other.options))
        throw new InvalidInputError(
          `leader key ${JSON.stringify(key)} is given two different option sets: ${describeOptions(first.options)} by ${first.where}, and ${describeOptions(other.options)} by ${other.where}. One campaign serves a key in an app: give its options in one place (say, the @LeaderOnly), and call state$(key) or campaign(key) without options`,
        );
    if (running) return running;
    const chosen = first ?? { options: {}, where };
    const election = this.consul.client.leader(key, {
      ...chosen.options,
      onElected: () => this.logger.log(`this instance leads ${JSON.stringify(key)}`),
      onDemoted: (reason) =>
        this.logger.log(`this instance no longer leads ${JSON.stringify(key)} (${reason})`),
    });
    this.elections.set(key, election);
    this.started.set(key, chosen);
    return election;
  }

  /** True while this instance leads `key`; false when it does not or does not campaign for it. */
  isLeader(key: string): boolean {
    return this.elections.get(key)?.isLeader ?? false;
  }

  /** While leader of `key`, the term's signal: it aborts the moment leadership ends. */
  signal(key: string): AbortSignal | undefined {
    return this.elections.get(key)?.signal;
  }

  /** The leadership state of `key`: now, then at every change (campaigning if not yet). */
  state$(key: string, options?: LeaderCampaignOptions): Observable<LeaderState> {
    const election = this.join(
      key,
      options,
      `ConsulLeaderService.state$(${JSON.stringify(key)})${callerOf()}`,
    );
    return new Observable((subscriber) => {
      subscriber.next(election.status);
      return election.subscribe((state) => subscriber.next(state));
    });
  }

  async onApplicationShutdown(): Promise<void> {
    const all = [...this.elections.values()];
    this.elections.clear();
    this.started.clear();
    await Promise.all(all.map((e) => e.close()));
  }
}

/** Same settings, whatever the order of their names or an undefined among them. */
function sameOptions(a: LeaderCampaignOptions, b: LeaderCampaignOptions): boolean {
  return describeOptions(a) === describeOptions(b);
}

function describeOptions(options: LeaderCampaignOptions): string {
  const set = Object.entries(options)
    .filter(([, value]) => value !== undefined)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => `${name}: ${JSON.stringify(value)}`);
  return set.length === 0 ? '{} (the defaults)' : `{ ${set.join(', ')} }`;
}

/** " (at AppService.onModuleInit (src/app.service.ts:12:5))": the user's line that called us. */
function callerOf(): string {
  const frames = (new Error().stack ?? '').split('\n').slice(1);
  const theirs = frames.find(
    (f) => !/consulLeader\.service|node_modules|node:internal/.test(f) && f.includes('at '),
  );
  return theirs ? ` (${theirs.trim()})` : '';
}
