// A change rolled through a small fleet: several copies of the plain app, each run through
// consul-env with --wait and --rolling, share one Consul semaphore, so a burst of edits restarts
// each copy once and never more than --max-restarting of them at a time. A copy counts as
// ready when its HTTP port answers (--ready-url). Against the embedded
// dev-server unless CONSUL_HTTP_ADDR is set.
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createConsulWatch } from '@consul-watch/core';
import { startDevServer } from '@consul-watch/dev-server';
import { app, spawnConsulEnv } from './demo.mjs';

export const FLEET_PREFIX = 'demo/fleet/env/';
export const ROLLOUT_KEY = 'demo/fleet/rollout';

/**
 * Starts `instances` copies of the app through consul-env, rolling with `maxRestarting`.
 * `onLine(index, line)` gets each line a copy or its consul-env prints.
 */
export async function startRolloutDemo({
  consulAddress = process.env.CONSUL_HTTP_ADDR,
  instances = 4,
  maxRestarting = 1,
  onLine = (index, line) => console.log(`[${index}] ${line}`),
} = {}) {
  let dev;
  if (!consulAddress) {
    dev = await startDevServer();
    consulAddress = dev.address;
  }
  const client = createConsulWatch({ address: consulAddress });
  await client.kv.put(`${FLEET_PREFIX}greeting`, 'release 0');
  const children = [];
  for (let index = 0; index < instances; index++) {
    const port = await freePort();
    children.push(
      spawnConsulEnv(
        [
          '--http-addr',
          consulAddress,
          '--prefix',
          FLEET_PREFIX,
          '--restart-on-change',
          '--wait',
          '500:3000',
          '--rolling',
          ROLLOUT_KEY,
          '--max-restarting',
          String(maxRestarting),
          '--ready-url',
          `http://127.0.0.1:${port}/`,
          '--',
          process.execPath,
          app,
        ],
        (line) => onLine(index, line),
        { ...process.env, APP_PORT: String(port) },
      ),
    );
  }
  return {
    consulAddress,
    /** Writes a burst of `count` edits, `gapMs` apart: release 1, release 2, … */
    async burst(count = 5, gapMs = 30) {
      for (let n = 1; n <= count; n++) {
        await client.kv.put(`${FLEET_PREFIX}greeting`, `release ${n}`);
        await new Promise((resolve) => setTimeout(resolve, gapMs));
      }
    },
    async close() {
      for (const { child } of children) child.kill('SIGTERM');
      await Promise.all(children.map((c) => c.exited));
      await client.close();
      await dev?.close();
    },
  };
}

/** A loopback port nobody listens on now, for a copy of the app and its --ready-url. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Follows the copies' lines: restarts each copy made, and the most copies between
 * "restarting" and "ready" at one moment, as consul-env reports them.
 */
export function rolloutLedger(instances) {
  const restarts = Array.from({ length: instances }, () => 0);
  const restarting = new Set();
  let most = 0;
  return {
    restarts,
    get mostAtOnce() {
      return most;
    },
    /** How many copies are between "restarting" and "ready" now. */
    get busy() {
      return restarting.size;
    },
    line(index, line) {
      if (/^consul-env: restarting \(/.test(line)) {
        restarts[index]++;
        restarting.add(index);
        most = Math.max(most, restarting.size);
      } else if (/^consul-env: (ready after|restart failed)/.test(line)) restarting.delete(index);
    },
  };
}

/**
 * The whole demo: starts the copies, writes a burst of 5 edits once all run release 0, and
 * ends when all run release 5 and none is restarting. Returns what the ledger saw.
 */
export async function runRolloutDemo({
  consulAddress,
  instances = 4,
  maxRestarting = 1,
  say = console.log,
} = {}) {
  const ledger = rolloutLedger(instances);
  const latest = new Map();
  let check = () => {};
  const demo = await startRolloutDemo({
    consulAddress,
    instances,
    maxRestarting,
    onLine(index, line) {
      say(`[${index}] ${line}`);
      ledger.line(index, line);
      const started = /started with .*"greeting":"([^"]*)"/.exec(line);
      if (started) latest.set(index, started[1]);
      check();
    },
  });
  const allOn = (value) =>
    new Promise((resolve) => {
      check = () => {
        const on = latest.size === instances && [...latest.values()].every((v) => v === value);
        if (on && ledger.busy === 0) resolve();
      };
      check();
    });
  try {
    await allOn('release 0');
    say(`rollout demo: ${instances} copies running; now 5 edits of the greeting, 30 ms apart`);
    await demo.burst(5, 30);
    await allOn('release 5');
    say(
      `rollout demo: every copy runs release 5; restarts per copy ${ledger.restarts.join(', ')}; at most ${ledger.mostAtOnce} restarting at once (--max-restarting ${maxRestarting})`,
    );
    return { restarts: ledger.restarts, mostAtOnce: ledger.mostAtOnce };
  } finally {
    await demo.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runRolloutDemo();
