import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { ConnectionOptions } from './connection';
import { closestName } from './optionNames';

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandLine {
  values: FlagValues;
  positionals: string[];
  /** Prints the message and the usage, and exits 2. */
  usageError(message: string): never;
  /** Connection options from `--http-addr` and `--token-file` (the rest from Consul's env variables). */
  connection(): ConnectionOptions;
}

/**
 * parseArgs' text for an unknown flag speaks of positional arguments; a misspelt flag is far
 * likelier, so the message names the closest flag there is.
 */
function unknownFlag(error: unknown, flags: string[]): string | undefined {
  if ((error as { code?: string }).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return undefined;
  const given = /Unknown option '(-{1,2})([^'=]+)/.exec((error as Error).message);
  if (!given) return undefined;
  const [, dashes, name] = given as unknown as [string, string, string];
  const close = dashes === '--' || name.length > 1 ? closestName(name, flags) : undefined;
  return `unknown option ${dashes}${name} (${close ? `did you mean --${close}?` : 'see the options below'})`;
}

/**
 * The command line of a consul-watch CLI: its own flags plus `--http-addr`, `--token-file`
 * and `--help`, parsed strictly. Bad usage exits 2 with the reason; `--help` prints the
 * usage and exits 0. The token is read from a file, never taken from the command line,
 * where other users of the machine could see it.
 */
export function parseCommandLine(
  name: string,
  usage: string,
  options: NonNullable<ParseArgsConfig['options']>,
  args = process.argv.slice(2),
): CommandLine {
  const usageError = (message: string): never => {
    console.error(`${name}: ${message}\n\n${usage}`);
    process.exit(2);
  };
  const flags = {
    ...options,
    'http-addr': { type: 'string' },
    'token-file': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } satisfies ParseArgsConfig['options'];
  let parsed: { values: FlagValues; positionals: string[] };
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: flags }) as {
      values: FlagValues;
      positionals: string[];
    };
  } catch (error) {
    return usageError(unknownFlag(error, Object.keys(flags)) ?? (error as Error).message);
  }
  if (parsed.values.help) {
    console.log(usage);
    process.exit(0);
  }
  const { values } = parsed;
  return {
    values,
    positionals: parsed.positionals,
    usageError,
    connection() {
      const out: ConnectionOptions = {};
      if (values['http-addr']) out.address = String(values['http-addr']);
      if (values['token-file']) {
        try {
          out.token = readFileSync(String(values['token-file']), 'utf8').trim();
        } catch (error) {
          usageError(
            `--token-file ${values['token-file']} cannot be read (${(error as NodeJS.ErrnoException).code})`,
          );
        }
      }
      return out;
    },
  };
}
