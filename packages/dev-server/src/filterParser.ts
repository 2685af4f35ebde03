/** The matching operators, named as Consul names them in its messages and selector tables. */
export type MatchOperator =
  | 'Equal'
  | 'Not Equal'
  | 'In'
  | 'Not In'
  | 'Is Empty'
  | 'Is Not Empty'
  | 'Matches'
  | 'Not Matches';

export type FilterExpression =
  | { kind: 'and' | 'or'; left: FilterExpression; right: FilterExpression }
  | { kind: 'not'; operand: FilterExpression }
  | {
      kind: 'match';
      /** `Service.Meta["a b"]` is `['Service', 'Meta', 'a b']`. */
      selector: string[];
      operator: MatchOperator;
      /** The value as written, unquoted; a selector used as a value is joined with dots. */
      value?: string;
    };

type Match = Extract<FilterExpression, { kind: 'match' }>;

/** A filter that is not an expression; the message reads as Consul's (go-bexpr's) does. */
export class FilterSyntaxError extends Error {}

const FAIL = Symbol('no match');
type Result<T> = T | typeof FAIL;

const WHITESPACE = /[ \t\r\n]/;
const LETTER = /[a-zA-Z]/;
const WORD = /[a-zA-Z0-9_]/;
const DIGIT = /[0-9]/;
const NONZERO = /[1-9]/;

/** Go's %q for the ASCII literals of the grammar. */
const quoted = (literal: string) => JSON.stringify(literal);

/**
 * Parses Consul's filter language (go-bexpr's grammar, as Consul documents it) by recursive
 * descent. Errors imitate the parser Consul generates with pigeon, because users and client
 * libraries match on them:
 * - a rule that rejects what it read says so at the point it stopped, named by the rule:
 *   `1:17 (16): rule "number": Invalid number literal`;
 * - otherwise the farthest point any alternative reached is reported with everything that
 *   would have been accepted there: `1:11 (10): no match found, expected: ".", "[",
 *   [ \t\r\n], [a-zA-Z0-9_] or EOF`.
 * Positions are line:column (byte offset), the column counted in characters from 1.
 */
class Parser {
  private pos = 0;
  /** Inside a `!` lookahead the sense of "expected" flips, as in pigeon. */
  private inverted = false;
  private farthest = -1;
  private expected: string[] = [];
  private readonly errors: string[] = [];

  constructor(private readonly text: string) {}

  parse(): FilterExpression {
    const result = this.input();
    if (this.errors.length > 0) throw new FilterSyntaxError([...new Set(this.errors)].join('\n'));
    if (result === FAIL) {
      throw new FilterSyntaxError(
        `${this.where(this.farthest)}: no match found, expected: ${this.expectedList()}`,
      );
    }
    return result;
  }

  // ---- the grammar ------------------------------------------------------------------------

  /** A whole filter, optionally wrapped in one pair of parentheses, and nothing after it. */
  private input(): Result<FilterExpression> {
    const start = this.pos;
    this.ws0();
    if (this.lit('(')) {
      this.ws0();
      const inner = this.or();
      if (inner !== FAIL) {
        this.ws0();
        if (this.lit(')')) {
          this.ws0();
          if (this.eof()) return inner;
        }
      }
    }
    this.pos = start;
    this.ws0();
    const expression = this.or();
    if (expression === FAIL) return FAIL;
    this.ws0();
    return this.eof() ? expression : FAIL;
  }

  /** `a or b or c` groups to the right, as go-bexpr's grammar does; `and` binds tighter. */
  private or(): Result<FilterExpression> {
    return this.binary('or', () => this.and());
  }

  private and(): Result<FilterExpression> {
    return this.binary('and', () => this.not());
  }

  private binary(
    kind: 'and' | 'or',
    operand: () => Result<FilterExpression>,
  ): Result<FilterExpression> {
    const left = operand();
    if (left === FAIL) return FAIL;
    const afterLeft = this.pos;
    if (this.ws1() && this.lit(kind) && this.ws1()) {
      const right = this.binary(kind, operand);
      if (right !== FAIL) return { kind, left, right };
    }
    this.pos = afterLeft;
    return left;
  }

  private not(): Result<FilterExpression> {
    const start = this.pos;
    if (this.lit('not') && this.ws1()) {
      const operand = this.not();
      if (operand !== FAIL) {
        // `not not x` is `x`, as go-bexpr folds it.
        return operand.kind === 'not' ? operand.operand : { kind: 'not', operand };
      }
    }
    this.pos = start;
    return this.grouping();
  }

  private grouping(): Result<FilterExpression> {
    const start = this.pos;
    let unclosed: number | undefined;
    if (this.lit('(')) {
      this.ws0();
      const inner = this.or();
      if (inner !== FAIL) {
        this.ws0();
        if (this.lit(')')) return inner;
        unclosed = this.pos;
      }
    }
    this.pos = start;
    const match = this.match();
    if (match !== FAIL) return match;
    if (unclosed !== undefined) this.error(unclosed, 'grouping', 'Unmatched parentheses');
    this.pos = start;
    return FAIL;
  }

  private match(): Result<Match> {
    const start = this.pos;
    const selector = this.selector();
    if (selector !== FAIL) {
      const afterSelector = this.pos;
      const operator = this.valueOperator();
      if (operator !== FAIL) {
        const value = this.value();
        if (value !== FAIL) return { kind: 'match', selector, operator, value };
      }
      this.pos = afterSelector;
      const emptiness = this.emptinessOperator();
      if (emptiness !== FAIL) return { kind: 'match', selector, operator: emptiness };
      this.pos = start;
    }
    // "<value> in <selector>": the value comes first.
    const value = this.value();
    if (value !== FAIL) {
      const operator = this.inOperator();
      if (operator !== FAIL) {
        const target = this.selector();
        if (target !== FAIL) return { kind: 'match', selector: target, operator, value };
        this.error(this.pos, 'match', 'Invalid selector');
      }
    }
    this.pos = start;
    return FAIL;
  }

  private valueOperator(): Result<MatchOperator> {
    return this.firstOf<MatchOperator>([
      ['Equal', () => this.symbol('==')],
      ['Not Equal', () => this.symbol('!=')],
      ['In', () => this.words('contains')],
      ['Not In', () => this.words('not', 'contains')],
      ['Matches', () => this.words('matches')],
      ['Not Matches', () => this.words('not', 'matches')],
    ]);
  }

  private emptinessOperator(): Result<MatchOperator> {
    return this.firstOf<MatchOperator>([
      ['Is Empty', () => this.words('is', 'empty')],
      ['Is Not Empty', () => this.words('is', 'not', 'empty')],
    ]);
  }

  private inOperator(): Result<MatchOperator> {
    return this.firstOf<MatchOperator>([
      ['In', () => this.words('in')],
      ['Not In', () => this.words('not', 'in')],
    ]);
  }

  private firstOf<T>(choices: [T, () => boolean][]): Result<T> {
    const start = this.pos;
    for (const [result, parse] of choices) {
      if (parse()) return result;
      this.pos = start;
    }
    return FAIL;
  }

  /** `==` and `!=` may touch their operands. */
  private symbol(operator: string): boolean {
    this.ws0();
    if (!this.lit(operator)) return false;
    this.ws0();
    return true;
  }

  /**
   * Word operators need whitespace on both sides (`is empty` has none after it), so
   * `Tags contains"x"` is no expression.
   */
  private words(...words: string[]): boolean {
    for (const word of words) if (!this.ws1() || !this.lit(word)) return false;
    return words[words.length - 1] === 'empty' || this.ws1();
  }

  private selector(): Result<string[]> {
    const first = this.identifier();
    if (first === FAIL) return FAIL;
    const path = [first];
    for (;;) {
      const before = this.pos;
      if (this.lit('.')) {
        const name = this.identifier();
        if (name !== FAIL) {
          path.push(name);
          continue;
        }
        this.pos = before;
      }
      const key = this.index();
      if (key === FAIL) break;
      path.push(key);
    }
    return path;
  }

  private identifier(): Result<string> {
    const start = this.pos;
    if (!this.cls(LETTER, '[a-zA-Z]')) return FAIL;
    while (this.cls(WORD, '[a-zA-Z0-9_]'));
    return this.text.slice(start, this.pos);
  }

  /** `["map key"]`, for keys that are not identifiers. */
  private index(): Result<string> {
    const start = this.pos;
    if (!this.lit('[')) return FAIL;
    this.ws0();
    const key = this.string();
    if (key === FAIL) {
      this.error(this.pos, 'index', 'Invalid index');
    } else {
      this.ws0();
      if (this.lit(']')) return key;
      this.error(this.pos, 'index', 'Unclosed index expression');
    }
    this.pos = start;
    return FAIL;
  }

  private value(): Result<string> {
    const selector = this.selector();
    if (selector !== FAIL) return selector.join('.');
    const number = this.number();
    return number !== FAIL ? number : this.string();
  }

  private number(): Result<string> {
    const start = this.pos;
    this.lit('-');
    if (!this.lit('0')) {
      if (!this.cls(NONZERO, '[1-9]')) {
        this.pos = start;
        return FAIL;
      }
      while (this.cls(DIGIT, '[0-9]'));
    }
    const beforeFraction = this.pos;
    if (this.lit('.') && this.cls(DIGIT, '[0-9]')) while (this.cls(DIGIT, '[0-9]'));
    else this.pos = beforeFraction;
    // A number must end where an expression may go on: `10.1.2.3` is no number (quote it).
    const ends = this.lookahead(() => this.ws1() || this.eof() || this.lit(')'));
    if (ends) return this.text.slice(start, this.pos);
    this.error(this.pos, 'number', 'Invalid number literal');
    this.pos = start;
    return FAIL;
  }

  /** A "double-quoted" string with Go's escapes, or a `raw` one taken as written. */
  private string(): Result<string> {
    const start = this.pos;
    for (const quote of ['`', '"']) {
      if (!this.lit(quote)) continue;
      while (this.lookahead(() => this.lit(quote), true) && this.any());
      if (this.lit(quote)) {
        const body = this.text.slice(start + 1, this.pos - 1);
        if (quote === '`') return body.replace(/\r/g, '');
        const unquoted = unquoteGo(body);
        if (unquoted !== undefined) return unquoted;
        this.error(start, 'string', 'invalid syntax');
      } else if (this.eof()) {
        this.error(this.pos, 'string', 'Unterminated string literal');
      }
      this.pos = start;
      return FAIL;
    }
    return FAIL;
  }

  // ---- terminals, lookahead and what was expected ----------------------------------------

  private ws1(): boolean {
    if (!this.cls(WHITESPACE, '[ \\t\\r\\n]')) return false;
    while (this.cls(WHITESPACE, '[ \\t\\r\\n]'));
    return true;
  }

  private ws0(): void {
    this.ws1();
  }

  private lit(literal: string): boolean {
    const ok = this.text.startsWith(literal, this.pos);
    this.note(ok, this.pos, quoted(literal));
    if (ok) this.pos += literal.length;
    return ok;
  }

  private cls(pattern: RegExp, source: string): boolean {
    const ch = this.text[this.pos];
    const ok = ch !== undefined && pattern.test(ch);
    this.note(ok, this.pos, source);
    if (ok) this.pos += 1;
    return ok;
  }

  private any(): boolean {
    const ok = this.pos < this.text.length;
    this.note(ok, this.pos, '.');
    if (ok) this.pos += this.text.codePointAt(this.pos)! > 0xffff ? 2 : 1;
    return ok;
  }

  private eof(): boolean {
    return this.lookahead(() => this.any(), true);
  }

  /** `&x` (or `!x` when `negate`): tries `x` and goes back, whatever the outcome. */
  private lookahead(parse: () => boolean, negate = false): boolean {
    const start = this.pos;
    if (negate) this.inverted = !this.inverted;
    const ok = parse();
    if (negate) this.inverted = !this.inverted;
    this.pos = start;
    return ok !== negate;
  }

  private note(matched: boolean, at: number, want: string): void {
    // Outside a negative lookahead a failure is worth reporting; inside one, a success.
    if (matched !== this.inverted || at < this.farthest) return;
    if (at > this.farthest) {
      this.farthest = at;
      this.expected = [];
    }
    this.expected.push(this.inverted ? `!${want}` : want);
  }

  private expectedList(): string {
    const wants = new Set(this.expected);
    const eof = wants.delete('!.');
    const list = [...wants].sort();
    if (eof) list.push('EOF');
    return list.length <= 1
      ? (list[0] ?? '')
      : `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
  }

  private error(at: number, rule: string, message: string): void {
    this.errors.push(`${this.where(at)}: rule ${quoted(rule)}: ${message}`);
  }

  /** `line:column (byte offset)`; a newline counts as column 0 of the line it starts. */
  private where(at: number): string {
    const before = this.text.slice(0, at);
    const newlines = before.split('\n').length - 1;
    const atNewline = this.text[at] === '\n';
    const lineStart = before.lastIndexOf('\n') + 1;
    const column = atNewline ? 0 : [...before.slice(lineStart)].length + 1;
    return `${newlines + 1 + (atNewline ? 1 : 0)}:${column} (${Buffer.byteLength(before)})`;
  }
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
};

/** The inside of a Go "…" literal with its escapes applied; undefined when Go would refuse it. */
function unquoteGo(body: string): string | undefined {
  if (body.includes('\n')) return undefined;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = body[i + 1];
    if (next === undefined) return undefined;
    if (next in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[next];
      i += 1;
      continue;
    }
    const hexDigits = next === 'x' ? 2 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
    const digits = hexDigits
      ? body.slice(i + 2, i + 2 + hexDigits)
      : /[0-7]/.test(next)
        ? body.slice(i + 1, i + 4)
        : '';
    const valid = hexDigits
      ? new RegExp(`^[0-9a-fA-F]{${hexDigits}}$`).test(digits)
      : /^[0-7]{3}$/.test(digits);
    if (!valid) return undefined;
    const code = Number.parseInt(digits, hexDigits ? 16 : 8);
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) || (!hexDigits && code > 255))
      return undefined;
    // \x and octal escapes are bytes in Go; a byte above 0x7f alone is no character here.
    out += String.fromCodePoint(code);
    i += hexDigits ? 1 + hexDigits : 3;
  }
  return out;
}

/** Parses a filter expression; throws FilterSyntaxError with Consul's position and reason. */
export function parseFilterExpression(text: string): FilterExpression {
  return new Parser(text).parse();
}
