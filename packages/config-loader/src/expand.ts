/**
 * Expands `${VAR}`, `${VAR:-default}` and `$VAR` in values as dotenv-expand does: from the
 * other values first, then from `env`. `\$` stays a literal `$`. A reference cycle expands
 * to the empty string rather than looping.
 */
export function expandValues(
  values: Record<string, string>,
  env: Record<string, string | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  const resolving = new Set<string>();
  const lookup = (name: string): string | undefined => {
    if (name in out) return out[name];
    if (name in values) {
      if (resolving.has(name)) return '';
      resolving.add(name);
      out[name] = expandOne(values[name]!);
      resolving.delete(name);
      return out[name];
    }
    return env[name];
  };
  const expandOne = (value: string): string =>
    value.replace(
      /\\\$|\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
      (whole, braced, fallback, bare) => {
        if (whole === '\\$') return '$';
        const found = lookup(braced ?? bare);
        return found === undefined || (found === '' && fallback !== undefined)
          ? (fallback ?? '')
          : found;
      },
    );
  for (const name of Object.keys(values)) lookup(name);
  return out;
}
