import { InvalidInputError } from '../errors';

/** The longest delay node's timers honour; a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A value for a message: numbers and booleans as they are, short strings quoted, else a type. */
export function describeValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** `value` as a timeout in ms: absent gives `fallback`; otherwise a positive finite number. */
export function positiveMs(where: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new InvalidInputError(
      `${where}: ${name} must be a positive number of milliseconds (at most ${MAX_TIMER_MS}), got ${describeValue(value)}; leave it out for the default ${fallback}`,
    );
  }
  return value;
}

/** `value` as a count: absent gives `fallback`; otherwise a whole number ≥ 0. */
export function wholeNumber(where: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(
      `${where}: ${name} must be a whole number, 0 or more, got ${describeValue(value)}; leave it out for the default ${fallback}`,
    );
  }
  return value;
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
