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
import { checkReadyUrl } from './programReady';
import { parseMaxRestarting } from './rollingSlot';
import { type WatchConsulEnvOptions, watchEnv } from './watchConsulEnv';

const usage = `consul-env: run a program with its environment from a Consul KV prefix

Usage: consul-env --prefix PREFIX [--prefix PREFIX…] [options] -- PROGRAM [ARGS…]

  --prefix PREFIX       KV prefix whose keys become variables (app/env/db/host → DB_HOST);
                        give several and a later one wins for a variable both define
  --once                read once and run; do not watch for changes
  --restart-on-change   on a change, restart the program gracefully (the default)
  --signal SIG          on a change, send SIG (e.g. SIGHUP) instead of restarting
  --kill-timeout MS     after asking the program to stop, wait this long before SIGKILL (10000)
  --wait MIN[:MAX]      apply a burst of changes once: MIN ms after the last change, or MAX ms
                        after the first (MAX defaults to 4 × MIN)
  --splay MS            wait a random 0..MS before each restart or signal
  --rolling KEY         before a restart take a slot of the Consul semaphore at KEY; keep it
                        until the program is ready again
  --max-restarting N    with --rolling: N instances at a time, or a share of them (25%) (1)
  --ready-url URL       ready once URL answers 2xx (polled); else after --ready-after
  --ready-after MS      ready once the restarted program has run this long (1000)
  --ready-timeout MS    with --ready-url: a restart fails and gives its slot back after this (60000)
  --session-ttl MS      TTL of the session holding the slot (15000; Consul accepts 10000 and up)
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
    prefix: { type: 'string', multiple: true },
    once: { type: 'boolean' },
    'restart-on-change': { type: 'boolean' },
    signal: { type: 'string' },
    'kill-timeout': { type: 'string', default: '10000' },
    pristine: { type: 'boolean' },
    override: { type: 'boolean' },
    dotenv: { type: 'string' },
    'last-known-good': { type: 'string' },
    'no-expand': { type: 'boolean' },
    wait: { type: 'string' },
    splay: { type: 'string' },
    rolling: { type: 'string' },
    'max-restarting': { type: 'string' },
    'ready-url': { type: 'string' },
    'ready-after': { type: 'string' },
    'ready-timeout': { type: 'string' },
    'session-ttl': { type: 'string' },
  });
  const v = cli.values;
  // Typed out so TypeScript knows a call never returns.
  const usageError: (message: string) => never = cli.usageError;
  const [command, ...args] = cli.positionals;
  const prefixes = (v.prefix as string[] | undefined) ?? [];
  if (prefixes.length === 0) usageError('--prefix is required');
  if (prefixes.some((p) => p.trim() === ''))
    usageError('--prefix is required: name a KV prefix such as app/env/, not an empty value');
  if (!command) usageError('name the program to run after --');
  if (v.signal && !(String(v.signal) in constants.signals))
    usageError(`--signal ${v.signal} is not a signal name such as SIGHUP`);
  if (v.signal && v['restart-on-change'])
    usageError('give --signal or --restart-on-change, not both');
  /** A flag's whole milliseconds, `min` to `max`; undefined when not given. */
  const ms = (flag: string, min = 0, max = 3_600_000): number | undefined => {
    const raw = v[flag];
    if (raw === undefined) return undefined;
    const text = String(raw);
    // Number('') and Number('  ') are 0: an empty value is not zero.
    if (text.trim() === '') usageError(`--${flag} must be milliseconds, not an empty value`);
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max)
      usageError(
        `--${flag} must be milliseconds, not ${text}: a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}`,
      );
    return n;
  };
  const killTimeout = ms('kill-timeout', 0, Number.MAX_SAFE_INTEGER) as number;
  const restart: Partial<WatchConsulEnvOptions> = {};
  if (v.wait !== undefined) {
    const match = /^(\d+)(?::(\d+))?$/.exec(String(v.wait).trim());
    const min = Number(match?.[1]);
    const max = match?.[2] === undefined ? 4 * min : Number(match[2]);
    if (!match || min < 1 || max < min || max > 3_600_000)
      usageError(
        `--wait takes MIN[:MAX] in milliseconds, MIN 1 or more and MAX at least MIN, such as 500 or 500:2000; not ${JSON.stringify(String(v.wait))}`,
      );
    restart.settle = { minMs: min, maxMs: Math.min(max, 3_600_000) };
  }
  const splay = ms('splay');
  if (splay !== undefined) restart.splayMs = splay;
  for (const flag of ['max-restarting', 'session-ttl'])
    if (v[flag] !== undefined && v.rolling === undefined)
      usageError(`--${flag} goes with --rolling KEY; add --rolling or leave --${flag} out`);
  if (v['ready-timeout'] !== undefined && v['ready-url'] === undefined)
    usageError('--ready-timeout goes with --ready-url URL; add --ready-url or leave it out');
  if (v['ready-url'] !== undefined && v['ready-after'] !== undefined)
    usageError('give --ready-url or --ready-after, not both');
  if (v.rolling !== undefined) {
    const key = String(v.rolling);
    if (key.replace(/\/+$/, '').trim() === '')
      usageError(
        '--rolling must name the KV prefix of the roll-out semaphore, such as rollout/my-app',
      );
    const max = v['max-restarting'] === undefined ? '1' : String(v['max-restarting']);
    try {
      parseMaxRestarting(max, '--max-restarting');
    } catch (error) {
      usageError((error as Error).message);
    }
    const ttl = ms('session-ttl', 10);
    restart.rolling = {
      key,
      maxRestarting: max,
      ...(ttl === undefined ? {} : { sessionTtlMs: ttl }),
    };
  }
  if (v['ready-url'] !== undefined) {
    try {
      restart.readyUrl = checkReadyUrl(String(v['ready-url']), '--ready-url');
    } catch (error) {
      usageError((error as Error).message);
    }
  }
  const readyAfter = ms('ready-after');
  if (readyAfter !== undefined) restart.readyAfterMs = readyAfter;
  const readyTimeout = ms('ready-timeout', 1);
  if (readyTimeout !== undefined) restart.readyTimeoutMs = readyTimeout;
  if (v.once && Object.keys(restart).length > 0)
    usageError(
      `--once reads once and never restarts; leave out ${[
        'wait',
        'splay',
        'rolling',
        'ready-url',
        'ready-after',
        'ready-timeout',
      ]
        .filter((f) => v[f] !== undefined)
        .map((f) => `--${f}`)
        .join(', ')}`,
    );
  const logger = consoleLogger('consul-env');
  const client: ConsulWatch = createConsulWatch({ ...cli.connection(), logger });
  // The program's environment, kept apart from ours.
  const childEnv: Record<string, string | undefined> = v.pristine ? {} : { ...process.env };
  const options: ConsulEnvOptions = {
    prefix: prefixes,
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
  const restartProgram = async () => {
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
  let heldSince = 0;
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
    const watch = watchEnv(
      { ...options, ...restart },
      {
        maxRestarting: '--max-restarting',
        readyUrl: '--ready-url',
        readyTimeout: '--ready-timeout',
      },
    );
    stopWatch = () => watch.stop();
    // Lines a person can follow a roll-out by.
    watch.on('rollout', (step) => {
      if (step.step === 'waiting') logger.info(`waiting for a slot of ${step.key}`);
      else if (step.step === 'restarting') {
        // Without a slot to tell about, the 'changed:' line that follows says it all.
        if (!restart.rolling) return;
        heldSince = performance.now();
        logger.info(
          `${v.signal ? `sending ${v.signal}` : 'restarting'} (slot taken after waiting ${step.waitedMs} ms)`,
        );
      } else if (step.step === 'ready')
        logger.info(
          `ready after ${step.afterMs} ms${restart.rolling ? `; slot released (held ${Math.round(performance.now() - heldSince)} ms)` : ''}`,
        );
      else if (step.step === 'failed') logger.error(`restart failed: ${step.error.message}`);
      else
        logger.warn(
          `lost the roll-out slot mid-restart (${step.error.message}): Consul has freed it, so one more instance may restart alongside this one; finishing this restart`,
        );
    });
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
      // Resolves once the new program is started: readiness is counted from there.
      else return restartProgram();
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
