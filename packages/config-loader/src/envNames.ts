import { InvalidInputError } from '@consul-watch/core';

export interface NameOptions {
  /** What `/` in a key becomes. Default `_`. */
  separator?: string;
  /** Upper-case the name. Default true. */
  uppercase?: boolean;
  /** Replace characters a shell variable name cannot hold with `_`. Default true. */
  sanitize?: boolean;
  /** Last say over each name; gets the mapped name and the key it came from. */
  transform?: (name: string, key: string) => string;
}

/** The environment variable name of a key, given its path under the prefix (`db/host` → `DB_HOST`). */
export function envNameOf(relativeKey: string, options: NameOptions = {}): string {
  let name = relativeKey
    .split('/')
    .filter(Boolean)
    .join(options.separator ?? '_');
  if (options.sanitize !== false) {
    name = name.replace(/[^A-Za-z0-9_]/g, '_');
    if (/^[0-9]/.test(name)) name = `_${name}`;
  }
  if (options.uppercase !== false) name = name.toUpperCase();
  return options.transform ? options.transform(name, relativeKey) : name;
}

/**
 * Names for every key under a prefix. Folder keys (ending in `/`) have no value and no name.
 * Two keys that map to one name are an error naming both, never a silent overwrite.
 */
export function mapEntries(
  entries: Iterable<{ key: string; value: Buffer }>,
  prefix: string,
  options: NameOptions = {},
): Map<string, { key: string; value: string }> {
  const out = new Map<string, { key: string; value: string }>();
  for (const { key, value } of entries) {
    if (key.endsWith('/') || !key.startsWith(prefix)) continue;
    const relative = key.slice(prefix.length);
    if (relative === '') continue;
    const name = envNameOf(relative, options);
    if (name === '') continue;
    const clash = out.get(name);
    if (clash) {
      throw new InvalidInputError(
        `Keys ${JSON.stringify(clash.key)} and ${JSON.stringify(key)} both map to the environment variable ${name}. Rename one of them, or pass a transform that tells them apart.`,
      );
    }
    // No environment variable can hold a NUL byte (spawn refuses it). Name the key and the
    // variable, never the value: it may be a password.
    if (name.includes('\0')) {
      throw new InvalidInputError(
        `Key ${JSON.stringify(key)} maps to the environment variable name ${JSON.stringify(name)}, which contains a NUL byte. Rename the key, or pass a transform that gives it another name.`,
      );
    }
    const text = value.toString('utf8');
    if (text.includes('\0')) {
      throw new InvalidInputError(
        `The value of key ${JSON.stringify(key)} (environment variable ${name}) contains a NUL byte, which no environment variable can hold. Remove it from the value in Consul.`,
      );
    }
    out.set(name, { key, value: text });
  }
  return out;
}
