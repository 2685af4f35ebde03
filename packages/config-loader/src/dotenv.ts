import dotenv from 'dotenv';

/**
 * Parses a `.env` file with dotenv's own parser, so a file means here exactly what it means
 * to dotenv: `KEY=value` lines, `export `, `#` comments, single quotes taken literally,
 * double quotes with `\n` escapes and line breaks, backticks, unquoted values trimmed.
 */
export function parseDotenv(text: string): Record<string, string> {
  return dotenv.parse(text);
}
