// CPU per change per instance of one app process holding many instances, by what each
// instance watches, so the cost of a live config can be split into its parts:
//   config   core liveConfig over two prefixes (10 shared + 20 app keys, text values)
//   prefix   core keyprefix watch of the 20 app keys
//   key      core key watch of the one key that changes
//   naive    the npm `consul` client's watch() on each of the 30 keys (one wakes per change)
// Each mode runs in its own child process (the dev-server in another), modes interleaved over
// rounds; a change is one PUT of cfg/app/k3, done when every instance has the new value.
//   node --expose-gc bench/fleet.bench.mjs [--instances=100] [--changes=60] [--rounds=3] [--modes=key,naive]
// With --base=PATH (another core build's dist/index.js), a mode written `config@base` runs on
// that build, so a change can be measured against the code before it in the same run.
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  cpuMs,
  keepAliveAgent,
  launch,
  machineLine,
  mainThreadCpuMs,
  median,
  printTable,
  profiled,
  putKv,
  serveParent,
} from './lib.mjs';

const self = fileURLToPath(import.meta.url);
const MODES = ['config', 'prefix', 'key', 'naive'];
/** The config every instance reads: 10 shared keys and 20 of the app, [key, value]. */
const CONFIG = [
  ...Array.from({ length: 10 }, (_, i) => [`cfg/shared/s${i}`, `shared-${i}`]),
  ...Array.from({ length: 20 }, (_, i) => [`cfg/app/k${i}`, `app-${i}`]),
];
/** How many of a round's changes count as its first ones (reported apart). */
const FIRST = 10;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function serverRole() {
  const { startDevServer } = await import('../packages/dev-server/dist/index.js');
  let dev;
  serveParent({
    async start() {
      dev = await startDevServer();
      const agent = keepAliveAgent(1);
      for (const [key, body] of CONFIG)
        await putKv({ agent, port: dev.port, key, body, timeoutMs: 10_000 });
      agent.destroy();
      return dev.port;
    },
  });
}

/** One instance of `mode`: `get(name)` reads the instance's value of an app key. */
async function instance(mode, port, onChange, coreUrl) {
  if (mode === 'naive') {
    const Consul = createRequire(import.meta.url)('consul');
    const consul = new Consul({
      host: '127.0.0.1',
      port,
      agent: keepAliveAgent(Number.POSITIVE_INFINITY),
    });
    const values = new Map();
    let pending = 30;
    let ready;
    const all = new Promise((resolve) => (ready = resolve));
    const watches = [];
    for (const [key] of CONFIG) {
      const watch = consul.watch({ method: consul.kv.get, options: { key } });
      let first = true;
      watch.on('change', (data) => {
        values.set(key.split('/').pop(), data?.Value);
        onChange();
        if (first && --pending === 0) ready();
        first = false;
      });
      watch.on('error', () => {});
      watches.push(watch);
    }
    return {
      get: (name) => values.get(name),
      ready: () => all,
      close: async () => {
        for (const w of watches) w.end();
      },
    };
  }
  const { createConsulWatch } = await import(coreUrl);
  const client = createConsulWatch({ address: `127.0.0.1:${port}` });
  if (mode === 'config') {
    const config = client.liveConfig({ layers: ['cfg/shared/', 'cfg/app/'] });
    config.on('change', onChange);
    return {
      get: (name) => config.get(name),
      ready: () => config.ready(30_000),
      close: () => client.close(),
    };
  }
  const values = new Map();
  const spec =
    mode === 'key' ? { type: 'key', key: 'cfg/app/k3' } : { type: 'keyprefix', prefix: 'cfg/app/' };
  const watch = client.watch(spec, (change) => {
    for (const c of change.changes)
      values.set(c.key.slice(8), c.op === 'set' ? c.entry.value.toString() : undefined);
    onChange();
  });
  return {
    get: (name) => values.get(name),
    ready: () => watch.ready(30_000),
    close: () => client.close(),
  };
}

/**
 * With FLEET_PROFILE_DIR set, the change phase of each mode (not its start-up) is profiled
 * with the inspector and written there as <mode>-<pid>.cpuprofile.
 */
const profileOf = (mode, run) => profiled(process.env.FLEET_PROFILE_DIR, mode, run);

async function fleetRole() {
  let fleet = [];
  let mode;
  let label;
  // Each instance reports its own change; the harness looks only at that instance, so its
  // cost per change is the same for every mode (it used to read all instances on each one).
  let check = () => {};
  serveParent({
    async start(m, port, count, base) {
      mode = m.split('@')[0];
      label = m.replace('@', '-');
      const coreUrl = m.endsWith('@base')
        ? pathToFileURL(base).href
        : '../packages/core/dist/index.js';
      fleet = [];
      for (let i = 0; i < count; i++) {
        const index = i;
        fleet.push(await instance(mode, port, () => check(index), coreUrl));
      }
      await Promise.all(fleet.map((f) => f.ready()));
      return fleet.length;
    },
    /** Resolves when every instance holds `value` for k3; `put` runs in the parent meanwhile. */
    measure: (changes, port) => profileOf(label, () => measure(changes, port)),
    async stop() {
      await Promise.all(fleet.map((f) => f.close()));
      fleet = [];
    },
  });
  async function measure(changes, port) {
    const agent = keepAliveAgent(1);
    const seen = [];
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadCpuMs();
    let firstMs = Number.NaN;
    for (let n = 0; n < changes; n++) {
      // The first changes run code V8 has not optimised yet (or is optimising meanwhile).
      if (n === FIRST) firstMs = cpuMs(cpu0);
      const value = `value-${n}-${Date.now()}`;
      const all = new Promise((resolve) => {
        const done = new Set();
        check = (index) => {
          if (done.has(index) || fleet[index].get('k3') !== value) return;
          done.add(index);
          if (done.size === fleet.length) resolve();
        };
      });
      const t0 = performance.now();
      await putKv({ agent, port, key: 'cfg/app/k3', body: value, timeoutMs: 10_000 });
      await all;
      seen.push(performance.now() - t0);
      await sleep(20);
    }
    const used = cpuMs(cpu0);
    const main = mainThreadCpuMs();
    agent.destroy();
    return {
      cpuMs: used,
      firstMs,
      // The rest is V8's compiler and GC threads.
      mainMs: main !== undefined && main0 !== undefined ? main - main0 : Number.NaN,
      seenP50: median(seen),
    };
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      instances: { type: 'string' },
      changes: { type: 'string' },
      rounds: { type: 'string' },
      modes: { type: 'string' },
      base: { type: 'string' },
    },
  });
  const count = Number(values.instances ?? 100);
  const changes = Number(values.changes ?? 60);
  const rounds = Number(values.rounds ?? 3);
  const modes = values.modes ? values.modes.split(',') : MODES;
  console.log(
    `# fleet: ${count} instances in one process, ${changes} changes of one app key per round\n\n${machineLine()}`,
  );
  const server = launch(self, ['server']);
  const port = await server.call('start');
  const results = Object.fromEntries(modes.map((m) => [m, []]));
  try {
    for (let r = 0; r < rounds; r++) {
      for (const mode of r % 2 ? [...modes].reverse() : modes) {
        const fleet = launch(self, ['fleet']);
        try {
          await fleet.call('start', mode, port, count, values.base);
          await sleep(200);
          results[mode].push(await fleet.call('measure', changes, port));
          await fleet.call('stop');
        } finally {
          await fleet.stop();
        }
      }
    }
  } finally {
    await server.stop();
  }
  const naive = results.naive ? median(results.naive.map((x) => x.cpuMs)) : Number.NaN;
  printTable(
    `CPU of the instances' process per change, per instance (${rounds} interleaved rounds)`,
    [
      'mode',
      'µs per change per instance',
      'rounds',
      'vs naive',
      'of which main thread',
      `first ${FIRST} changes`,
      'later changes',
      'all seen p50 ms',
    ],
    modes.map((mode) => {
      const cpu = median(results[mode].map((x) => x.cpuMs));
      return [
        mode,
        ((cpu / changes / count) * 1000).toFixed(0),
        results[mode].map((x) => ((x.cpuMs / changes / count) * 1000).toFixed(0)).join(' / '),
        `${(cpu / naive).toFixed(2)} ×`,
        ((median(results[mode].map((x) => x.mainMs)) / changes / count) * 1000).toFixed(0),
        ((median(results[mode].map((x) => x.firstMs)) / FIRST / count) * 1000).toFixed(0),
        (
          (median(results[mode].map((x) => x.cpuMs - x.firstMs)) / (changes - FIRST) / count) *
          1000
        ).toFixed(0),
        median(results[mode].map((x) => x.seenP50)).toFixed(1),
      ];
    }),
  );
}

const role = process.argv[2];
if (role === 'server') await serverRole();
else if (role === 'fleet') await fleetRole();
else await main();
