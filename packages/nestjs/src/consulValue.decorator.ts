import { DecodeError, InvalidInputError } from '@consul-watch/core';

/** Where @ConsulValue properties read from: the app's ConsulConfigService. */
export interface ValueSource {
  get<V>(path: string, fallback?: V): V;
  /** A value that does not fit its property's type; reported once per value. */
  reportValueError?(error: DecodeError): void;
}

interface ValueBinding {
  property: string | symbol;
  path: string;
  fallback: unknown;
  /** From the property's TypeScript type (`design:type`): what a text value is turned into. */
  coerce: 'number' | 'boolean' | undefined;
}

/** The last value that fitted, per instance and property, and the last one reported as not fitting. */
const lastGood = new WeakMap<
  object,
  Map<string | symbol, { good?: unknown; reported?: unknown }>
>();

const NUMBER = /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/;
const BOOLEAN: Record<string, boolean> = { true: true, false: false, '1': true, '0': false };

/** `"42"` → 42 for a number property, `"true"` → true for a boolean; undefined when it does not fit. */
function coerce(value: unknown, to: 'number' | 'boolean'): { ok: boolean; value?: unknown } {
  if (typeof value === to) return { ok: true, value };
  if (typeof value === 'string') {
    if (to === 'number' && NUMBER.test(value)) return { ok: true, value: Number(value) };
    const key = value.trim().toLowerCase();
    if (to === 'boolean' && Object.hasOwn(BOOLEAN, key)) return { ok: true, value: BOOLEAN[key] };
  }
  return { ok: false };
}

function read(instance: object, binding: ValueBinding): unknown {
  const source = sourceFor(instance, binding.property);
  const raw = source.get<unknown>(binding.path, undefined);
  if (raw === undefined) return binding.fallback;
  if (!binding.coerce) return raw;
  let state = lastGood.get(instance)?.get(binding.property);
  if (!state) {
    state = {};
    if (!lastGood.has(instance)) lastGood.set(instance, new Map());
    lastGood.get(instance)!.set(binding.property, state);
  }
  const fitted = coerce(raw, binding.coerce);
  if (fitted.ok) {
    state.good = fitted.value;
    return fitted.value;
  }
  if (state.reported !== raw) {
    state.reported = raw;
    const where = `${instance.constructor?.name ?? 'object'}.${String(binding.property)}`;
    source.reportValueError?.(
      new DecodeError(
        `${where} is a ${binding.coerce} but the config value at ${JSON.stringify(binding.path)} is ${JSON.stringify(raw)}; it keeps ${'good' in state ? `its last good value ${JSON.stringify(state.good)}` : `its default ${JSON.stringify(binding.fallback)}`}. Fix the value in Consul.`,
        binding.path,
      ),
    );
  }
  return 'good' in state ? state.good : binding.fallback;
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
      return read(this, binding);
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
 * on, not in the constructor. A `number` or `boolean` property turns text into its type
 * (`"42"` → 42, `"true"` → true); a value that does not fit is reported once (a DecodeError
 * through the config's logger) and the property keeps its last good value, or its default.
 */
export function ConsulValue(path: string, fallback?: unknown): PropertyDecorator {
  if (typeof path !== 'string' || path.trim() === '')
    throw new InvalidInputError(
      `@ConsulValue needs a dot path such as 'db.pool.size', got ${JSON.stringify(path)}`,
    );
  return (prototype, property) => {
    // Emitted by TypeScript with emitDecoratorMetadata (Nest apps have it on).
    const type = Reflect.getMetadata('design:type', prototype, property);
    const coerceTo = type === Number ? 'number' : type === Boolean ? 'boolean' : undefined;
    const binding: ValueBinding = { property, path, fallback, coerce: coerceTo };
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
