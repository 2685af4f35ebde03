import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import type { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Logger, WatchChange } from '@consul-watch/core';
import { type RawRequest, rawRequest } from '@consul-watch/dev-server/testing';
import { expect } from 'vitest';

/** The built CLIs, run with node as a user would (`pnpm test` builds first). */
export const CLI = {
  'consul-watch': fileURLToPath(new URL('../../core/dist/cli.js', import.meta.url)),
  'consul-env': fileURLToPath(new URL('../../config-loader/dist/cli.js', import.meta.url)),
  'consul-dev': fileURLToPath(new URL('../../dev-server/dist/cli.js', import.meta.url)),
} as const;
export type CliName = keyof typeof CLI;

/** A logger that keeps every line it is given, fields included, for later inspection. */
export function recordingLogger(lines: string[]): Logger {
  const line =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      lines.push(`${level} ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

/** What a call threw or rejected with; `NOTHING` when it returned normally. */
export const NOTHING = Symbol('nothing thrown');

export async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  return NOTHING;
}

export interface Expected {
  /** The error class (instanceof). */
  cls?: abstract new (
    ...args: never[]
  ) => Error;
  /** ConsulWatchError code. */
  code?: string;
  /** The message names this (a key, an option, a flag). */
  names?: string | RegExp;
  /** Strings that must never be in the message (tokens, passwords, secret values). */
  secrets?: string[];
}

/** Asserts an error is the clear, typed one a row expects. Returns it for further checks. */
export function expectTyped(error: unknown, expected: Expected): Error {
  expect(error, 'the call should have failed').not.toBe(NOTHING);
  expect(error).toBeInstanceOf(Error);
  const e = error as Error & { code?: string };
  if (expected.cls) expect(e).toBeInstanceOf(expected.cls);
  if (expected.code) expect(e.code).toBe(expected.code);
  if (typeof expected.names === 'string') expect(e.message).toContain(expected.names);
  else if (expected.names) expect(e.message).toMatch(expected.names);
  for (const secret of expected.secrets ?? []) expect(e.message).not.toContain(secret);
  return e;
}

/** A change as core delivers it, for calling handlers directly. */
export function fakeChange(index = '7'): WatchChange {
  return {
    type: 'key',
    index,
    initial: true,
    changes: [],
    entries: new Map(),
  } as unknown as WatchChange;
}

export type { RawRequest as Sent } from '@consul-watch/dev-server/testing';
export { until } from '@consul-watch/dev-server/testing';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One raw request (the path is sent exactly as given, dot segments included), body as text. */
export async function httpCall(
  port: number,
  sent: RawRequest,
  agent: Agent | false = false,
  timeoutMs = 5_000,
): Promise<Answer> {
  const answer = await rawRequest({ port, agent }, sent, timeoutMs);
  return { ...answer, body: answer.body.toString('utf8') };
}

export interface CliRun {
  name: CliName;
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the run did not end by itself in time and was killed. */
  timedOut: boolean;
}

export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves once stdout or stderr matches, or rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the run once the process has exited. */
  ended: Promise<CliRun>;
  /** Sends a signal (default SIGKILL) and waits for the end. */
  stop(signal?: NodeJS.Signals): Promise<CliRun>;
}

/** Every CLI run of the file, for the no-crash audit at the end. */
export const cliRuns: CliRun[] = [];
const running = new Set<ChildProcessWithoutNullStreams>();

/** Starts a built CLI with node. `env` is laid over a neutral environment. */
export function startCli(name: CliName, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [CLI[name], ...args], {
    env: {
      ...process.env,
      CONSUL_HTTP_ADDR: '127.0.0.1:1',
      CONSUL_HTTP_TOKEN: '',
      CONSUL_DEV_ACL_TOKEN: '',
      CONSUL_CACERT: '',
      CONSUL_CLIENT_CERT: '',
      CONSUL_CLIENT_KEY: '',
      ...env,
    },
    stdio: 'pipe',
  });
  running.add(child);
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout.on('data', (c: Buffer) => {
    stdout += c;
    for (const w of [...watchers]) w();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c;
    for (const w of [...watchers]) w();
  });
  let killed = false;
  const ended = new Promise<CliRun>((resolve) => {
    child.once('close', (code, signal) => {
      running.delete(child);
      const run: CliRun = { name, args, code, signal, stdout, stderr, timedOut: killed };
      cliRuns.push(run);
      resolve(run);
    });
  });
  const handle: CliProcess = {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    waitFor(pattern, timeoutMs = 8_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`waited for ${pattern}; stdout: ${stdout}; stderr: ${stderr}`));
        }, timeoutMs);
        const check = () => {
          if (!pattern.test(stdout) && !pattern.test(stderr)) return;
          clearTimeout(timer);
          watchers.delete(check);
          resolve();
        };
        watchers.add(check);
        check();
        void ended.then(() => {
          if (!watchers.has(check)) return;
          clearTimeout(timer);
          watchers.delete(check);
          if (pattern.test(stdout) || pattern.test(stderr)) resolve();
          else reject(new Error(`exited before ${pattern}; stdout: ${stdout}; stderr: ${stderr}`));
        });
      });
    },
    ended,
    async stop(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) {
        killed = true;
        child.kill(signal);
      }
      return ended;
    },
  };
  return handle;
}

/**
 * Runs a CLI that must end by itself; kills it after `timeoutMs`, or as soon as its output
 * matches `killOn` (proof enough that it went on when it should have stopped), and says so.
 */
export async function runCli(
  name: CliName,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 8_000,
  killOn?: RegExp,
): Promise<CliRun> {
  const p = startCli(name, args, env);
  const timer = setTimeout(() => void p.stop(), timeoutMs);
  if (killOn)
    p.waitFor(killOn, timeoutMs).then(
      () => p.stop(),
      () => {},
    );
  const run = await p.ended;
  clearTimeout(timer);
  return run;
}

/** Kills whatever is still running (a row that failed half-way) and waits for each. */
export async function killAllClis(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** A Node crash: an uncaught exception prints the throw site and a stack. */
export function looksLikeCrash(run: CliRun): boolean {
  return /^\s+at .+\(?(node:|file:)/m.test(run.stderr) || /^node:internal/m.test(run.stderr);
}
