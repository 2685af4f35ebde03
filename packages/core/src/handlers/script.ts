import { spawn } from 'node:child_process';
import { HandlerError, InvalidInputError } from '../errors';
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

/**
 * Runs a program for each change, as `consul watch` runs its handler: the change as JSON on
 * stdin, CONSUL_INDEX in the environment. No shell is involved, so arguments are passed as
 * they are and shell metacharacters mean nothing. A non-zero exit, a signal or a timeout
 * rejects with a HandlerError carrying the exit code and the end of stderr.
 */
export function scriptHandler(
  options: ScriptHandlerOptions,
): (change: WatchChange) => Promise<void> {
  if (typeof options?.command !== 'string' || options.command.trim() === '') {
    throw new InvalidInputError('scriptHandler needs a command: { command: "./on-change.sh" }');
  }
  const args = options.args ?? [];
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) {
    throw new InvalidInputError(
      `scriptHandler ${options.command}: args must be an array of strings`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 60_000;
  return (change) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(options.command, args, {
        cwd: options.cwd,
        env: { ...process.env, ...options.env, CONSUL_INDEX: change.index },
        stdio: 'pipe',
        shell: false,
      });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-STDERR_LIMIT);
      });
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', options.onStdout ?? (() => {}));
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
        reject(
          new HandlerError(`handler ${options.command} could not start: ${error.message}`, {
            cause: error,
          }),
        );
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) return resolve();
        const why = timedOut
          ? `was killed after ${timeoutMs} ms`
          : signal
            ? `was killed by ${signal}`
            : `exited with code ${code}`;
        const tail = stderr.trim() ? `; stderr: ${stderr.trim().slice(-2_000)}` : '';
        reject(
          Object.assign(new HandlerError(`handler ${options.command} ${why}${tail}`), {
            exitCode: code,
            stderr,
          }),
        );
      });
    });
}
