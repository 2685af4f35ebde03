import type { StandardSchemaV1 } from '@standard-schema/spec';
import { assignOwn, type ConfigObject, deepEqual, isPlainObject } from './configTree';
import { ConfigValidationError } from './errors';

/**
 * Runs a Standard Schema (zod, valibot, arktype…) over a candidate config. `where` names the
 * config's origin in the error: its layers, or the last-known-good file.
 */
export async function checkSchema<T>(
  schema: StandardSchemaV1<unknown, T>,
  candidate: unknown,
  where: string,
): Promise<{ value: T } | ConfigValidationError> {
  let result: StandardSchemaV1.Result<T>;
  try {
    result = await schema['~standard'].validate(candidate);
  } catch (error) {
    return new ConfigValidationError(
      `Config from ${where}: the schema itself failed (${(error as Error)?.message ?? String(error)}); the last valid config stays in use.`,
      [],
    );
  }
  if (!result.issues) return { value: result.value };
  const issues = result.issues.map((i) => ({
    message: i.message,
    ...(i.path
      ? { path: i.path.map((p) => String(typeof p === 'object' ? p.key : p)).join('.') }
      : {}),
  }));
  const list = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
  return new ConfigValidationError(
    `Config from ${where} fails its schema (${list}); the last valid config stays in use.`,
    issues,
  );
}

/**
 * `next`, with every subtree that equals the one in `previous` replaced by that one, so
 * identity tells what did not change even when a schema built new objects.
 */
export function shareUnchanged(previous: unknown, next: unknown): unknown {
  if (deepEqual(previous, next)) return previous;
  if (!isPlainObject(previous) || !isPlainObject(next)) return next;
  const out: ConfigObject = {};
  for (const key of Object.keys(next)) {
    const value = next[key];
    assignOwn(
      out,
      key,
      Object.hasOwn(previous, key) ? shareUnchanged(previous[key], value) : value,
    );
  }
  return out;
}
