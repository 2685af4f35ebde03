import { InvalidInputError } from './errors';
import { checkOptionNames } from './optionNames';

/** Quiescence, as consul-template's `wait`: apply once changes stop, or at the latest after `maxMs`. */
export interface SettleOptions {
  /** Apply once this long has passed with no further change, ms. */
  minMs: number;
  /** Apply at the latest this long after the first change of a burst, ms. Default 4 × minMs. */
  maxMs?: number;
}

const LIMIT_MS = 3_600_000;

/**
 * Refuses a settle that is not `{ minMs, maxMs? }` with 0 < minMs ≤ maxMs ≤ 1 h. `name` is the
 * user's own option (`settle`, `config.settle`); the error says what to write instead.
 */
export function checkSettle(value: unknown, name: string): Required<SettleOptions> | undefined {
  if (value === undefined) return undefined;
  const example = `such as { minMs: 500, maxMs: 2000 }`;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidInputError(
      `${name} must be an object ${example}, got ${value === null ? 'null' : JSON.stringify(value)}`,
    );
  checkOptionNames(value, ['minMs', 'maxMs'], name);
  const { minMs, maxMs } = value as Record<string, unknown>;
  const ms = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= LIMIT_MS;
  if (!ms(minMs))
    throw new InvalidInputError(
      `${name}.minMs must be a whole number of milliseconds from 1 to ${LIMIT_MS}, got ${JSON.stringify(minMs)}`,
    );
  const min = minMs as number;
  if (maxMs === undefined) return { minMs: min, maxMs: Math.min(4 * min, LIMIT_MS) };
  if (!ms(maxMs) || (maxMs as number) < min)
    throw new InvalidInputError(
      `${name}.maxMs must be a whole number of milliseconds from minMs (${min}) to ${LIMIT_MS}, got ${JSON.stringify(maxMs)}`,
    );
  return { minMs: min, maxMs: maxMs as number };
}

/**
 * Fires once per burst of changes: `minMs` after the last one, or `maxMs` after the first,
 * whichever comes first. A change after it fired starts a new burst.
 */
export class Settle {
  private quiet: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: Required<SettleOptions>,
    private readonly fire: () => void,
  ) {}

  /** A burst is open: a change arrived and has not been applied yet. */
  get pending(): boolean {
    return this.deadline !== undefined;
  }

  /** A change arrived. */
  change(): void {
    clearTimeout(this.quiet);
    this.quiet = setTimeout(() => this.flush(), this.options.minMs);
    this.deadline ??= setTimeout(() => this.flush(), this.options.maxMs);
  }

  /** Drops the open burst without firing. */
  cancel(): void {
    clearTimeout(this.quiet);
    clearTimeout(this.deadline);
    this.quiet = undefined;
    this.deadline = undefined;
  }

  private flush(): void {
    this.cancel();
    this.fire();
  }
}
