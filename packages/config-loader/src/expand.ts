import dotenvExpand from 'dotenv-expand';

/**
 * Expands `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `$VAR` and `\$` with
 * dotenv-expand itself, as dotenv users know it: a reference is resolved from the values
 * defined before it, then from `env`. Names the values define are not read from `env` here
 * (whether they replace a variable already set is the caller's `override` decision), and
 * `env` is never written.
 */
export function expandValues(
  values: Record<string, string>,
  env: Record<string, string | undefined>,
): Record<string, string> {
  const processEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(env))
    if (value !== undefined && !Object.hasOwn(values, name)) processEnv[name] = value;
  const { parsed } = dotenvExpand.expand({ parsed: { ...values }, processEnv });
  return parsed ?? {};
}
