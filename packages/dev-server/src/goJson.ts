import { parseGoDuration } from './goDuration';
import { HttpError } from './http';

const fold = (name: string) => name.toLowerCase().replace(/_/g, '');

/**
 * Reads a JSON object the way Consul's Go decoder does: field names match case-insensitively
 * and the snake_case spellings of its config files are accepted (`deregister_critical_service_after`
 * is `DeregisterCriticalServiceAfter`); unknown fields are ignored. Wrong types are a 400
 * that names the field.
 */
export class GoObject {
  private readonly fields = new Map<string, unknown>();

  constructor(
    value: unknown,
    private readonly what: string,
  ) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new HttpError(400, `Request decode failed: ${what} must be a JSON object`);
    }
    for (const [key, field] of Object.entries(value)) this.fields.set(fold(key), field);
  }

  has(name: string): boolean {
    const value = this.fields.get(fold(name));
    return value !== undefined && value !== null;
  }

  raw(name: string): unknown {
    return this.fields.get(fold(name));
  }

  private bad(name: string, expected: string): HttpError {
    return new HttpError(400, `Request decode failed: ${this.what}.${name} must be ${expected}`);
  }

  string(name: string, fallback = ''): string {
    const value = this.raw(name);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string') throw this.bad(name, 'a string');
    return value;
  }

  number(name: string, fallback = 0): number {
    const value = this.raw(name);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value)) throw this.bad(name, 'an integer');
    return value;
  }

  boolean(name: string, fallback = false): boolean {
    const value = this.raw(name);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') throw this.bad(name, 'true or false');
    return value;
  }

  strings(name: string): string[] {
    const value = this.raw(name);
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw this.bad(name, 'an array of strings');
    }
    return value as string[];
  }

  stringMap(name: string): Record<string, string> {
    const value = this.raw(name);
    if (value === undefined || value === null) return {};
    if (
      typeof value !== 'object' ||
      Array.isArray(value) ||
      Object.values(value).some((v) => typeof v !== 'string')
    ) {
      throw this.bad(name, 'an object of strings');
    }
    return { ...(value as Record<string, string>) };
  }

  /** A Go duration string (`15s`), in milliseconds; undefined when absent or empty. */
  duration(name: string): number | undefined {
    const value = this.string(name);
    if (value === '') return undefined;
    const ms = parseGoDuration(value);
    if (ms === undefined)
      throw this.bad(name, `a duration such as "15s" (got ${JSON.stringify(value)})`);
    return ms;
  }

  object(name: string): GoObject | undefined {
    return this.has(name) ? new GoObject(this.raw(name), `${this.what}.${name}`) : undefined;
  }

  objects(name: string): GoObject[] {
    const value = this.raw(name);
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) throw this.bad(name, 'an array of objects');
    return value.map((v, i) => new GoObject(v, `${this.what}.${name}[${i}]`));
  }
}
