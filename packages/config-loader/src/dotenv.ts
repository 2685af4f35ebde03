/**
 * Parses a `.env` file the way dotenv reads one: `KEY=value` lines, an optional `export `,
 * `#` comments, single quotes taken literally, double quotes with `\n` escapes and line
 * breaks, unquoted values trimmed and cut at ` #`.
 */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  // Blanks are [ \t], never \s: a newline must not let an empty value take the next line.
  const line =
    /^[ \t]*(?:export[ \t]+)?([\w.-]+)[ \t]*=[ \t]*('(?:\\'|[^'])*'|"(?:\\"|[^"])*"|`(?:\\`|[^`])*`|[^\n#]*?)[ \t]*(?:#.*)?$/gm;
  const source = text.replace(/\r\n?/g, '\n');
  for (const match of source.matchAll(line)) {
    const [, key, raw = ''] = match;
    let value = raw.trim();
    const quote = value[0];
    if (
      (quote === '"' || quote === "'" || quote === '`') &&
      value.endsWith(quote) &&
      value.length >= 2
    ) {
      value = value.slice(1, -1);
      if (quote === '"')
        value = value.replace(/\\n/g, '\n').replace(/\\r/g, '\r').replace(/\\"/g, '"');
    }
    out[key!] = value;
  }
  return out;
}
