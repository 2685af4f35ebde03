import { InvalidInputError } from './errors';

/** Consul's `kv_max_value_size` default: 512 KiB. */
export const KV_MAX_VALUE_SIZE = 512 * 1024;

/**
 * Checks a key before any request: Consul answers 400 to an empty key (outside recursive
 * calls) and to a leading '/'; control characters are refused here because they cannot
 * travel in a URL path intact.
 */
export function validateKey(key: unknown, what: 'key' | 'prefix' = 'key'): string {
  if (typeof key !== 'string') {
    throw new InvalidInputError(
      `${what} must be a string, got ${key === null ? 'null' : typeof key}`,
    );
  }
  if (what === 'key' && key === '')
    throw new InvalidInputError('key must not be empty; name the key to read or write');
  if (key.startsWith('/')) {
    throw new InvalidInputError(
      `${what} ${JSON.stringify(key)} must not begin with '/'; Consul keys are relative (write ${JSON.stringify(key.replace(/^\/+/, ''))})`,
    );
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(key)) {
    throw new InvalidInputError(
      `${what} ${JSON.stringify(key)} contains a control character; Consul keys must be printable`,
    );
  }
  return key;
}

export function validateValueSize(bytes: Buffer, key: string): void {
  if (bytes.length > KV_MAX_VALUE_SIZE) {
    throw new InvalidInputError(
      `Value for key ${JSON.stringify(key)} is ${bytes.length} bytes; Consul's limit is ${KV_MAX_VALUE_SIZE} bytes (kv_max_value_size). Split the value or store it elsewhere.`,
    );
  }
}
