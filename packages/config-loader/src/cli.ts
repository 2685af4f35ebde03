#!/usr/bin/env node
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import {
  type ConsulWatch,
  consoleLogger,
  createConsulWatch,
  InvalidInputError,
} from '@consul-watch/core';
import { parseCommandLine } from '@consul-watch/core/internal';
import { type ConsulEnvOptions, FALLBACK_HINT, loadConsulEnv } from './consulEnv';
import { watchConsulEnv } from './watchConsulEnv';

const usage = `consul-env: run a program with its environment from a Consul KV prefix

Usage: consul-env --prefix PREFIX [options] -- PROGRAM [ARGS…]

  --prefix PREFIX       KV prefix whose keys become variables (app/env/db/host → DB_HOST)
  --once                read once and run; do not watch for changes
  --restart-on-change   on a change, restart the program gracefully (the default)
  --signal SIG          on a change, send SIG (e.g. SIGHUP) instead of restarting
  --kill-timeout MS     after asking the program to stop, wait this long before SIGKILL (10000)
  --pristine            give the program only the variables from Consul
  --override            let Consul's values replace variables already set
  --dotenv FILE         a .env file layered below Consul
  --last-known-good FILE  keep the last values; use them when Consul is unreachable
  --no-expand           leave \${VAR} references as they are
  --http-addr ADDR      Consul address (default CONSUL_HTTP_ADDR, else 127.0.0.1:8500)
  --token-file FILE     ACL token from FILE (default CONSUL_HTTP_TOKEN)

The program runs without a shell; consul-env forwards signals to it and exits with its code.`;

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT'] as const;

async function main(): Promise<void> {
  const cli = parseCommandLine('consul-env', usage, {
    prefix: { type: 'string' },
    once: { type: 'boolean' },
    'restart-on-change': { type: 'boolean' },
    signal: { type: 'string' },
    'kill-timeout': { type: 'string', default: '10000' },
    pristine: { type: 'boolean' },
    override: { type: 'boolean' },
    dotenv: { type: 'string' },
    'last-known-good': { type: 'string' },
    'no-expand': { type: 'boolean' },
  });
  const v = cli.values;
  // Typed out so TypeScript knows a call never returns.
  const usageError: (message: string) => never = cli.usageError;
  const [command, ...args] = cli.positionals;
  if (!v.prefix) usageError('--prefix is required');
  if (!command) usageError('name the program to run after --');
  if (v.signal && !(String(v.signal) in constants.signals))
    usageError(`--signal ${v.signal} is not a signal name such as SIGHUP`);
  if (v.signal && v['restart-on-change'])
    usageError('give --signal or --restart-on-change, not both');
  const rawKillTimeout = String(v['kill-timeout']);
  // Number('') and Number('  ') are 0: an empty value is not "no grace period".
  if (rawKillTimeout.trim() === '')
    usageError('--kill-timeout must be milliseconds, not an empty value');
  const killTimeout = Number(rawKillTimeout);
  if (!Number.isInteger(killTimeout) || killTimeout < 0)
    usageError(`--kill-timeout must be milliseconds, not ${rawKillTimeout}`);
  const logger = consoleLogger('consul-env');
  const client: ConsulWatch = createConsulWatch({ ...cli.connection(), logger });
  // The program's environment, kept apart from ours.
  const childEnv: Record<string, string | undefined> = v.pristine ? {} : { ...process.env };
  const options: ConsulEnvOptions = {
    prefix: String(v.prefix),
    client,
    env: childEnv,
    logger,
    override: Boolean(v.override),
    expand: !v['no-expand'],
    ...(v.dotenv ? { dotenvFile: String(v.dotenv) } : {}),
    ...(v['last-known-good'] ? { lastKnownGoodFile: String(v['last-known-good']) } : {}),
  };

  let child: ChildProcess | undefined;
  let restarting = false;
  let exiting = false;
  let stopWatch = async () => {};
  const finish = async (code: number) => {
    if (exiting) return;
    exiting = true;
    await stopWatch();
    await client.close();
    process.exit(code);
  };
  const run = () => {
    let started: ChildProcess;
    try {
      started = spawn(command, args, {
        stdio: 'inherit',
        env: childEnv as NodeJS.ProcessEnv,
        shell: false,
      });
    } catch (error) {
      // spawn refuses what it cannot pass (a NUL byte) with a message that prints the value:
      // say which variable instead, never its value.
      const bad = Object.entries(childEnv).find(
        ([name, value]) => name.includes('\0') || value?.includes('\0'),
      );
      const why = bad
        ? `the environment variable ${JSON.stringify(bad[0])} contains a NUL byte`
        : ((error as NodeJS.ErrnoException).code ?? 'invalid arguments');
      console.error(`consul-env: cannot start ${command}: ${why}`);
      void finish(1);
      return;
    }
    child = started;
    started.on('error', (error) => {
      console.error(`consul-env: cannot start ${command}: ${error.message}`);
      void finish(127);
    });
    started.on('exit', (code, signal) => {
      if (restarting || child !== started) return;
      void finish(code ?? 128 + (constants.signals[signal as keyof typeof constants.signals] ?? 0));
    });
  };
  const restart = async () => {
    const old = child;
    if (!old || restarting) return;
    restarting = true;
    const gone = new Promise<void>((resolve) => {
      if (old.exitCode !== null || old.signalCode !== null) resolve();
      else old.once('exit', () => resolve());
    });
    old.kill('SIGTERM');
    const timer = setTimeout(() => old.kill('SIGKILL'), killTimeout);
    await gone;
    clearTimeout(timer);
    restarting = false;
    if (!exiting) run();
  };
  for (const name of FORWARDED) {
    process.on(name, () => {
      if (child) child.kill(name);
      // Asked to stop before the program even started: stop, do not start it afterwards.
      else if (name === 'SIGINT' || name === 'SIGTERM') void finish(128 + constants.signals[name]);
    });
  }

  if (v.once) {
    await loadConsulEnv(options);
  } else {
    const watch = watchConsulEnv(options);
    stopWatch = () => watch.stop();
    watch.on('error', (error) => {
      // Before the program starts, values that cannot make an environment (a collision, a
      // NUL byte) end the run at once, as --once does; later the program keeps running on the
      // last good environment and the error is reported.
      if (!child && error instanceof InvalidInputError) {
        console.error(`consul-env: ${error.message}`);
        void finish(1);
      } else logger.warn(error.message);
    });
    watch.on('change', ({ changed, removed }) => {
      logger.info(`changed: ${[...changed, ...removed.map((r) => `-${r}`)].join(', ')}`);
      if (v.signal) child?.kill(String(v.signal) as NodeJS.Signals);
      else void restart();
    });
    await watch.ready(30_000);
  }
  if (!exiting) run();
}

main().catch((error: Error) => {
  // Messages of the API name its options; here the user typed flags.
  const message = error.message.replace(
    FALLBACK_HINT,
    'Pass --last-known-good FILE or --dotenv FILE for a fallback.',
  );
  console.error(`consul-env: ${message}`);
  process.exit(1);
});
