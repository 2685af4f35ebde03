import type { CheckState, Consistency, WatchSpec } from '@consul-watch/core';
import { InvalidInputError } from '@consul-watch/core';
import { checkOptionNames } from '@consul-watch/core/internal';

interface Common {
  /** Also call the method once at start with the current state. Default false. */
  initial?: boolean;
  datacenter?: string;
  token?: string;
  consistency?: Consistency;
}

/** Which watch a method follows; one form per watch type of core. */
export type OnConsulChangeOptions = Common &
  (
    | { key: string }
    | { prefix: string }
    | { service: string; tag?: string | string[]; passingOnly?: boolean }
    | { services: true }
    | { nodes: true }
    | { checks: { service: string } | { state: CheckState } }
    | { event: string; replay?: boolean }
  );

export const CONSUL_CHANGE_METADATA = 'consul-watch:on-change';

const COMMON = ['initial', 'datacenter', 'token', 'consistency'];
/** The names each form takes besides the common ones, by the name that picks the form. */
const FORMS: Record<string, readonly string[]> = {
  key: ['key'],
  prefix: ['prefix'],
  service: ['service', 'tag', 'passingOnly'],
  services: ['services'],
  nodes: ['nodes'],
  checks: ['checks'],
  event: ['event', 'replay'],
};
const ALL = [...COMMON, ...new Set(Object.values(FORMS).flat())];

/** A name of another form (`passingOnly` beside `key`) would be dropped in silence: refuse it. */
function checkFormNames(options: object, form: keyof typeof FORMS): void {
  const known = [...COMMON, ...FORMS[form]!];
  for (const name of Object.keys(options))
    if (!known.includes(name))
      throw new InvalidInputError(
        `@OnConsulChange({ ${form} }): option '${name}' does not go with '${form}'; it takes ${known.join(', ')}`,
      );
}

/** The core watch spec for decorator options. */
export function toWatchSpec(options: OnConsulChangeOptions): WatchSpec {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    const got = options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options;
    throw new InvalidInputError(
      `@OnConsulChange needs an options object naming one watch, such as { key: 'app/flag' } or { service: 'web' }; got ${got}`,
    );
  }
  checkOptionNames(options, ALL, '@OnConsulChange');
  const {
    initial: _initial,
    datacenter,
    token,
    consistency,
    ...form
  } = options as unknown as Common & Record<string, unknown>;
  const settings = {
    ...(datacenter ? { datacenter } : {}),
    ...(token ? { token } : {}),
    ...(consistency ? { consistency } : {}),
  };
  const f = form as Record<string, unknown>;
  const picked = Object.keys(FORMS).find((name) => name in f);
  if (picked) checkFormNames(options, picked);
  if (f.checks && typeof f.checks === 'object')
    checkOptionNames(f.checks, ['service', 'state'], '@OnConsulChange checks');
  if ('key' in f) return { ...settings, type: 'key', key: f.key as string };
  if ('prefix' in f) return { ...settings, type: 'keyprefix', prefix: f.prefix as string };
  if ('service' in f) {
    return {
      ...settings,
      type: 'service',
      service: f.service as string,
      ...(f.tag !== undefined ? { tag: f.tag as string | string[] } : {}),
      ...(f.passingOnly ? { passingOnly: true } : {}),
    };
  }
  if (f.services === true) return { ...settings, type: 'services' };
  if (f.nodes === true) return { ...settings, type: 'nodes' };
  if (f.checks && typeof f.checks === 'object')
    return { ...settings, type: 'checks', ...(f.checks as { service: string }) };
  if (typeof f.event === 'string')
    return { ...settings, type: 'event', name: f.event, ...(f.replay ? { replay: true } : {}) };
  // Name only the keys given, never their values: `token` is an ACL token.
  const given = Object.keys(options);
  throw new InvalidInputError(
    `@OnConsulChange(${given.length > 0 ? `{ ${given.join(', ')} }` : '{}'}) names no watch: use { key }, { prefix }, { service }, { services: true }, { nodes: true }, { checks: { service } | { state } } or { event }`,
  );
}

/**
 * Calls the method with each typed change of a Consul watch. Put several on one method to
 * follow several watches; methods following the same watch share one blocking query.
 */
export function OnConsulChange(options: OnConsulChangeOptions): MethodDecorator {
  toWatchSpec(options); // refuse a bad form where the decorator is written
  return (_target, _key, descriptor) => {
    const method = descriptor.value as object;
    const existing: OnConsulChangeOptions[] =
      Reflect.getMetadata(CONSUL_CHANGE_METADATA, method) ?? [];
    Reflect.defineMetadata(CONSUL_CHANGE_METADATA, [...existing, options], method);
    return descriptor;
  };
}
