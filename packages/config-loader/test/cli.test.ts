import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConsulWatch, createConsulWatch } from '@consul-watch/core';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dist, runCli } from './cliRun';

let dev: DevServer;
let client: ConsulWatch;
let dir: string;
let app: string;
const children = new Set<ChildProcessWithoutNullStreams>();

beforeAll(async () => {
  dev = await startDevServer();
  client = createConsulWatch({ address: dev.address });
  dir = await mkdtemp(join(tmpdir(), 'cw-consul-env-'));
  app = join(dir, 'app.mjs');
  // A program that knows nothing of Consul: it prints what it got and reacts to signals.
  await writeFile(
    app,
    // Handlers first, then the start line: a signal sent on seeing the line must find them.
    `process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); });
process.on('SIGHUP', () => console.log('got SIGHUP'));
console.log('start ' + JSON.stringify({ GREETING: process.env.GREETING, PATH: process.env.PATH ? 'set' : 'unset', pid: process.pid }));
if (process.env.EXIT_CODE) process.exit(Number(process.env.EXIT_CODE));
setInterval(() => {}, 1000);
`,
  );
});
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});
afterAll(async () => {
  await client.close();
  await dev.close();
  await rm(dir, { recursive: true, force: true });
});

function start(args: string[], env: Record<string, string> = {}) {
  return runCli(['--http-addr', dev.address, ...args], env, children);
}

describe('consul-env', () => {
  it('runs the program with the environment from Consul and restarts it gracefully on a change', async () => {
    await client.kv.put('cli/restart/greeting', 'hello');
    const run = start(['--prefix', 'cli/restart', '--', process.execPath, app]);
    const [first] = await run.lines(/^start /);
    expect(first).toContain('"GREETING":"hello"');
    await client.kv.put('cli/restart/greeting', 'bonjour');
    const lines = await run.lines(/^start /, 2);
    expect(lines[1]).toContain('"GREETING":"bonjour"');
    expect(run.out).toContain('got SIGTERM'); // the old one was asked to stop, not killed
    expect(JSON.parse(lines[0]!.slice(6)).pid).not.toBe(JSON.parse(lines[1]!.slice(6)).pid);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });

  it('sends a signal instead of restarting when asked', async () => {
    await client.kv.put('cli/signal/greeting', 'one');
    const run = start([
      '--prefix',
      'cli/signal/',
      '--signal',
      'SIGHUP',
      '--',
      process.execPath,
      app,
    ]);
    await run.lines(/^start /);
    await client.kv.put('cli/signal/greeting', 'two');
    await run.lines(/^got SIGHUP/);
    expect(run.out.split('\n').filter((l) => l.startsWith('start '))).toHaveLength(1);
    run.child.kill('SIGTERM');
    await run.exited;
  });

  it('forwards SIGTERM and exits with the program exit code', async () => {
    await client.kv.put('cli/exit/exit_code', '7');
    const run = start(['--once', '--prefix', 'cli/exit/', '--', process.execPath, app]);
    expect(await run.exited).toBe(7);
    await client.kv.delete('cli/exit/', { recurse: true });
    const forwarded = start(['--once', '--prefix', 'cli/exit/', '--', process.execPath, app]);
    await forwarded.lines(/^start /);
    forwarded.child.kill('SIGTERM');
    expect(await forwarded.exited).toBe(0);
    expect(forwarded.out).toContain('got SIGTERM');
  });

  it('with Consul unreachable and no fallback, says which flags give one', async () => {
    const run = start([
      '--once',
      '--http-addr',
      '127.0.0.1:1',
      '--prefix',
      'cli/none/',
      '--',
      process.execPath,
      app,
    ]);
    expect(await run.exited).toBe(1);
    expect(run.err).toContain('--last-known-good FILE or --dotenv FILE');
    expect(run.err).not.toContain('lastKnownGoodFile');
  });

  it('stops without starting the program when asked to stop while Consul is still unreachable', async () => {
    const run = start([
      '--http-addr',
      '127.0.0.1:1',
      '--prefix',
      'cli/never/',
      '--',
      process.execPath,
      app,
    ]);
    await new Promise<void>((resolve) => {
      const check = () => {
        if (!run.err.includes('cannot reach Consul')) return;
        run.child.stderr.off('data', check);
        resolve();
      };
      run.child.stderr.on('data', check);
      check();
    });
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(143);
    expect(run.out).not.toContain('start ');
  });

  it('with --pristine gives the program only the variables from Consul', async () => {
    await client.kv.put('cli/pristine/greeting', 'clean');
    const run = start([
      '--once',
      '--pristine',
      '--prefix',
      'cli/pristine/',
      '--',
      process.execPath,
      app,
    ]);
    const [line] = await run.lines(/^start /);
    expect(line).toContain('"GREETING":"clean"');
    expect(line).toContain('"PATH":"unset"');
    run.child.kill('SIGTERM');
    await run.exited;
  });

  it('passes shell metacharacters to the program as plain arguments', async () => {
    const echo = join(dir, 'args.mjs');
    await writeFile(echo, 'console.log(JSON.stringify(process.argv.slice(2)));\n');
    const run = start([
      '--once',
      '--prefix',
      'cli/none/',
      '--',
      process.execPath,
      echo,
      '$(id)',
      '; rm -rf /',
      '`x`',
    ]);
    expect(await run.exited).toBe(0);
    expect(run.out.trim()).toBe(JSON.stringify(['$(id)', '; rm -rf /', '`x`']));
  });

  it('exits 2 naming the problem on bad usage', async () => {
    for (const [args, message] of [
      [['--', 'x'], /--prefix is required/],
      [['--prefix', 'a/'], /name the program to run after --/],
      [['--prefix', 'a/', '--signal', 'SIGNOPE', '--', 'x'], /not a signal name/],
    ] as const) {
      const run = start([...args]);
      expect(await run.exited).toBe(2);
      expect(run.err).toMatch(message);
    }
  });
});

describe('preload', () => {
  const preload = (flag: string, file: string, env: Record<string, string>) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [flag, dist(file), '-e', 'console.log(process.env.GREETING)'],
        { env: { ...process.env, ...env } },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c));
      child.stderr.on('data', (c: Buffer) => (err += c));
      child.on('exit', (code) => resolve({ code, out: out.trim(), err }));
    });

  it('fills process.env before the app with -r (CommonJS) and --import (ESM)', async () => {
    await client.kv.put('cli/preload/greeting', 'preloaded');
    const env = { CONSUL_HTTP_ADDR: dev.address, CONSUL_ENV_PREFIX: 'cli/preload/' };
    expect(await preload('-r', 'register.cjs', env)).toMatchObject({ code: 0, out: 'preloaded' });
    expect(await preload('--import', 'register.js', env)).toMatchObject({
      code: 0,
      out: 'preloaded',
    });
  });

  it('stops the app with a clear message when Consul is unreachable', async () => {
    const result = await preload('-r', 'register.cjs', {
      CONSUL_HTTP_ADDR: '127.0.0.1:1',
      CONSUL_ENV_PREFIX: 'cli/preload/',
    });
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /consul-env: Cannot load the environment from Consul prefix "cli\/preload\/"/,
    );
    // It names what this user can set: environment variables, not the API's option names.
    expect(result.err).toContain('CONSUL_ENV_LAST_KNOWN_GOOD or CONSUL_ENV_DOTENV');
    expect(result.err).not.toContain('lastKnownGoodFile');
  });
});
