import { InvalidInputError } from './errors';
import { describeValue } from './messageText';

// One rule for numbers in every package: a numeric option is a number. A string such as
// "15000" is refused, as a typed API refuses it, naming the option and quoting what was given.

/** The longest delay node's timers honour; a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** What was given, for a message; a number in quotes gets the fix. */
function got(value: unknown): string {
  const numeric =
    typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value));
  return `got ${describeValue(value)}${numeric ? ` (a string: write ${Number(value)} without quotes)` : ''}`;
}

/** Refuses any of the `names` options given as something other than a number; ranges are the caller's. */
export function checkNumberTypes(options: object, names: readonly string[], where: string): void {
  for (const name of names) {
    const value = (options as Record<string, unknown>)[name];
    if (value === undefined || typeof value === 'number') continue;
    const unit = name.endsWith('Ms') ? ' of milliseconds' : '';
    throw new InvalidInputError(`${where}: ${name} must be a number${unit}, ${got(value)}`);
  }
}

/** `value` as a timeout in ms: absent gives `fallback`; otherwise a positive finite number. */
export function positiveMs(where: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new InvalidInputError(
      `${where}: ${name} must be a positive number of milliseconds (at most ${MAX_TIMER_MS}), ${got(value)}; leave it out for the default ${fallback}`,
    );
  }
  return value;
}

/** `value` as a count: absent gives `fallback`; otherwise a whole number ≥ 0. */
export function wholeNumber(where: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(
      `${where}: ${name} must be a whole number, 0 or more, ${got(value)}; leave it out for the default ${fallback}`,
    );
  }
  return value;
}
