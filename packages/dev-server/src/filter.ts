import { type FilterExpression, type MatchOperator, parseFilterExpression } from './filterParser';
import { HttpError } from './http';

/**
 * The shape of what a filter runs over, as Consul describes it per endpoint: each selector
 * names a field of a Go type, and the field's type decides which operators it takes (the
 * "Supported Operations" column of Consul's filtering tables).
 */
export type FieldType =
  | { kind: 'string' | 'int' | 'bool' | 'strings' }
  | { kind: 'map'; of: FieldType }
  | { kind: 'list'; of: StructType }
  | StructType;

export interface StructType {
  kind: 'struct';
  fields: Record<string, FieldType>;
  /** JSON names that differ from the selector's (Consul's `lan: { address, port }`). */
  json?: Record<string, string>;
}

export const STRING: FieldType = { kind: 'string' };
export const INT: FieldType = { kind: 'int' };
export const BOOL: FieldType = { kind: 'bool' };
export const STRINGS: FieldType = { kind: 'strings' };
export const mapOf = (of: FieldType): FieldType => ({ kind: 'map', of });
export const listOf = (of: StructType): FieldType => ({ kind: 'list', of });
export const struct = (
  fields: Record<string, FieldType>,
  json?: Record<string, string>,
): StructType => ({ kind: 'struct', fields, ...(json ? { json } : {}) });

const STRING_OPERATORS: MatchOperator[] = [
  'Equal',
  'Not Equal',
  'In',
  'Not In',
  'Matches',
  'Not Matches',
];
const OPERATORS: Record<FieldType['kind'], MatchOperator[]> = {
  string: STRING_OPERATORS,
  int: ['Equal', 'Not Equal'],
  bool: ['Equal', 'Not Equal'],
  strings: ['In', 'Not In', 'Is Empty', 'Is Not Empty'],
  map: ['Is Empty', 'Is Not Empty', 'In', 'Not In'],
  list: ['Is Empty', 'Is Not Empty'],
  struct: [],
};

/** A filter that cannot run; its message is what Consul puts after its prefix. */
export class FilterError extends Error {}

/** A checked, ready filter: every selector exists and every value has its field's type. */
export interface Filter {
  matches(item: unknown): boolean;
}

type Compiled = (item: unknown) => boolean;

/**
 * Parses `expression` and checks it against `schema` as Consul does before it runs a query:
 * an unknown selector, an operator its field does not take, a value that is not of the
 * field's type, or a bad regular expression is refused up front, not per item.
 */
export function createFilter(expression: string, schema: StructType): Filter {
  let tree: FilterExpression;
  try {
    tree = parseFilterExpression(expression);
  } catch (error) {
    throw new FilterError((error as Error).message);
  }
  const matches = compile(tree, schema);
  return { matches };
}

/**
 * The `filter` query parameter of a request, ready to apply; undefined when absent or empty
 * (Consul ignores an empty one). A filter that cannot run answers 500 with Consul's text.
 */
export function queryFilter(query: URLSearchParams, schema: StructType): Filter | undefined {
  const expression = query.get('filter');
  if (!expression) return undefined;
  try {
    return createFilter(expression, schema);
  } catch (error) {
    if (!(error instanceof FilterError)) throw error;
    throw new HttpError(500, `Failed to create boolean expression evaluator: ${error.message}`);
  }
}

/** Keeps the items `filter` matches; all of them without a filter. */
export function applyFilter<T>(items: T[], filter: Filter | undefined): T[] {
  return filter ? items.filter((item) => filter.matches(item)) : items;
}

function compile(node: FilterExpression, schema: StructType): Compiled {
  switch (node.kind) {
    case 'not': {
      const operand = compile(node.operand, schema);
      return (item) => !operand(item);
    }
    case 'and': {
      const left = compile(node.left, schema);
      const right = compile(node.right, schema);
      return (item) => left(item) && right(item);
    }
    case 'or': {
      const left = compile(node.left, schema);
      const right = compile(node.right, schema);
      return (item) => left(item) || right(item);
    }
    case 'match':
      return compileMatch(node, schema);
  }
}

const subfields = (type: FieldType): Record<string, FieldType> | undefined =>
  type.kind === 'struct'
    ? type.fields
    : type.kind === 'list'
      ? type.of.fields
      : type.kind === 'map'
        ? { '': type.of }
        : undefined;

function compileMatch(
  node: Extract<FilterExpression, { kind: 'match' }>,
  schema: StructType,
): Compiled {
  const { selector, operator } = node;
  const shown = JSON.stringify(selector.join('.'));
  let type: FieldType = schema;
  for (let i = 0; i < selector.length; i++) {
    const fields = subfields(type);
    const name = selector[i]!;
    // A map takes any key; a struct (or a list's element) only its own fields.
    const next: FieldType | undefined = !fields
      ? undefined
      : type.kind === 'map'
        ? fields['']
        : Object.hasOwn(fields, name)
          ? fields[name]
          : undefined;
    if (!next) {
      throw new FilterError(
        `Selector ${JSON.stringify(selector.slice(0, i + 1).join('.'))} is not valid`,
      );
    }
    type = next;
  }
  if (!OPERATORS[type.kind].includes(operator)) {
    throw new FilterError(
      `Invalid match operator ${JSON.stringify(operator)} for selector ${shown}`,
    );
  }
  const test = comparison(operator, type, node.value, shown);
  return (item) => walk(item, schema, selector, 0, operator, test);
}

/** The test at the end of a selector, with the value converted to the field's type once. */
function comparison(
  operator: MatchOperator,
  type: FieldType,
  raw: string | undefined,
  shown: string,
): (value: unknown) => boolean {
  switch (operator) {
    case 'Is Empty':
    case 'Is Not Empty': {
      const empty = (value: unknown) => sizeOf(value) === 0;
      return operator === 'Is Empty' ? empty : (value) => !empty(value);
    }
    case 'Matches':
    case 'Not Matches': {
      const pattern = goRegExp(raw ?? '');
      const test = (value: unknown) => pattern.test(String(value ?? ''));
      return operator === 'Matches' ? test : (value) => !test(value);
    }
    case 'Equal':
    case 'Not Equal': {
      const wanted = coerce(type, raw ?? '', shown);
      const equal = (value: unknown) => (value ?? zeroOf(type)) === wanted;
      return operator === 'Equal' ? equal : (value) => !equal(value);
    }
    case 'In':
    case 'Not In': {
      // On a map `in` looks at the keys, on a list at the elements, on a string at substrings.
      const wanted = String(coerce(type.kind === 'strings' ? STRING : type, raw ?? '', shown));
      const contains = (value: unknown) =>
        type.kind === 'map'
          ? isObject(value) && Object.hasOwn(value, wanted)
          : type.kind === 'strings'
            ? Array.isArray(value) && value.includes(wanted)
            : String(value ?? '').includes(wanted);
      return operator === 'In' ? contains : (value) => !contains(value);
    }
  }
}

/**
 * Follows the selector into `value`. A list of structs matches when any element does (so
 * `Checks.Status == critical` means "some check is critical"); a missing map key is no match
 * for `==`, `in`, `matches` and `is not empty`, and a match for their negations.
 */
function walk(
  value: unknown,
  type: FieldType,
  selector: string[],
  depth: number,
  operator: MatchOperator,
  test: (value: unknown) => boolean,
): boolean {
  if (depth === selector.length) return test(value);
  const name = selector[depth]!;
  switch (type.kind) {
    case 'struct': {
      const key = type.json?.[name] ?? name;
      const field = isObject(value) && Object.hasOwn(value, key) ? value[key] : undefined;
      return walk(field, type.fields[name]!, selector, depth + 1, operator, test);
    }
    case 'list':
      return (
        Array.isArray(value) &&
        value.some((element) => walk(element, type.of, selector, depth, operator, test))
      );
    case 'map':
      if (!isObject(value) || !Object.hasOwn(value, name))
        return !['Equal', 'In', 'Matches', 'Is Not Empty'].includes(operator);
      return walk(value[name], type.of, selector, depth + 1, operator, test);
    default:
      return false;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function sizeOf(value: unknown): number {
  if (Array.isArray(value) || typeof value === 'string') return value.length;
  return isObject(value) ? Object.keys(value).length : 0;
}

const zeroOf = (type: FieldType): unknown =>
  type.kind === 'int' ? 0 : type.kind === 'bool' ? false : '';

/** The value as the field's Go type, with Go's parsing rules and error texts. */
function coerce(type: FieldType, raw: string, shown: string): string | number | boolean {
  const fail = (reason: string): never => {
    throw new FilterError(
      `Failed to coerce value ${JSON.stringify(raw)} for selector ${shown}: ${reason}`,
    );
  };
  if (type.kind === 'bool') {
    if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
    if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
    return fail(`strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`);
  }
  if (type.kind === 'int') {
    const parsed = parseGoInt(raw);
    if (typeof parsed === 'string')
      return fail(`strconv.ParseInt: parsing ${JSON.stringify(raw)}: ${parsed}`);
    return parsed;
  }
  return raw;
}

const INT64_MAX = (1n << 63n) - 1n;

/** Go's `strconv.ParseInt(s, 0, 64)`: a sign, then decimal, 0x, 0o, 0b or a leading-0 octal. */
function parseGoInt(raw: string): number | string {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)$/.exec(raw);
  if (!m) return 'invalid syntax';
  const digits = m[2]!;
  const magnitude = /^0[0-7]+$/.test(digits) ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
  const value = m[1] === '-' ? -magnitude : magnitude;
  if (value > INT64_MAX || value < -INT64_MAX - 1n) return 'value out of range';
  return Number(value);
}

/**
 * Consul matches with Go's regular expressions (RE2). The common syntax is JavaScript's too;
 * Go's leading flag group, `(?i)` and friends, becomes the RegExp's flags.
 */
function goRegExp(source: string): RegExp {
  const flags = /^\(\?([ims]+)\)/.exec(source);
  const body = flags ? source.slice(flags[0].length) : source;
  try {
    return new RegExp(body, flags ? [...new Set(flags[1])].join('') : '');
  } catch (error) {
    const reason = (error as Error).message.replace(
      /^Invalid regular expression: \/.*\/[a-z]*: /,
      '',
    );
    throw new FilterError(
      `Failed to compile regular expression ${JSON.stringify(source)}: error parsing regexp: ${reason}: \`${source}\``,
    );
  }
}
