import { InvalidInputError } from '@consul-watch/core';

/** Where @ConsulValue properties read from: the app's ConsulConfigService. */
export interface ValueSource {
  get<V>(path: string, fallback?: V): V;
}

interface ValueBinding {
  property: string | symbol;
  path: string;
  fallback: unknown;
}

export const CONSUL_VALUE_METADATA = 'consul-watch:value';

const sources = new WeakMap<object, ValueSource>();
/** Config services alive in this process; a property nobody bound reads the only one. */
export const liveSources = new Set<ValueSource>();

function sourceFor(instance: object, property: string | symbol): ValueSource {
  const bound = sources.get(instance);
  if (bound) return bound;
  if (liveSources.size === 1) return [...liveSources][0]!;
  const where = `${instance.constructor?.name ?? 'object'}.${String(property)}`;
  throw new Error(
    liveSources.size === 0
      ? `${where} is a @ConsulValue but no ConsulModule with a config section is running: add config: { prefix } to ConsulModule.forRoot, and read it after module init (not in the constructor)`
      : `${where} is a @ConsulValue on an instance ConsulModule did not see, and ${liveSources.size} Nest apps with a Consul config run in this process; inject ConsulConfigService instead`,
  );
}

function define(target: object, binding: ValueBinding): void {
  Object.defineProperty(target, binding.property, {
    configurable: true,
    enumerable: false,
    get(this: object) {
      return sourceFor(this, binding.property).get(binding.path, binding.fallback);
    },
    set(this: object) {
      throw new TypeError(
        `${this.constructor?.name ?? 'object'}.${String(binding.property)} reads ${JSON.stringify(binding.path)} from Consul and cannot be assigned; write the key in Consul instead`,
      );
    },
  });
}

/**
 * A property that always reads the current config value at a dot path
 * (`@ConsulValue('db.pool.size', 10) readonly poolSize!: number`). Read it from module init
 * on, not in the constructor.
 */
export function ConsulValue(path: string, fallback?: unknown): PropertyDecorator {
  if (typeof path !== 'string' || path.trim() === '')
    throw new InvalidInputError(
      `@ConsulValue needs a dot path such as 'db.pool.size', got ${JSON.stringify(path)}`,
    );
  return (prototype, property) => {
    const binding = { property, path, fallback };
    const list: ValueBinding[] = Reflect.getMetadata(CONSUL_VALUE_METADATA, prototype) ?? [];
    Reflect.defineMetadata(CONSUL_VALUE_METADATA, [...list, binding], prototype);
    // On the prototype for instances built without class fields; on each instance at bind time
    // for those whose field initialiser shadows it.
    define(prototype, binding);
  };
}

/** Points an instance's @ConsulValue properties at `source`. */
export function bindValues(instance: object, source: ValueSource): void {
  const list: ValueBinding[] | undefined = Reflect.getMetadata(
    CONSUL_VALUE_METADATA,
    Object.getPrototypeOf(instance),
  );
  // The first ConsulModule import that sees an instance keeps it (an app may import the module twice).
  if (!list || sources.has(instance)) return;
  sources.set(instance, source);
  for (const binding of list) {
    if (Object.getOwnPropertyDescriptor(instance, binding.property)) define(instance, binding);
  }
}
