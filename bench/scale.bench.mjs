// Scale: many application instances watching the same prefixes, as a fleet would. Each
// simulated instance is what one service process watches: a live config of two layers
// (config/application/ shared by every service, config/app/ its own), five feature flags
// read by two components each, and the healthy instances of `payments` read by two
// components. Two setups of the same instances, measured in the same run against the same
// server:
//
//   core   one createConsulWatch() client per instance (its own keep-alive agent, as a
//          process would have): a liveConfig over the two prefixes, one key watch per flag
//          and one service watch, each shared by the components that want it.
//   naive  one npm `consul` client per instance (its own agent) and its `watch()` per key
//          and per component: every config key, every flag twice, payments twice.
//
// Reported per setup: parked queries and connections per instance; start-up (from spawning
// the workers until every instance has its first config: the workers' CPU, the requests the
// server received, peak RSS, the server's CPU); then for a series of changes (a shared key,
// an app key, a flag, a payments health flip) the requests the server received per change
// (re-parks included), the time until every instance saw it, and the CPU the server and the
// instances spent per change. The changes are measured twice in one run, on the same fleets:
// cold (4 unmeasured changes after start-up, 10 samples per kind: what a freshly started
// fleet pays) and then warm (at least 40 changes made before, 40 samples per kind, a full GC
// in every worker before each sample).
//
// Roles: `node scale.bench.mjs` orchestrates; `... server` runs the dev-server; `... worker
// <setup> <count> <address> [base]` runs `count` instances. Instances are spread over workers
// so that 200 instances' worth of watchers live in a few processes.

import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  busyCores,
  collectGarbage,
  cpuMs,
  fmt,
  httpRequest,
  keepAliveAgent,
  launch,
  machineCpuMark,
  machineLine,
  mainThreadCpuMs,
  median,
  peakRssMb,
  percentile,
  printTable,
  rssMb,
  serveParent,
  startCpuProfile,
} from './lib.mjs';

/** `--instances=8 --changes=4` shrink a run, to check the benchmark itself. */
const flag = (name, fallback) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
/**
 * `--base=PATH` (another core build's dist/index.js) adds a third fleet, `core@base`, on that
 * build: a change to core measured against the code before it in the same run.
 */
const BASE = process.argv.find((a) => a.startsWith('--base='))?.slice('--base='.length);

const settings = {
  instances: flag('instances', 200),
  workers: 4,
  sharedKeys: 10,
  appKeys: 20,
  flags: 5,
  /** Components per instance that read the same flag or service. */
  readers: 2,
  /**
   * The cold table: `--warmup` unmeasured changes right after start-up, then `--changes`
   * measured ones (a quarter of each kind). Cold, the processes are still compiling (V8) the
   * HTTP clients and the change paths, which the npm watch's 5x more requests at start-up had
   * already warmed: this is what a fleet pays in its first minutes.
   */
  warmup: flag('warmup', 4),
  changes: flag('changes', 40),
  /**
   * The warm table, on the same fleets after the cold one: made once at least `--warm-warmup`
   * changes have gone by (the cold ones count), `--warm-changes` measured changes, each after
   * a full GC in every worker, so that a sample does not pay for the garbage of the change
   * before it (which kind of change costs what; most of each change's own GC then falls
   * outside the samples, so its totals are lower than the cold table's).
   */
  warmWarmup: flag('warm-warmup', 40),
  warmChanges: flag('warm-changes', 160),
  /**
   * The blocking wait of every watch in both fleets: Consul's cap, so that no parked query
   * times out and re-parks during a run (a run takes 3-7 minutes). With each client's own
   * default, the npm watch's 30 s had its 8,400 queries re-park at ~280 a second through the
   * whole run, which landed in its samples as extra requests and CPU per change (core's
   * default is Consul's 5 minutes). That idle cost is real but it is not a change's.
   */
  waitMs: 600_000,
  stepTimeoutMs: 30_000,
};

const CONSUL_CLIENT = fileURLToPath(
  new URL('../node_modules/consul/lib/index.js', import.meta.url),
);
const SHARED = 'config/application/';
const APP = 'config/app/';
const FLAGS = 'flags/';
const PAYMENTS = 'payments';

// ================================================================ server child

function serverRole() {
  // One dev-server per setup, so both fleets stay up and their samples can alternate.
  const servers = new Map();
  let cpuMark;
  serveParent({
    async start(name) {
      const { startDevServer } = await import('../packages/dev-server/dist/index.js');
      const server = await startDevServer({ port: 0, host: '127.0.0.1', nodeName: 'bench' });
      servers.set(name, server);
      return { port: server.port, address: server.address };
    },
    stats: (name) => ({ ...servers.get(name).stats, parked: servers.get(name).parkedQueries }),
    whenParked: (name, count, timeoutMs) => servers.get(name).whenParked(count, timeoutMs),
    markCpu() {
      cpuMark = process.cpuUsage();
    },
    cpuSinceMark: () => cpuMs(cpuMark),
    rss: () => rssMb(),
    close: () => Promise.all([...servers.values()].map((server) => server.close())),
  });
}

// ================================================================ worker child

/** What an instance has seen, by id: a config path, a flag key, or `payments`. */
class Seen {
  constructor() {
    this.values = new Map();
  }
}

const CORE = new URL('../packages/core/dist/index.js', import.meta.url).href;
/** The core build a setup runs: `core@base` runs the one given as PATH to the worker. */
const coreUrl = (setup, base) => (setup === 'core@base' ? pathToFileURL(base).href : CORE);

async function coreInstance(address, onUpdate, url) {
  const { createConsulWatch } = await import(url);
  const seen = new Seen();
  const client = createConsulWatch({ address, watch: { waitMs: settings.waitMs } });
  const config = client.liveConfig({ layers: [SHARED, APP] });
  config.on('change', ({ paths }) => {
    for (const path of paths) seen.values.set(path, config.get(path));
    onUpdate();
  });
  config.on('ready', () => {
    for (const path of Object.keys(config.snapshot ?? {})) seen.values.set(path, config.get(path));
    onUpdate();
  });
  const watches = [];
  for (let f = 0; f < settings.flags; f++) {
    const key = `${FLAGS}f${f}`;
    for (let r = 0; r < settings.readers; r++) {
      watches.push(
        client.watch({ type: 'key', key }, (change) => {
          seen.values.set(key, change.entries.get(key)?.value.toString());
          onUpdate();
        }),
      );
    }
  }
  for (let r = 0; r < settings.readers; r++) {
    watches.push(
      client.watch({ type: 'service', service: PAYMENTS, passingOnly: true }, (change) => {
        seen.values.set(PAYMENTS, String(change.current.length));
        onUpdate();
      }),
    );
  }
  return {
    seen,
    ready: () =>
      Promise.all([
        config.ready(settings.stepTimeoutMs),
        ...watches.map((w) => w.ready(settings.stepTimeoutMs)),
      ]),
    close: () => client.close(),
  };
}

async function naiveInstance(address, onUpdate) {
  const Consul = createRequire(import.meta.url)(CONSUL_CLIENT);
  const [host, port] = address.split(':');
  const agent = keepAliveAgent(Number.POSITIVE_INFINITY);
  const consul = new Consul({ host, port: Number(port), agent });
  const seen = new Seen();
  const watches = [];
  let pending = 0;
  let allReady;
  const ready = new Promise((resolve) => {
    allReady = resolve;
  });
  const add = (method, options, record) => {
    pending++;
    let first = true;
    const watch = consul.watch({
      method,
      options: { ...options, wait: `${settings.waitMs / 1000}s` },
      backoffFactor: 100,
      backoffMax: 30_000,
    });
    watch.on('change', (data) => {
      record(data);
      onUpdate();
      if (first) {
        first = false;
        if (--pending === 0) allReady();
      }
    });
    watch.on('error', () => {});
    watches.push(watch);
  };
  const kvValue = (data) => (data?.Value == null ? undefined : String(data.Value));
  for (let i = 0; i < settings.sharedKeys; i++) {
    const path = `s${i}`;
    add(consul.kv.get.bind(consul.kv), { key: `${SHARED}${path}` }, (d) =>
      seen.values.set(path, kvValue(d)),
    );
  }
  for (let i = 0; i < settings.appKeys; i++) {
    const path = `a${i}`;
    add(consul.kv.get.bind(consul.kv), { key: `${APP}${path}` }, (d) =>
      seen.values.set(path, kvValue(d)),
    );
  }
  for (let f = 0; f < settings.flags; f++) {
    const key = `${FLAGS}f${f}`;
    for (let r = 0; r < settings.readers; r++) {
      add(consul.kv.get.bind(consul.kv), { key }, (d) => seen.values.set(key, kvValue(d)));
    }
  }
  for (let r = 0; r < settings.readers; r++) {
    add(consul.health.service.bind(consul.health), { service: PAYMENTS, passing: true }, (d) =>
      seen.values.set(PAYMENTS, String((d ?? []).length)),
    );
  }
  return {
    seen,
    ready: () => ready,
    async close() {
      for (const watch of watches) watch.end();
      agent.destroy();
    },
  };
}

function workerRole(setup, count, address, base) {
  const instances = [];
  const waiters = new Set();
  const onUpdate = () => {
    for (const check of [...waiters]) check();
  };
  let cpuMark;
  let mainMark;
  let baseRss = 0;
  let stopProfile;
  serveParent({
    async start() {
      // Load the client library first, so the baseline holds its code and only instances count.
      if (setup !== 'naive') await import(coreUrl(setup, base));
      else createRequire(import.meta.url)(CONSUL_CLIENT);
      collectGarbage();
      baseRss = rssMb();
      const libraryLoaded = process.cpuUsage();
      const make = setup === 'naive' ? naiveInstance : coreInstance;
      for (let i = 0; i < Number(count); i++)
        instances.push(await make(address, onUpdate, coreUrl(setup, base)));
      await Promise.all(instances.map((instance) => instance.ready()));
      // process.cpuUsage() with no argument counts from the process's start: Node's own
      // start-up and loading the client library are part of what a fleet pays to start.
      const sinceSpawn = process.cpuUsage();
      return {
        instances: instances.length,
        cpuMs: (sinceSpawn.user + sinceSpawn.system) / 1000,
        instancesCpuMs: cpuMs(libraryLoaded),
        peakRssMb: peakRssMb(),
      };
    },
    /** Resolves once every instance has seen `id` = `value`. */
    waitSeen(id, value, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!instances.every((instance) => instance.seen.values.get(id) === value)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const behind = instances.filter(
            (instance) => instance.seen.values.get(id) !== value,
          ).length;
          reject(
            new Error(`${behind} of ${instances.length} instances did not see ${id} = ${value}`),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async markCpu(gcFirst) {
      // With SCALE_PROFILE_DIR set, each worker profiles its changes (not its start-up).
      if (process.env.SCALE_PROFILE_DIR && !stopProfile)
        stopProfile = await startCpuProfile(process.env.SCALE_PROFILE_DIR, setup);
      if (gcFirst) collectGarbage();
      cpuMark = process.cpuUsage();
      mainMark = mainThreadCpuMs();
    },
    /** CPU since the mark, ms, and how much of it the main thread used (where Linux tells). */
    cpuSinceMark() {
      const main = mainThreadCpuMs();
      return {
        ms: cpuMs(cpuMark),
        mainMs: main !== undefined && mainMark !== undefined ? main - mainMark : Number.NaN,
      };
    },
    /** RSS now, and what the instances added to the process (after a GC each time). */
    rss() {
      collectGarbage();
      const now = rssMb();
      return { now, added: now - baseRss };
    },
    async close() {
      await stopProfile?.();
      await Promise.all(instances.map((instance) => instance.close()));
    },
  });
}

// ================================================================ orchestration

const self = fileURLToPath(import.meta.url);

/** The changes, in order: a shared config key, an app key, a flag, a payments flip. */
function changeList(total) {
  const list = [];
  for (let i = 0; i < total; i++) {
    const value = `v${i}`;
    switch (i % 4) {
      case 0: {
        const path = `s${i % settings.sharedKeys}`;
        list.push({ kind: 'shared config key', key: `${SHARED}${path}`, id: path, value });
        break;
      }
      case 1: {
        const path = `a${i % settings.appKeys}`;
        list.push({ kind: 'app config key', key: `${APP}${path}`, id: path, value });
        break;
      }
      case 2: {
        const key = `${FLAGS}f${i % settings.flags}`;
        list.push({ kind: 'feature flag', key, id: key, value });
        break;
      }
      default: {
        // Passing and critical in turn: payments' healthy count flips 1 ↔ 0.
        const passing = Math.floor(i / 4) % 2 === 1;
        list.push({
          kind: 'payments health',
          check: passing ? 'pass' : 'fail',
          id: PAYMENTS,
          value: passing ? '1' : '0',
        });
      }
    }
  }
  return list;
}

async function seed(port, agent) {
  const put = (path, body) => httpRequest({ agent, port, method: 'PUT', path, body });
  for (let i = 0; i < settings.sharedKeys; i++) await put(`/v1/kv/${SHARED}s${i}`, 'init');
  for (let i = 0; i < settings.appKeys; i++) await put(`/v1/kv/${APP}a${i}`, 'init');
  for (let f = 0; f < settings.flags; f++) await put(`/v1/kv/${FLAGS}f${f}`, 'init');
  await put(
    '/v1/agent/service/register',
    JSON.stringify({ Name: PAYMENTS, ID: 'payments-1', Check: { TTL: '1h', Status: 'passing' } }),
  );
}

/**
 * Starts a setup's fleet on its own dev-server, measuring its start-up (from spawning the
 * workers until every instance has its first config), and waits until every watch is parked.
 */
async function startFleet(setup, server) {
  const { port, address } = await server.call('start', setup);
  const agent = keepAliveAgent(1);
  await seed(port, agent);
  const perWorker = Math.ceil(settings.instances / settings.workers);
  const before = await server.call('stats', setup);
  await server.call('markCpu');
  const started = performance.now();
  const workers = [];
  for (let w = 0; w < settings.workers; w++) {
    const count = Math.min(perWorker, settings.instances - w * perWorker);
    if (count > 0)
      workers.push(launch(self, ['worker', setup, String(count), address, BASE ?? '']));
  }
  const starts = await Promise.all(workers.map((worker) => worker.call('start')));
  const startMs = performance.now() - started;
  const atReady = await server.call('stats', setup);
  const serverStartCpu = await server.call('cpuSinceMark');
  // Every watch parked again after its first answer: the fleet at rest.
  const perInstance =
    setup !== 'naive'
      ? 2 + settings.flags + 1
      : settings.sharedKeys + settings.appKeys + (settings.flags + 1) * settings.readers;
  await server.call('whenParked', setup, settings.instances * perInstance, settings.stepTimeoutMs);
  const atRest = await server.call('stats', setup);
  const rss = await Promise.all(workers.map((worker) => worker.call('rss')));
  const sum = (values) => values.reduce((a, b) => a + b, 0);
  return {
    setup,
    port,
    agent,
    workers,
    startup: {
      ms: startMs,
      cpuMs: sum(starts.map((s) => s.cpuMs)),
      instancesCpuMs: sum(starts.map((s) => s.instancesCpuMs)),
      requests: atReady.requests - before.requests,
      requestsToRest: atRest.requests - before.requests,
      peakRssMb: sum(starts.map((s) => s.peakRssMb)),
      serverCpuMs: serverStartCpu,
    },
    parked: atRest.parked,
    // Less the benchmark's own connection for writes.
    connections: atRest.connections - 1,
    rssMb: sum(rss.map((r) => r.now)),
    addedMb: sum(rss.map((r) => r.added)),
    samples: { cold: [], warm: [] },
  };
}

/** One change to one fleet: write, wait until every instance saw it and every watch re-parked. */
async function sample(fleet, server, change, gcFirst) {
  const { setup, port, agent, workers } = fleet;
  await server.call('whenParked', setup, fleet.parked, settings.stepTimeoutMs);
  const before = await server.call('stats', setup);
  await Promise.all(workers.map((worker) => worker.call('markCpu', gcFirst)));
  await server.call('markCpu');
  const t0 = performance.now();
  if (change.key)
    await httpRequest({
      agent,
      port,
      method: 'PUT',
      path: `/v1/kv/${change.key}`,
      body: change.value,
    });
  else
    await httpRequest({
      agent,
      port,
      method: 'PUT',
      path: `/v1/agent/check/${change.check}/service:payments-1`,
    });
  await Promise.all(
    workers.map((worker) =>
      worker.call('waitSeen', change.id, change.value, settings.stepTimeoutMs),
    ),
  );
  const ms = performance.now() - t0;
  await server.call('whenParked', setup, fleet.parked, settings.stepTimeoutMs);
  const serverCpu = await server.call('cpuSinceMark');
  const after = await server.call('stats', setup);
  const workerCpus = await Promise.all(workers.map((worker) => worker.call('cpuSinceMark')));
  const workerCpu = workerCpus.reduce((a, b) => a + b.ms, 0);
  const workerMainCpu = workerCpus.reduce((a, b) => a + b.mainMs, 0);
  // The change's own write is not a watch request.
  return {
    kind: change.kind,
    ms,
    requests: after.requests - before.requests - 1,
    serverCpu,
    workerCpu,
    workerMainCpu,
  };
}

async function stopFleet(fleet) {
  await Promise.all(fleet.workers.map((worker) => worker.call('close').catch(() => {})));
  await Promise.all(fleet.workers.map((worker) => worker.stop()));
  fleet.agent.destroy();
}

/**
 * Makes `changes` to every fleet, each change to each fleet in turn (which goes first rotates,
 * so a burst of other load on the machine hits all alike); the last `measured` are samples.
 */
async function runChanges(results, server, changes, measured, phase, gcFirst) {
  const firstMeasured = changes.length - measured;
  for (const [i, change] of changes.entries()) {
    const order = results.slice(i % results.length).concat(results.slice(0, i % results.length));
    for (const fleet of order) {
      const s = await sample(fleet, server, change, gcFirst);
      if (i >= firstMeasured) fleet.samples[phase].push(s);
    }
  }
}

const CONFIG_KINDS = ['shared config key', 'app config key'];
const sumOf = (values) => values.reduce((a, b) => a + b, 0);
const mean = (values) => sumOf(values) / values.length;
const ofKinds = (samples, kinds) => samples.filter((s) => kinds.includes(s.kind));
/** The mean of one field over a fleet's samples of a phase: `meanOf(r, 'warm', 'serverCpu')`. */
const meanOf = (r, phase, field) => mean(r.samples[phase].map((x) => x[field]));

function printChanges(results, phase, heading) {
  const n = settings.instances;
  const kinds = [...new Set(results[0].samples[phase].map((s) => s.kind))];
  const rows = [];
  for (const kind of kinds) {
    for (const r of results) {
      const s = ofKinds(r.samples[phase], [kind]);
      rows.push([
        kind,
        r.setup,
        String(s.length),
        fmt(median(s.map((x) => x.requests)), 0),
        fmt(median(s.map((x) => x.requests)) / n, 2),
        fmt(median(s.map((x) => x.ms)), 1),
        fmt(
          percentile(
            s.map((x) => x.ms),
            99,
          ),
          1,
        ),
        fmt(median(s.map((x) => x.serverCpu)), 1),
        fmt(median(s.map((x) => x.workerCpu)), 1),
        fmt(median(s.map((x) => x.workerMainCpu)), 1),
      ]);
    }
  }
  printTable(
    `${heading}: per change (median over the samples; requests are those the server received, re-parks included)`,
    [
      'change',
      'setup',
      'samples',
      'requests',
      'per instance',
      'all seen p50 ms',
      'p99 ms',
      'server CPU ms',
      'instances CPU ms',
      'of which main threads',
    ],
    rows,
  );
  printTable(
    `${heading}: all changes together (mean per change)`,
    ['setup', 'requests', 'per instance', 'server CPU ms', 'instances CPU ms'],
    results.map((r) => [
      r.setup,
      fmt(meanOf(r, phase, 'requests'), 0),
      fmt(meanOf(r, phase, 'requests') / n, 2),
      fmt(meanOf(r, phase, 'serverCpu'), 1),
      fmt(meanOf(r, phase, 'workerCpu'), 1),
    ]),
  );
}

/** The ratios the targets are stated in (bench/README.md, scale), each fleet against naive. */
function printRatios(results) {
  const naive = results.find((r) => r.setup === 'naive');
  const others = results.filter((r) => r !== naive);
  const configMedian = (r, field) =>
    median(ofKinds(r.samples.warm, CONFIG_KINDS).map((x) => x[field]));
  const figures = [
    ['warm config key, instances CPU (median)', '≤ 1.00', (r) => configMedian(r, 'workerCpu')],
    ['warm config key, all seen p50', '≤ 1.00', (r) => configMedian(r, 'ms')],
    ['cold, all changes, instances CPU (mean)', '≤ 1.00', (r) => meanOf(r, 'cold', 'workerCpu')],
    ['warm, all changes, instances CPU (mean)', '≤ 1.00', (r) => meanOf(r, 'warm', 'workerCpu')],
    ['start-up, workers CPU from spawn', '≤ 0.60', (r) => r.startup.cpuMs],
    ['cold, server CPU per change (mean)', '≤ 1.00', (r) => meanOf(r, 'cold', 'serverCpu')],
    ['warm, server CPU per change (mean)', '≤ 1.00', (r) => meanOf(r, 'warm', 'serverCpu')],
    ['start-up, server CPU', '', (r) => r.startup.serverCpuMs],
  ];
  printTable(
    'Against naive (ratio of the figures above)',
    ['figure', 'target', ...others.map((r) => r.setup)],
    figures.map(([name, target, f]) => [
      name,
      target,
      ...others.map((r) => `${fmt(f(r) / f(naive), 2)}×`),
    ]),
  );
}

async function main() {
  console.log(
    `# scale: ${settings.instances} application instances in ${settings.workers} processes\n`,
  );
  console.log(machineLine());
  const machineMark = machineCpuMark();
  const runStarted = performance.now();
  const server = launch(self, ['server']);
  const results = [];
  try {
    // Every fleet stays up: its start-up is measured alone, its changes in turn with the others'.
    for (const setup of BASE ? ['core', 'core@base', 'naive'] : ['core', 'naive'])
      results.push(await startFleet(setup, server));
    // One list of changes for the whole run, so every value written is new.
    const cold = settings.warmup + settings.changes;
    const warmUnmeasured = Math.max(0, settings.warmWarmup - cold);
    const changes = changeList(cold + warmUnmeasured + settings.warmChanges);
    await runChanges(results, server, changes.slice(0, cold), settings.changes, 'cold', false);
    await runChanges(results, server, changes.slice(cold), settings.warmChanges, 'warm', true);

    const n = settings.instances;
    printTable(
      `At rest: ${n} instances, each with a 2-layer config (${settings.sharedKeys} + ${settings.appKeys} keys), ${settings.flags} flags × ${settings.readers} readers, payments × ${settings.readers} readers`,
      [
        'setup',
        'parked queries',
        'per instance',
        'connections to the server',
        'per instance',
        'workers RSS MB',
        'KB per instance',
      ],
      results.map((r) => [
        r.setup,
        fmt(r.parked),
        fmt(r.parked / n, 1),
        fmt(r.connections),
        fmt(r.connections / n, 1),
        fmt(r.rssMb, 1),
        fmt((r.addedMb * 1024) / n, 0),
      ]),
    );
    printTable(
      `Start-up: from spawning ${settings.workers} workers until every instance has its first config`,
      [
        'setup',
        'ms',
        'workers CPU ms',
        'of which instances',
        'requests',
        'per instance',
        'until all parked',
        'workers peak RSS MB',
        'server CPU ms',
      ],
      results.map(({ setup, startup: s }) => [
        setup,
        fmt(s.ms),
        fmt(s.cpuMs),
        fmt(s.instancesCpuMs),
        fmt(s.requests),
        fmt(s.requests / n, 1),
        fmt(s.requestsToRest),
        fmt(s.peakRssMb, 1),
        fmt(s.serverCpuMs),
      ]),
    );
    printChanges(
      results,
      'cold',
      `Cold (${settings.warmup} changes after start-up, then ${settings.changes})`,
    );
    printChanges(
      results,
      'warm',
      `Warm (${cold + warmUnmeasured} changes before, then ${settings.warmChanges}, a full GC in every worker before each)`,
    );
    printTable(
      "The server: the dev-server process's own CPU (process.cpuUsage over IPC)",
      [
        'setup',
        'parked queries',
        'per instance',
        'start-up CPU ms',
        'per change cold ms',
        'per change warm ms',
      ],
      results.map((r) => [
        r.setup,
        fmt(r.parked),
        fmt(r.parked / n, 1),
        fmt(r.startup.serverCpuMs),
        fmt(meanOf(r, 'cold', 'serverCpu'), 1),
        fmt(meanOf(r, 'warm', 'serverCpu'), 1),
      ]),
    );
    printRatios(results);
    console.log(
      `\nRun took ${fmt((performance.now() - runStarted) / 1000)} s; the machine kept ${fmt(busyCores(machineMark), 2)} of ${cpus().length} cores busy meanwhile, all processes together.`,
    );
  } finally {
    for (const fleet of results) await stopFleet(fleet);
    await server.call('close').catch(() => {});
    await server.stop();
  }
}

const [role, ...rest] = process.argv.slice(2);
if (role === 'server') serverRole();
else if (role === 'worker') workerRole(...rest);
else await main();
