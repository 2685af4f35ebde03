import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The CLI runs from the build (`pnpm test` builds first). */
export const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));

/** A run of the consul-env CLI: its output as it comes, and a way to await lines of it. */
export interface CliRun {
  child: ChildProcessWithoutNullStreams;
  exited: Promise<number | null>;
  readonly out: string;
  readonly err: string;
  /** Resolves once stdout and stderr together have `count` lines matching `pattern`. */
  lines(pattern: RegExp, count?: number, timeoutMs?: number): Promise<string[]>;
}

/** Starts `consul-env ARGS` with `env` added to ours; `children` collects it for the cleanup. */
export function runCli(
  args: string[],
  env: Record<string, string>,
  children: Set<ChildProcessWithoutNullStreams>,
): CliRun {
  const child = spawn(process.execPath, [dist('cli.js'), ...args], {
    env: { ...process.env, ...env },
  });
  children.add(child);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const heard = () => {
    for (const w of [...waiters]) w();
  };
  child.stdout.on('data', (c: Buffer) => {
    out += c;
    heard();
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c;
    heard();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    get out() {
      return out;
    },
    get err() {
      return err;
    },
    lines(pattern, count = 1, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`waited for ${count} × ${pattern}; stdout: ${out}; stderr: ${err}`));
        }, timeoutMs);
        const check = () => {
          const found = `${out}\n${err}`.split('\n').filter((l) => pattern.test(l));
          if (found.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/**
 * A free port for a program's ready URL, below Linux's ephemeral range (32768 and up): a port
 * the kernel handed out and took back is soon some process's outgoing connection to Consul.
 */
let nextPort = 20_000 + (process.pid % 4_000) * 3;
export async function freePort(): Promise<number> {
  for (;;) {
    const port = nextPort++;
    if (nextPort >= 32_000) nextPort = 20_000;
    const server = createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!free) continue;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }
}
