import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HandlerError, InvalidInputError } from '../errors';
import { describeValue } from '../messageText';
import { checkOptionNames, namesOf } from '../optionNames';
import { positiveMs } from '../optionValues';
import type { WatchChange } from '../watchTypes';
import { changeToJson } from './changeJson';

export interface ScriptHandlerOptions {
  /** The program to run: a path or a name on PATH. It is spawned directly, never through a shell. */
  command: string;
  args?: string[];
  cwd?: string;
  /** Added to the handler's environment (which also gets CONSUL_INDEX). */
  env?: Record<string, string>;
  /** Kill the handler after this long. Default 60 s. */
  timeoutMs?: number;
  /** Where the handler's stdout goes. Default: discarded. */
  onStdout?: (chunk: string) => void;
}

const STDERR_LIMIT = 16 * 1024;

/** The env to add, checked: names and values a process environment can hold. Values never shown. */
function checkEnv(where: string, env: unknown): Record<string, string | undefined> {
  if (env === undefined) return {};
  if (env === null || typeof env !== 'object' || Array.isArray(env)) {
    throw new InvalidInputError(
      `${where}: env must be an object of variable names to string values, such as { LOG_LEVEL: "debug" }, not ${describeValue(env)}`,
    );
  }
  const checked: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name === '' || name.includes('=') || name.includes('\0')) {
      // Only what comes before a bad character: `{ "TOKEN=abc": … }` must not show abc.
      const shown = JSON.stringify(name.split(/[=\0]/)[0]);
      throw new InvalidInputError(
        `${where}: env has a variable name that is empty or holds "=" or a NUL byte (${shown}…); give each variable as { NAME: "value" }`,
      );
    }
    if (value === undefined) {
      checked[name] = undefined; // left out of the environment, as node does
      continue;
    }
    if (typeof value !== 'string') {
      throw new InvalidInputError(
        `${where}: env ${name} must be a string, not ${value === null ? 'null' : typeof value}; write it as a string`,
      );
    }
    if (value.includes('\0')) {
      throw new InvalidInputError(
        `${where}: env ${name} holds a NUL byte, which no environment value can carry; remove it`,
      );
    }
    checked[name] = value;
  }
  return checked;
}

/** The cwd option as a path: a non-empty string (or a file: URL) without NUL bytes. */
function checkCwd(where: string, cwd: unknown): string | undefined {
  if (cwd === undefined) return undefined;
  if (cwd instanceof URL) {
    try {
      return checkCwd(where, fileURLToPath(cwd));
    } catch (error) {
      if (error instanceof InvalidInputError) throw error;
      throw new InvalidInputError(`${where}: cwd must be a directory path or a file: URL`);
    }
  }
  if (typeof cwd !== 'string' || cwd.trim() === '' || cwd.includes('\0')) {
    throw new InvalidInputError(
      `${where}: cwd must be the path of a directory, such as "/srv/app", not ${describeValue(cwd)}`,
    );
  }
  return cwd;
}

/** Why `cwd` cannot be a program's working directory now, or undefined if it can. */
function cwdProblem(cwd: string): string | undefined {
  try {
    if (!statSync(cwd).isDirectory())
      return `its cwd ${cwd} is not a directory; fix the cwd option`;
    accessSync(cwd, constants.X_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      return `its cwd ${cwd} does not exist; create it or fix the cwd option`;
    if (code === 'EACCES' || code === 'EPERM')
      return `its cwd ${cwd} cannot be entered (permission denied)`;
    return `its cwd ${cwd} cannot be used (${code ?? 'unknown error'})`;
  }
}

/**
 * Runs a program for each change, as `consul watch` runs its handler: the change as JSON on
 * stdin, CONSUL_INDEX in the environment. No shell is involved, so arguments are passed as
 * they are and shell metacharacters mean nothing. Options are checked when the handler is
 * made (InvalidInputError). A program that cannot start (missing, or a cwd that does not
 * exist), a non-zero exit, a signal or a timeout rejects with a HandlerError carrying the
 * exit code and the end of stderr.
 */
const SCRIPT_OPTIONS = namesOf<ScriptHandlerOptions>({
  command: true,
  args: true,
  cwd: true,
  env: true,
  timeoutMs: true,
  onStdout: true,
});

export function scriptHandler(
  options: ScriptHandlerOptions,
): (change: WatchChange) => Promise<void> {
  if (options !== null && typeof options === 'object')
    checkOptionNames(options, SCRIPT_OPTIONS, 'scriptHandler');
  if (typeof options?.command !== 'string' || options.command.trim() === '') {
    throw new InvalidInputError('scriptHandler needs a command: { command: "./on-change.sh" }');
  }
  const command = options.command;
  if (command.includes('\0')) {
    throw new InvalidInputError(
      'scriptHandler: the command holds a NUL byte, which no program path can carry; remove it',
    );
  }
  const where = `scriptHandler ${command}`;
  const given = options.args ?? [];
  if (!Array.isArray(given) || given.some((a) => typeof a !== 'string')) {
    throw new InvalidInputError(`${where}: args must be an array of strings`);
  }
  const args = [...given];
  const nul = args.findIndex((a) => a.includes('\0'));
  if (nul >= 0) {
    throw new InvalidInputError(
      `${where}: args[${nul}] holds a NUL byte, which no program argument can carry; remove it`,
    );
  }
  const env = checkEnv(where, options.env);
  const cwd = checkCwd(where, options.cwd);
  const timeoutMs = positiveMs(where, 'timeoutMs', options.timeoutMs, 60_000);
  const onStdout = options.onStdout;
  if (onStdout !== undefined && typeof onStdout !== 'function') {
    throw new InvalidInputError(`${where}: onStdout must be a function (chunk: string) => void`);
  }

  /** The error for a program that could not start; never node's own text for bad arguments. */
  const couldNotStart = (error: unknown): HandlerError => {
    const e = error as NodeJS.ErrnoException;
    const problem = cwd === undefined ? undefined : cwdProblem(cwd);
    if (problem) return new HandlerError(`handler ${command} could not start: ${problem}`);
    // Errors from the system (ENOENT, EACCES) name the program; others may echo a value.
    if (e?.syscall) {
      return new HandlerError(`handler ${command} could not start: ${e.message}`, { cause: e });
    }
    return new HandlerError(`handler ${command} could not start (${e?.code ?? e?.name})`);
  };

  return (change) =>
    new Promise<void>((resolve, reject) => {
      let child: ChildProcessWithoutNullStreams;
      try {
        child = spawn(command, args, {
          cwd,
          env: { ...process.env, ...env, CONSUL_INDEX: change.index },
          stdio: 'pipe',
          shell: false,
        });
      } catch (error) {
        // node throws at once for some failures (a cwd that is a file: ENOTDIR).
        reject(couldNotStart(error));
        return;
      }
      let failedToStart = false;
      let stderr = '';
      let stdoutError: unknown;
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-STDERR_LIMIT);
      });
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        if (!onStdout || stdoutError !== undefined) return;
        try {
          onStdout(chunk);
        } catch (error) {
          // A throwing listener would be an uncaught exception: report it with the run instead.
          stdoutError = error ?? new Error('onStdout threw');
        }
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 2_000).unref();
      }, timeoutMs);
      child.stdin.on('error', () => {}); // a handler that does not read stdin is fine
      child.stdin.end(`${JSON.stringify(changeToJson(change))}\n`);
      child.on('error', (error) => {
        clearTimeout(timer);
        failedToStart = true;
        reject(couldNotStart(error));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (failedToStart) return;
        if (code === 0 && stdoutError === undefined) return resolve();
        if (code === 0) {
          reject(
            new HandlerError(
              `handler ${command}: onStdout threw: ${(stdoutError as Error)?.message ?? String(stdoutError)}`,
              { cause: stdoutError },
            ),
          );
          return;
        }
        const why = timedOut
          ? `was killed after ${timeoutMs} ms`
          : signal
            ? `was killed by ${signal}`
            : `exited with code ${code}`;
        const tail = stderr.trim() ? `; stderr: ${stderr.trim().slice(-2_000)}` : '';
        reject(
          Object.assign(new HandlerError(`handler ${command} ${why}${tail}`), {
            exitCode: code,
            stderr,
          }),
        );
      });
    });
}
