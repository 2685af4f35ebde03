import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { DecodeError, InvalidInputError } from './errors';

export type ValueFormat = 'json' | 'yaml' | 'text';

const FORMATS: readonly string[] = ['json', 'yaml', 'text'];

/** Refuses a format consul-watch does not decode; `extra` adds formats a caller knows ('auto'). */
export function checkFormat(format: unknown, where: string, extra: readonly string[] = []): void {
  if (typeof format === 'string' && (FORMATS.includes(format) || extra.includes(format))) return;
  throw new InvalidInputError(
    `${where}: format ${JSON.stringify(format)} is not one of ${[...FORMATS, ...extra].map((f) => `'${f}'`).join(', ')}`,
  );
}

/** The format a key's extension names (`.json`, `.yaml`/`.yml`), or text. */
export function formatOfKey(key: string): ValueFormat {
  // On every changed key of a live config: a look at the extension, not two regular expressions.
  const dot = key.lastIndexOf('.');
  if (dot === -1) return 'text';
  const extension = key.slice(dot + 1).toLowerCase();
  if (extension === 'json') return 'json';
  return extension === 'yaml' || extension === 'yml' ? 'yaml' : 'text';
}

let yaml: typeof Yaml | undefined;

/**
 * `yaml`, loaded on the first YAML value: most processes read JSON or text only, and loading
 * it costs about 50 ms of CPU, which every process of a fleet paid at start-up.
 */
const parseYaml = (text: string): unknown => {
  yaml ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return yaml.parse(text);
};

/** Decodes a stored value; a value that is not the JSON/YAML it should be names its key. */
export function decodeValue(
  bytes: Buffer,
  format: ValueFormat,
  key: string,
  /** A watch keeps the key's last good value; a one-off read has none to keep. */
  keepsLastGood = false,
): unknown {
  const text = bytes.toString('utf8');
  if (format === 'text') return text;
  try {
    return format === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new DecodeError(
      `Value of key ${JSON.stringify(key)} is not valid ${format.toUpperCase()}: ${(error as Error).message.split('\n')[0]}. Fix the value in Consul${keepsLastGood ? '; the last good value stays in use' : ''}.`,
      key,
      { cause: error },
    );
  }
}

/** Strings and bytes are stored as they are; anything else as JSON. */
export function encodeValue(value: unknown, key: string): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    throw new InvalidInputError(
      `Value for key ${JSON.stringify(key)} is ${typeof value}; pass a string, bytes, or a JSON-serialisable value.`,
    );
  }
  try {
    return Buffer.from(JSON.stringify(value), 'utf8');
  } catch (error) {
    throw new InvalidInputError(
      `Value for key ${JSON.stringify(key)} cannot be serialised as JSON: ${(error as Error).message}`,
    );
  }
}
