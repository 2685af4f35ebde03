import type { LeaderElection, LeaderState, LockOptions } from '@consul-watch/core';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Observable } from 'rxjs';
import { ConsulService } from './consul.service';

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

  constructor(private readonly consul: ConsulService) {}

  /** Campaigns for `key` (once per key; later calls return the same election). */
  campaign(key: string, options: LeaderCampaignOptions = {}): LeaderElection {
    let election = this.elections.get(key);
    if (!election) {
      election = this.consul.client.leader(key, {
        ...options,
        onElected: () => this.logger.log(`this instance leads ${JSON.stringify(key)}`),
        onDemoted: (reason) =>
          this.logger.log(`this instance no longer leads ${JSON.stringify(key)} (${reason})`),
      });
      this.elections.set(key, election);
    }
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
    const election = this.campaign(key, options);
    return new Observable((subscriber) => {
      subscriber.next(election.status);
      return election.subscribe((state) => subscriber.next(state));
    });
  }

  async onApplicationShutdown(): Promise<void> {
    const all = [...this.elections.values()];
    this.elections.clear();
    await Promise.all(all.map((e) => e.close()));
  }
}
