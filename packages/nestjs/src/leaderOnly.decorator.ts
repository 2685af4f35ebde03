import { InvalidInputError } from '@consul-watch/core';
import { checkOptionNames } from '@consul-watch/core/internal';
import type { LeaderCampaignOptions } from './consulLeader.service';
import { optionNamesOf } from './optionNames';

export const LEADER_ONLY_METADATA = 'consul-watch:leader-only';

export interface LeaderOnlyOptions extends LeaderCampaignOptions {
  /** The lock key whose holder is leader (relative to the client's prefix). */
  key: string;
}

const LEADER_ONLY_NAMES = optionNamesOf<LeaderOnlyOptions>()([
  'key',
  'value',
  'sessionName',
  'ttlMs',
  'lockDelayMs',
  'waitMs',
  'retryMs',
]);

/** Where a campaign's options were given, for a message that points at both of two. */
export interface CampaignDeclaration {
  options: LeaderCampaignOptions;
  where: string;
}

/** What @LeaderOnly stores on the method it guards. */
export interface LeaderOnlyMetadata extends CampaignDeclaration {
  key: string;
}

/**
 * Every @LeaderOnly's options by key, from the moment its class is defined: whoever starts a
 * key's campaign first (`state$(key)` in an `onModuleInit`, say) starts it with these.
 */
const declared = new Map<string, CampaignDeclaration[]>();

/** @internal the options @LeaderOnly decorators give for `key`. */
export function declaredCampaigns(key: string): readonly CampaignDeclaration[] {
  return declared.get(key) ?? [];
}

/** Which instance each decorated object's methods ask; set by the explorer at bootstrap. */
const leadersOf = new WeakMap<object, (key: string) => boolean>();

/**
 * @internal the explorer tells an instance (or, for request-scoped providers, their
 * prototype) how to ask whether this app leads a key.
 */
export function bindLeadership(instance: object, isLeader: (key: string) => boolean): void {
  leadersOf.set(instance, isLeader);
}

/**
 * Runs the method only while this app instance leads `key`: on every other instance (and
 * before the campaign has started) a call returns undefined without running it. The
 * campaign starts at bootstrap and steps down at shutdown. Put it beside a scheduler's
 * decorator (`@Cron`, `@Interval`) so a job runs on one instance of the fleet.
 */
export function LeaderOnly(keyOrOptions: string | LeaderOnlyOptions): MethodDecorator {
  const options = typeof keyOrOptions === 'string' ? { key: keyOrOptions } : keyOrOptions;
  if (!options || typeof options.key !== 'string' || options.key === '')
    throw new InvalidInputError(
      "@LeaderOnly needs a lock key: @LeaderOnly('jobs/cleanup') or @LeaderOnly({ key: 'jobs/cleanup', ttlMs: 15000 })",
    );
  checkOptionNames(options, LEADER_ONLY_NAMES, `@LeaderOnly(${JSON.stringify(options.key)})`);
  return (target, name, descriptor) => {
    const method = descriptor.value as unknown as (...args: unknown[]) => unknown;
    if (typeof method !== 'function')
      throw new InvalidInputError(`@LeaderOnly goes on a method; ${String(name)} is not one`);
    const { key, ...campaign } = options;
    const where = `@LeaderOnly on ${(target.constructor as { name?: string }).name ?? 'object'}.${String(name)}`;
    declared.set(key, [...declaredCampaigns(key), { options: campaign, where }]);
    const guarded = function (this: object, ...args: unknown[]) {
      const leads = leadersOf.get(this) ?? leadersOf.get(Object.getPrototypeOf(this));
      if (!leads?.(options.key)) return undefined;
      return method.apply(this, args);
    };
    // Decorators applied before this one (a scheduler's, say) stored their metadata on the
    // original function: carry it over, so their explorers still find the method.
    for (const metadataKey of Reflect.getOwnMetadataKeys(method))
      Reflect.defineMetadata(metadataKey, Reflect.getOwnMetadata(metadataKey, method), guarded);
    Object.defineProperty(guarded, 'name', { value: method.name });
    Reflect.defineMetadata(LEADER_ONLY_METADATA, { key, options: campaign, where }, guarded);
    descriptor.value = guarded as never;
    return descriptor;
  };
}
