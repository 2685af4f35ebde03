// How values appear in messages. Low in the import graph: the connection, the adapters' option
// checks and the handlers all describe what they were given the same way.

/**
 * A value as a message shows it: numbers and booleans as they are, short strings quoted (so
 * `"15000"` reads as the string it is, not the number), else its kind. Never an object's content.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * A URL as the caller gave it, fit for a message: whatever comes before the last `@` (the
 * user:password, however it is spelled) becomes `***`, and the query and fragment are dropped.
 */
export function urlForMessage(raw: string): string {
  let shown = raw;
  const at = shown.lastIndexOf('@');
  if (at >= 0) {
    const scheme = /^\s*[a-z][a-z0-9+.-]*:(\/\/)?/i.exec(shown)?.[0] ?? '';
    shown = `${scheme}***@${shown.slice(at + 1)}`;
  }
  const cut = shown.search(/[?#]/);
  if (cut >= 0) shown = `${shown.slice(0, cut + 1)}…`;
  return shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
}
