// The watch engine of @consul-watch/core under load and across outages, each figure next to
// the npm `consul` client's own `watch()` measured in the same run. Six parts:
//   1. PUT → handler latency of a `key` watch, bursts of 5 changes 100 ms apart
//   2. the same, one change every 15 ms
//   3. a 200-key `keyprefix` watch, one key changing, both cadences (the peer diffs the
//      whole answer against the last one in its handler, as the program core grew from did)
//   4. a hot key written every millisecond for 5 s: requests per second the watch sends and
//      how long after the last write the handler has the last value
//   5. recovery: the dev-server process dies and comes back on the same port after 2 s, 5 s
//      and 30 s; time from its listen to the handler having the value written at once
//   6. knocking: 50 watches while "Consul" accepts every connection and drops it at once
//      for 15 s; connections per second it receives
//
// It runs against any build of core: engine options are left at the build's defaults (or
// given with --core-options) and the rows name the engine the build has (detected, or
// --label / ENGINE_LABEL). `recovered` events and `watch.status` are used only if present.
//
// Roles: `node engine.bench.mjs [options]` measures and holds the watches; it forks
// `engine.bench.mjs child` for the dev-server (one core of its own), for the hot-key writer
// and for the "away" server. `--help` lists the options.

import { connect, createServer as createNetServer } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  busyCores,
  cpuMs,
  fmt,
  httpRequest,
  keepAliveAgent,
  launch,
  machineCpuMark,
  machineLine,
  median,
  percentile,
  printTable,
  profiled,
  putKv,
  serveParent,
} from './lib.mjs';

const self = fileURLToPath(import.meta.url);
const CORE_URL = '../packages/core/dist/index.js';
const DEV_SERVER_URL = '../packages/dev-server/dist/index.js';

/** Wall-clock ms with sub-ms precision, comparable across this machine's processes. */
const epochNow = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A JSON setting of `length` bytes that differs with `rev`. */
function settingValue(id, rev, length = 50) {
  const head = `{"id":"${id}","rev":${rev},"d":"`;
  return `${head}${'x'.repeat(Math.max(0, length - head.length - 2))}"}`;
}

/**
 * One raw TCP connection to 127.0.0.1:`port`, for the floor: `http(text)` writes a request and
 * resolves when the whole answer (by Content-Length) is in, with the moment it was; `echo()`
 * writes one byte and resolves when the first byte comes back. One exchange at a time; no
 * parsing beyond the head, so nothing of a client library is in the time.
 */
function rawConnection(port) {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  let waiting; // { resolve, reject, echo }
  let pending = null;
  const failed = (error) => {
    const w = waiting;
    waiting = undefined;
    w?.reject(error);
  };
  socket.on('error', failed);
  socket.on('close', () => failed(new Error('raw connection closed')));
  socket.on('data', (chunk) => {
    const at = performance.now();
    if (!waiting) return;
    if (waiting.echo) {
      const w = waiting;
      waiting = undefined;
      w.resolve(at);
      return;
    }
    pending = pending ? Buffer.concat([pending, chunk]) : chunk;
    const headEnd = pending.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = pending.toString('latin1', 0, headEnd);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? Number.NaN);
    if (!Number.isFinite(length)) {
      failed(new Error(`answer without Content-Length: ${head.split('\r\n')[0]}`));
      return;
    }
    if (pending.length < headEnd + 4 + length) return;
    pending = null;
    const w = waiting;
    waiting = undefined;
    w.resolve({
      at,
      status: Number(head.slice(9, 12)),
      index: /\r\nx-consul-index: *(\d+)/i.exec(head)?.[1],
    });
  });
  const connected = new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const exchange = (bytes, echo) =>
    new Promise((resolve, reject) => {
      if (waiting) throw new Error('raw connection: one exchange at a time');
      waiting = { resolve, reject, echo };
      socket.write(bytes);
    });
  return {
    connected,
    http: (path) => exchange(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, false),
    echo: () => exchange('.', true),
    close: () => socket.destroy(),
  };
}

// ================================================================ child role

/**
 * One child process does one job at a time, over IPC: the dev-server (`start`), the server
 * that drops every connection (`away`), or the paced hot-key writer (`hot`). It exits when
 * the parent disconnects (which is how a dev-server "dies" in part 5) or goes away.
 */
function childRole() {
  let dev;
  let away;
  let echo;
  let cpuMark;
  let devModule;
  const loadDev = async () => {
    devModule ??= await import(DEV_SERVER_URL);
    return devModule;
  };
  serveParent({
    async prepare() {
      await loadDev();
      return process.pid;
    },
    /** Starts the dev-server; `snapshot` restores a dead one's state; `put` is written at once. */
    async start({ port = 0, snapshot, put } = {}) {
      const { startDevServer } = await loadDev();
      dev = await startDevServer({ port, host: '127.0.0.1', nodeName: 'bench' });
      // Listening now; restore() is synchronous and runs before any connection is served.
      const listenAt = epochNow();
      if (snapshot) dev.restore(snapshot);
      let putAt;
      if (put) {
        const res = await httpRequest({
          agent: false,
          port: dev.port,
          method: 'PUT',
          path: `/v1/kv/${put.key}`,
          body: put.value,
        });
        if (res.status !== 200) throw new Error(`PUT ${put.key} after restart: ${res.status}`);
        putAt = epochNow();
      }
      return { port: dev.port, listenAt, putAt };
    },
    whenParked: (count, timeoutMs) => dev.whenParked(count, timeoutMs),
    stats: () => ({ ...dev.stats, parked: dev.parkedQueries }),
    snapshot: () => dev.snapshot(),
    markCpu() {
      cpuMark = process.cpuUsage();
    },
    cpuSinceMark: () => cpuMs(cpuMark),
    async close() {
      await dev?.close();
      dev = undefined;
      if (echo?.listening) await new Promise((resolve) => echo.close(resolve));
    },
    /** A TCP server that sends back every byte it gets: one loopback round trip, for the floor. */
    async echo() {
      echo ??= createNetServer((socket) => {
        socket.setNoDelay(true);
        socket.on('error', () => {});
        socket.on('data', (chunk) => socket.write(chunk));
      });
      if (!echo.listening)
        await new Promise((resolve, reject) => {
          echo.once('error', reject);
          echo.listen({ port: 0, host: '127.0.0.1' }, resolve);
        });
      return echo.address().port;
    },
    /** A "Consul" that accepts every connection and destroys it at once, counting accepts. */
    async away({ port }) {
      const accepts = [];
      const server = createNetServer((socket) => {
        accepts.push(epochNow());
        socket.on('error', () => {});
        socket.destroy();
      });
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host: '127.0.0.1', backlog: 4096 }, resolve);
      });
      away = { server, accepts, listenAt: epochNow() };
      return { listenAt: away.listenAt };
    },
    async awayStop() {
      const { server, accepts, listenAt } = away;
      away = undefined;
      await new Promise((resolve) => server.close(resolve));
      return { listenAt, stoppedAt: epochNow(), accepts };
    },
    /**
     * PUTs of one key paced at one per `periodMs` (a late one goes at once, so the average
     * holds), one in flight on one keep-alive connection, bounded in count and time.
     */
    async hot({ port, key, durationMs, periodMs, maxPuts, tag }) {
      const agent = keepAliveAgent(1);
      let sent = 0;
      let ok = 0;
      let errors = 0;
      let firstError;
      let last;
      const start = performance.now();
      try {
        while (sent < maxPuts && performance.now() - start < durationMs) {
          const wait = start + sent * periodMs - performance.now();
          if (wait >= 1) await sleep(Math.floor(wait));
          const body = settingValue(tag, sent);
          const sentAt = epochNow();
          sent++;
          try {
            await putKv({ agent, port, key, body, timeoutMs: 5_000 });
            ok++;
            last = { body, sentAt, ackAt: epochNow() };
          } catch (error) {
            errors++;
            firstError ??= error.message;
          }
        }
      } finally {
        agent.destroy();
      }
      return { sent, ok, errors, firstError, last, elapsedMs: performance.now() - start };
    },
  });
}

// ================================================================ options

const HELP = `node bench/engine.bench.mjs [options]      (or: node bench/run.mjs engine)

  --parts=1,2,3,4,5,6     which parts to run (default all)
  --core=PATH             core build to measure (its dist/index.js); default
                          packages/core/dist/index.js of this checkout
  --label=TEXT            names core's engine in the rows (env ENGINE_LABEL; default: detected)
  --core-options=JSON     engine defaults for core's clients, e.g. '{"minIntervalMs":0}' or
                          '{"maxRequestsPerSecond":100,"burst":10}' (default: the build's own)
  --outages=2:3,5:3,30:2  part 5: outage seconds:repetitions
  --knock-rounds=2        part 6: rounds per peer (15 s each)
  --rounds=4              parts 1-3: interleaved rounds per peer (more rounds, tighter p50s)
  --profile=DIR           parts 1-3: a CPU profile (100 µs sampling) of this process for each
                          peer's round, written to DIR/part<n>-<peer>-<cadence>-r<round>-<pid>.cpuprofile
                          (the profiler costs time: take latency figures from a run without it)
  --quick                 few samples and short outages, to check the benchmark itself
  --help`;

function readOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      parts: { type: 'string' },
      core: { type: 'string' },
      label: { type: 'string' },
      'core-options': { type: 'string' },
      outages: { type: 'string' },
      'knock-rounds': { type: 'string' },
      rounds: { type: 'string' },
      profile: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const quick = values.quick;
  const parts = new Set(
    (values.parts ?? '1,2,3,4,5,6').split(',').map((p) => Number.parseInt(p.trim(), 10)),
  );
  let coreOptions = {};
  if (values['core-options']) {
    coreOptions = JSON.parse(values['core-options']);
    if (coreOptions === null || typeof coreOptions !== 'object')
      throw new Error('--core-options must be a JSON object');
  }
  const outages = (values.outages ?? (quick ? '2:1,5:1' : '2:3,5:3,30:2')).split(',').map((o) => {
    const [seconds, reps = '1'] = o.split(':');
    const s = Number(seconds);
    const r = Number.parseInt(reps, 10);
    if (!(s > 0 && s <= 120) || !(r >= 1 && r <= 10)) throw new Error(`bad --outages entry ${o}`);
    return { seconds: s, reps: r };
  });
  const knockRounds = Number.parseInt(values['knock-rounds'] ?? (quick ? '1' : '2'), 10);
  if (!(knockRounds >= 1 && knockRounds <= 5)) throw new Error('--knock-rounds must be 1..5');
  const rounds = Number.parseInt(values.rounds ?? (quick ? '2' : '4'), 10);
  if (!(rounds >= 1 && rounds <= 40)) throw new Error('--rounds must be 1..40');
  return {
    parts,
    coreUrl: values.core ? pathToFileURL(resolve(values.core)).href : CORE_URL,
    // biome-ignore lint/suspicious/noUndeclaredEnvVars: read by this benchmark, never by a turbo task
    label: values.label ?? process.env.ENGINE_LABEL ?? undefined,
    coreOptions,
    profileDir: values.profile ? resolve(values.profile) : undefined,
    settings: {
      burst: quick
        ? { rounds, groups: 3, warmup: 1, size: 5, gapMs: 100 }
        : { rounds, groups: 12, warmup: 1, size: 5, gapMs: 100 }, // 60 samples per peer and round
      spaced: quick
        ? { rounds, groups: 10, warmup: 2, size: 1, gapMs: 15 }
        : { rounds, groups: 55, warmup: 5, size: 1, gapMs: 15 }, // 55 samples per peer and round
      prefix: { keys: 200, valueBytes: 50 },
      hot: {
        rounds: quick ? 1 : 2,
        durationMs: quick ? 1_000 : 5_000,
        periodMs: 1,
        finalTimeoutMs: 10_000,
      },
      recovery: { outages, timeoutMs: 45_000, budgetMs: quick ? 60_000 : 330_000 },
      knock: { watches: 50, awayMs: quick ? 5_000 : 15_000, rounds: knockRounds, lastMs: 5_000 },
      stepTimeoutMs: 10_000,
      totalTimeoutMs: 13 * 60_000,
    },
  };
}

// ================================================================ engine detection

/**
 * What engine the build has. An option the build knows is accepted with a sane value and
 * refused (InvalidInputError) with a nonsense one; an option it does not know is either
 * accepted both ways (ignored) or refused both ways (strict). Today's build ignores unknown
 * engine options, so "does maxRequestsPerSecond throw" alone cannot tell.
 */
function detectEngine(core) {
  const accepts = (options) => {
    try {
      const client = core.createConsulWatch({ address: '127.0.0.1:9', watch: options });
      client.close().catch(() => {});
      return true;
    } catch {
      return false;
    }
  };
  const probe = (name, good, bad) => {
    const g = accepts({ [name]: good });
    const b = accepts({ [name]: bad });
    return g && !b ? 'known' : g && b ? 'ignored' : 'refused';
  };
  const found = {
    minIntervalMs: probe('minIntervalMs', 10, -1),
    maxRequestsPerSecond: probe('maxRequestsPerSecond', 100, -1),
    burst: probe('burst', 10, -1),
  };
  const defaults = core.DEFAULT_ENGINE ?? {};
  let short;
  if (found.maxRequestsPerSecond === 'known')
    short = `bucket ${defaults.maxRequestsPerSecond ?? '?'}/s, burst ${defaults.burst ?? '?'}`;
  else if (found.minIntervalMs === 'known')
    short = `minIntervalMs ${defaults.minIntervalMs ?? '?'}`;
  else short = 'engine unknown';
  return { found, defaults, short };
}

// ================================================================ measuring process

async function main() {
  const {
    parts,
    coreUrl,
    label,
    coreOptions,
    profileDir,
    settings: S,
  } = readOptions(process.argv.slice(2));
  const startedAt = performance.now();
  const children = new Set();
  const guard = setTimeout(async () => {
    console.error(`engine bench: still running after ${S.totalTimeoutMs / 60_000} min, stopping`);
    await Promise.allSettled([...children].map((c) => c.stop()));
    process.exit(1);
  }, S.totalTimeoutMs);
  guard.unref();

  console.log(machineLine());
  const core = await import(new URL(coreUrl, import.meta.url).href);
  const { default: Consul } = await import('consul');
  const engine = detectEngine(core);
  const optionsText = Object.keys(coreOptions).length ? `, ${JSON.stringify(coreOptions)}` : '';
  const coreName = `core (${label ?? engine.short}${optionsText})`;
  const NPM = 'npm consul watch';
  console.log(
    `core: ${fileURLToPath(new URL(coreUrl, import.meta.url))}\ncore engine: ${label ? `labelled "${label}"; ` : ''}detected ${engine.short} — options minIntervalMs ${engine.found.minIntervalMs}, maxRequestsPerSecond ${engine.found.maxRequestsPerSecond}, burst ${engine.found.burst}; DEFAULT_ENGINE ${JSON.stringify(engine.defaults)}; engine options passed: ${optionsText ? JSON.stringify(coreOptions) : 'none (build defaults)'}.`,
  );
  console.log(
    `Rows named "${coreName}" are core with those settings; "${NPM}" is consul@2.0.1's watch({ method: kv.get, options: { wait: '5m' } }) with its default back-off (100 ms · 2^attempt, at most 30 s).`,
  );

  const newCoreClient = (address) =>
    core.createConsulWatch({
      address,
      ...(Object.keys(coreOptions).length ? { watch: coreOptions } : {}),
    });

  // ------------------------------------------------------------ child processes

  function child() {
    const c = launch(self, ['child'], { callTimeoutMs: 90_000 });
    const handle = {
      pid: c.pid,
      call: (...args) => c.call(...args),
      async stop() {
        children.delete(handle);
        await c.stop();
      },
    };
    children.add(handle);
    return handle;
  }

  /** A dev-server child on `port` (0: any). A fixed port is taken outside the ephemeral range. */
  async function devServer(port = 0) {
    const c = child();
    try {
      const info = await c.call('start', { port });
      return { child: c, port: info.port, address: `127.0.0.1:${info.port}` };
    } catch (error) {
      await c.stop();
      throw error;
    }
  }

  /**
   * Parts 5 and 6 restart the server on the same port. Below the ephemeral range
   * (32768–60999 here), no outgoing connection can take the port while it is free, and a
   * connect to a free ephemeral port can never meet itself (TCP self-connect).
   */
  async function devServerOnFixedPort() {
    let lastError;
    for (let i = 0; i < 20; i++) {
      const port = 20_000 + Math.floor(Math.random() * 10_000);
      try {
        return await devServer(port);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  async function untilDrained(server, count = 0, timeoutMs = 5_000) {
    const deadline = performance.now() + timeoutMs;
    while ((await server.child.call('stats')).parked > count) {
      if (performance.now() > deadline) return false;
      await sleep(5);
    }
    return true;
  }

  /** Ends a part: the putter, both peers' clients and the dev-server child. */
  async function teardown(server, closePutter, client, consul) {
    closePutter();
    await client.close().catch(() => {});
    consul.destroy?.();
    await server.child.call('close').catch(() => {});
    await server.child.stop();
  }

  function putter(port) {
    const agent = keepAliveAgent(1);
    const put = (key, body) => putKv({ agent, port, key, body, timeoutMs: S.stepTimeoutMs });
    return { put, close: () => agent.destroy() };
  }

  /** CPU of this process, the server and everyone else while `fn` ran. */
  async function withNoise(server, fn) {
    await server.child.call('markCpu');
    const machine = machineCpuMark();
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const result = await fn();
    const elapsed = performance.now() - t0;
    const mine = cpuMs(cpu) / elapsed;
    const theirs = (await server.child.call('cpuSinceMark')) / elapsed;
    const others = Math.max(0, busyCores(machine) - mine - theirs);
    return {
      result,
      noise: `measuring process ${fmt(100 * mine)} % of a core, server ${fmt(100 * theirs)} %, other processes on the machine ${fmt(100 * others)} % (over ${fmt(elapsed / 1000, 1)} s)`,
    };
  }

  // ------------------------------------------------------------ watch peers

  const text = (v) =>
    v === undefined || v === null ? undefined : Buffer.isBuffer(v) ? v.toString() : String(v);
  /** A core change as [{ key, value }] (`op` today; `type` accepted too). */
  const coreChanges = (change) =>
    (change?.changes ?? []).map((c) => ({
      key: c.key,
      value: text(c.entry?.value ?? c.value),
      kind: c.op ?? c.type,
    }));
  const coreValueOf = (change, key) =>
    coreChanges(change).find((c) => c.key === key)?.value ??
    text(change?.entries?.get?.(key)?.value);

  /** Listens to an optional core event; false when the build does not have it. */
  const tryOn = (watch, event, listener) => {
    try {
      watch.on(event, listener);
      return true;
    } catch {
      return false;
    }
  };
  const statusOf = (watch) => {
    try {
      const s = watch.status;
      return s && typeof s === 'object' && 'state' in s ? String(s.state) : undefined;
    } catch {
      return undefined;
    }
  };

  /** The lastValues diff of the program core grew from: key → { ModifyIndex, Value }. */
  function lastValuesDiff(last, data) {
    const changes = [];
    const seen = new Set();
    for (const e of Array.isArray(data) ? data : []) {
      seen.add(e.Key);
      const before = last.get(e.Key);
      if (!before || before.index !== e.ModifyIndex || before.value !== e.Value) {
        changes.push({ key: e.Key, value: e.Value, kind: 'set' });
        last.set(e.Key, { index: e.ModifyIndex, value: e.Value });
      }
    }
    for (const key of [...last.keys()]) {
      if (!seen.has(key)) {
        changes.push({ key, value: undefined, kind: 'delete' });
        last.delete(key);
      }
    }
    return changes;
  }

  /**
   * A peer starts a watch of `spec` and calls `onChange(at, changes)` with the handler's
   * clock reading and a function that lists the change as [{ key, value }] (called after
   * the clock stopped). The first state is not a change.
   */
  const corePeer = (client) => ({
    name: coreName,
    async start(spec, onChange) {
      const w = client.watch({ ...spec, initial: false }, (change) =>
        onChange(performance.now(), () => coreChanges(change)),
      );
      let errors = 0;
      w.on('error', () => errors++);
      try {
        await w.ready(S.stepTimeoutMs);
      } catch (error) {
        await w.stop();
        throw error;
      }
      return { stop: () => w.stop(), errors: () => errors };
    },
  });

  const npmPeer = (consul) => ({
    name: NPM,
    async start(spec, onChange) {
      const prefix = spec.type === 'keyprefix';
      const w = consul.watch({
        method: consul.kv.get,
        options: prefix
          ? { key: spec.prefix, recurse: true, wait: '5m' }
          : { key: spec.key, wait: '5m' },
      });
      let errors = 0;
      w.on('error', () => errors++);
      const last = new Map();
      try {
        const first = await withTimeout(
          new Promise((resolve) => w.once('change', resolve)),
          S.stepTimeoutMs,
          'npm watch start',
        );
        if (prefix) lastValuesDiff(last, first);
      } catch (error) {
        w.end();
        throw error;
      }
      if (prefix) {
        // The handler is called after the diff, with what changed.
        const handler = (changes) => onChange(performance.now(), () => changes);
        w.on('change', (data) => {
          const changes = lastValuesDiff(last, data);
          if (changes.length > 0) handler(changes);
        });
      } else {
        w.on('change', (data) =>
          onChange(performance.now(), () => (data ? [{ key: data.Key, value: data.Value }] : [])),
        );
      }
      return { stop: async () => w.end(), errors: () => errors };
    },
  });

  // ------------------------------------------------------------ parts 1–3: latency

  /**
   * `groups` groups of `size` changes (after `warmup` unmeasured groups); a group starts
   * `gapMs` after the handler saw the last change of the one before, and inside a group
   * each PUT goes out as soon as the handler has seen the one before (and its PUT was
   * answered, so it never queues behind it on the one connection). Clock: from just before
   * the PUT is written to the handler call; the handler must carry that PUT's key and value.
   */
  async function latencyRun(server, put, peer, spec, nextChange, plan) {
    let expect;
    let stray = 0;
    const onChange = (at, list) => {
      if (expect) {
        const e = expect;
        if (list().some((c) => c.key === e.key && c.value === e.body)) {
          expect = undefined;
          e.resolve(at);
          return;
        }
      }
      stray++;
    };
    const running = await peer.start(spec, onChange);
    const times = [];
    const byPosition = Array.from({ length: plan.size }, () => []);
    let seenAt = performance.now();
    try {
      for (let g = 0; g < plan.warmup + plan.groups; g++) {
        await sleep(seenAt + plan.gapMs - performance.now());
        for (let j = 0; j < plan.size; j++) {
          const { key, body } = nextChange();
          const delivered = new Promise((resolve) => {
            expect = { key, body, resolve };
          });
          const t0 = performance.now();
          const written = put(key, body);
          written.catch(() => {});
          const at = await withTimeout(
            delivered,
            S.stepTimeoutMs,
            `${peer.name}: change ${j + 1} of group ${g + 1}`,
          );
          await written;
          seenAt = at;
          if (g >= plan.warmup) {
            times.push(at - t0);
            byPosition[j].push(at - t0);
          }
        }
      }
    } finally {
      expect = undefined;
      await running.stop();
      await untilDrained(server);
    }
    return { times, byPosition, stray, errors: running.errors() };
  }

  /** A profile file's name for a row: its peer and cadence. */
  const profileTag = (row) =>
    `${row.name === coreName ? 'core' : row.name === FLOOR_WAKE ? 'floorwake' : row.name === FLOOR_RTT ? 'floorrtt' : 'npm'}-${row.cadence.startsWith('bursts') ? 'burst' : 'spaced'}`;

  /** Interleaved rounds A B A B …; a failed round is counted and shown, not fatal. */
  async function latencyRounds(part, server, rows, rounds) {
    for (const row of rows)
      Object.assign(row, {
        times: [],
        roundP50: [],
        byPosition: [],
        stray: 0,
        errors: 0,
        failures: [],
      });
    for (let r = 0; r < rounds; r++) {
      for (const row of rows) {
        try {
          const got = await profiled(
            profileDir,
            `part${part}-${profileTag(row)}-r${r + 1}`,
            row.run,
          );
          row.times.push(...got.times);
          row.roundP50.push(median(got.times));
          got.byPosition.forEach((list, i) => {
            row.byPosition[i] ??= [];
            row.byPosition[i].push(...list);
          });
          row.stray += got.stray;
          row.errors += got.errors;
        } catch (error) {
          row.failures.push(`round ${r + 1}: ${error.message}`);
          row.roundP50.push(Number.NaN);
          await untilDrained(server);
        }
      }
    }
  }

  // ------------------------------------------------------------ the floor (parts 1–3)

  const FLOOR_WAKE = 'floor: raw GET parked, woken by the PUT';
  const FLOOR_RTT = 'floor: loopback round trip (1-byte TCP echo)';

  /**
   * The least any watch can take: a raw blocking GET on a socket of its own, re-sent as soon
   * as the answer is in (no client library, no parse), and confirmed parked by the server
   * before each PUT (outside the clock; dev-server.bench part 2 measures the same). Same
   * cadence, changes and clock as `latencyRun`; the "handler" is the last byte of the answer.
   */
  async function floorWakeRun(server, put, spec, nextChange, plan) {
    const raw = rawConnection(server.port);
    const prefix = spec.type === 'keyprefix';
    const path = `/v1/kv/${prefix ? spec.prefix : spec.key}${prefix ? '?recurse=true&' : '?'}`;
    const times = [];
    const byPosition = Array.from({ length: plan.size }, () => []);
    try {
      await raw.connected;
      let { index } = await raw.http(path.slice(0, -1));
      let seenAt = performance.now();
      for (let g = 0; g < plan.warmup + plan.groups; g++) {
        for (let j = 0; j < plan.size; j++) {
          const { key, body } = nextChange();
          const answer = raw.http(`${path}index=${index}&wait=5m`);
          answer.catch(() => {});
          await server.child.call('whenParked', 1, S.stepTimeoutMs);
          if (j === 0) await sleep(seenAt + plan.gapMs - performance.now());
          const t0 = performance.now();
          const written = put(key, body);
          written.catch(() => {});
          const got = await withTimeout(answer, S.stepTimeoutMs, `floor: change ${j + 1}`);
          await written;
          if (got.status !== 200 || got.index === index)
            throw new Error(`floor: the parked GET answered ${got.status} at index ${got.index}`);
          index = got.index;
          seenAt = got.at;
          if (g >= plan.warmup) {
            times.push(got.at - t0);
            byPosition[j].push(got.at - t0);
          }
        }
      }
    } finally {
      raw.close();
      await untilDrained(server);
    }
    return { times, byPosition, stray: 0, errors: 0 };
  }

  /** One byte to an echo server in the dev-server's process and back, at the same cadence. */
  async function floorRttRun(server, plan) {
    const raw = rawConnection(await server.child.call('echo'));
    const times = [];
    const byPosition = Array.from({ length: plan.size }, () => []);
    try {
      await raw.connected;
      let seenAt = performance.now();
      for (let g = 0; g < plan.warmup + plan.groups; g++) {
        for (let j = 0; j < plan.size; j++) {
          if (j === 0) await sleep(seenAt + plan.gapMs - performance.now());
          const t0 = performance.now();
          const at = await withTimeout(raw.echo(), S.stepTimeoutMs, 'floor: echo');
          seenAt = at;
          if (g >= plan.warmup) {
            times.push(at - t0);
            byPosition[j].push(at - t0);
          }
        }
      }
    } finally {
      raw.close();
    }
    return { times, byPosition, stray: 0, errors: 0 };
  }

  /** The two floor rows of one cadence, to interleave with the peers' rows. */
  const floorRows = (server, put, spec, next, plan) => [
    {
      name: FLOOR_WAKE,
      cadence: cadenceName(plan),
      run: () => floorWakeRun(server, put, spec, next, plan),
    },
    { name: FLOOR_RTT, cadence: cadenceName(plan), run: () => floorRttRun(server, plan) },
  ];

  /**
   * Each peer's distance from the floor (wake-up p50 + loopback round trip p50), per cadence,
   * over all rounds and round by round.
   */
  function printFloor(number, rows) {
    const table = [];
    for (const cadence of [...new Set(rows.map((r) => r.cadence))]) {
      const of = (name) => rows.find((r) => r.cadence === cadence && r.name === name);
      const wake = of(FLOOR_WAKE);
      const rtt = of(FLOOR_RTT);
      const floor = median(wake.times) + median(rtt.times);
      const roundFloors = wake.roundP50.map((w, i) => w + rtt.roundP50[i]);
      for (const peer of rows.filter(
        (r) => r.cadence === cadence && r.name !== FLOOR_WAKE && r.name !== FLOOR_RTT,
      )) {
        const p50 = median(peer.times);
        table.push([
          cadence,
          fmt(1000 * median(wake.times)),
          fmt(1000 * median(rtt.times)),
          fmt(1000 * floor),
          peer.name,
          fmt(1000 * p50),
          fmt(1000 * (p50 - floor)),
          `${fmt(p50 / floor, 2)}×`,
          peer.roundP50.map((v, i) => fmt(v / roundFloors[i], 2)).join(' / '),
        ]);
      }
    }
    printTable(
      `${number}. The floor and each peer's distance from it (µs, p50)`,
      [
        'cadence',
        'wake-up µs',
        'loopback RTT µs',
        'floor µs',
        'peer',
        'p50 µs',
        'above the floor µs',
        '÷ floor',
        '÷ floor, round by round',
      ],
      table,
    );
    console.log(
      `\nFloor = the wake-up p50 (a raw blocking GET on its own socket, confirmed parked before each PUT, answered once the PUT lands; the clock stops at its answer's last byte, nothing parsed) + the loopback round trip p50 (1 byte to an echo server in the dev-server's process and back), both measured at the same cadence in the same interleaved rounds as the peers. Round by round: each peer's round p50 over that round's floor.`,
    );
  }

  const ms3 = (v) => (Number.isFinite(v) ? fmt(v, 3) : 'n/a');
  const latencyHeaders = [
    'peer',
    'cadence',
    'samples',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'round p50s ms',
    'p50 by position in burst ms',
    'stray',
    'watch errors',
    'failed rounds',
  ];
  const latencyRow = (row) => [
    row.name,
    row.cadence,
    fmt(row.times.length),
    ms3(percentile(row.times, 50)),
    ms3(percentile(row.times, 90)),
    ms3(percentile(row.times, 99)),
    ms3(row.times.length ? Math.max(...row.times) : Number.NaN),
    row.roundP50.map((v) => (Number.isFinite(v) ? fmt(v, 2) : 'fail')).join(' / '),
    row.byPosition.length > 1
      ? row.byPosition.map((l) => (l.length ? fmt(median(l), 2) : '–')).join(' / ')
      : '',
    fmt(row.stray),
    fmt(row.errors),
    row.failures.length ? `${row.failures.length}: ${row.failures[0]}` : '0',
  ];

  const cadenceName = (plan) =>
    plan.size > 1
      ? `bursts of ${plan.size}, ${plan.gapMs} ms apart`
      : `one change every ${plan.gapMs} ms`;

  /** Parts 1 and 2: a one-key watch. */
  async function keyLatencyPart(number, plan) {
    const server = await devServer();
    const { put, close } = putter(server.port);
    const client = newCoreClient(server.address);
    const consul = new Consul({ host: '127.0.0.1', port: server.port });
    try {
      const key = `lat${number}/key`;
      let rev = 0;
      const next = () => ({ key, body: settingValue('k', ++rev, 64) });
      await put(key, next().body);
      const spec = { type: 'key', key };
      const rows = [corePeer(client), npmPeer(consul)].map((peer) => ({
        name: peer.name,
        cadence: cadenceName(plan),
        run: () => latencyRun(server, put, peer, spec, next, plan),
      }));
      rows.push(...floorRows(server, put, spec, next, plan));
      const { noise } = await withNoise(server, () =>
        latencyRounds(number, server, rows, plan.rounds),
      );
      const samples = plan.groups * plan.size;
      printTable(
        `${number}. PUT → handler latency, key watch, ${cadenceName(plan)} (${plan.rounds} interleaved rounds × ${fmt(samples)} samples per peer, ${plan.warmup * plan.size} unmeasured per round)`,
        latencyHeaders,
        rows.map(latencyRow),
      );
      console.log(
        `\nClock: just before the PUT (own keep-alive connection) → the handler call, which must carry that PUT's value. ${plan.size > 1 ? `In a burst, each PUT goes out once the handler has the one before; bursts start ${plan.gapMs} ms after the last change of the previous one was seen.` : `Each PUT goes out ${plan.gapMs} ms after the handler saw the one before.`} Neither peer waits for the server to report its watch parked again, so whatever the engine does between two requests is inside the clock. New watch each round. During part ${number}: ${noise}.`,
      );
      printFloor(number, rows);
    } finally {
      await teardown(server, close, client, consul);
    }
  }

  /** Part 3: a 200-key prefix, one key changing, both cadences. */
  async function prefixLatencyPart() {
    const P = S.prefix;
    const server = await devServer();
    const { put, close } = putter(server.port);
    const client = newCoreClient(server.address);
    const consul = new Consul({ host: '127.0.0.1', port: server.port });
    try {
      const prefix = 'pfx/';
      const keyOf = (i) => `${prefix}k${String(i).padStart(3, '0')}`;
      for (let i = 0; i < P.keys; i++) await put(keyOf(i), settingValue(i, 0, P.valueBytes));
      const hot = keyOf(117);
      let rev = 0;
      const next = () => ({ key: hot, body: settingValue(117, ++rev, P.valueBytes) });
      const spec = { type: 'keyprefix', prefix };
      const rows = [];
      for (const plan of [S.burst, S.spaced]) {
        for (const peer of [corePeer(client), npmPeer(consul)]) {
          rows.push({
            name: peer.name === NPM ? `${NPM} + lastValues diff` : peer.name,
            cadence: cadenceName(plan),
            run: () => latencyRun(server, put, peer, spec, next, plan),
          });
        }
        rows.push(...floorRows(server, put, spec, next, plan));
      }
      const { noise } = await withNoise(server, () =>
        latencyRounds(3, server, rows, Math.max(S.burst.rounds, S.spaced.rounds)),
      );
      printTable(
        `3. PUT → handler latency, keyprefix watch of ${P.keys} keys (~${P.valueBytes}-byte values), one key changing (${Math.max(S.burst.rounds, S.spaced.rounds)} interleaved rounds of all four rows; per round ${fmt(S.burst.groups * S.burst.size)} samples in bursts, ${fmt(S.spaced.groups)} 15 ms apart)`,
        latencyHeaders,
        rows.map(latencyRow),
      );
      console.log(
        `\nSame clock and cadences as parts 1 and 2. The npm peer's handler is called after a diff of the whole answer against a Map key → { ModifyIndex, Value } of the previous one (sets and deletes), so the clock includes that diff, as core's includes its own. Rounds interleave all eight rows. During part 3: ${noise}.`,
      );
      printFloor(3, rows);
    } finally {
      await teardown(server, close, client, consul);
    }
  }

  // ------------------------------------------------------------ part 4: hot key

  async function hotKeyPart() {
    const H = S.hot;
    const server = await devServer();
    const writer = child();
    const { put, close } = putter(server.port);
    const client = newCoreClient(server.address);
    const consul = new Consul({ host: '127.0.0.1', port: server.port });
    const rows = [];
    try {
      await writer.call('prepare');
      const key = 'hot/key';
      await put(key, settingValue('start', 0));
      const peers = [corePeer(client), npmPeer(consul)];
      const { noise } = await withNoise(server, async () => {
        for (let r = 0; r < H.rounds; r++) {
          for (const peer of peers) {
            const row = { name: peer.name, round: r + 1 };
            rows.push(row);
            let lastSeen;
            let calls = 0;
            let running;
            try {
              running = await peer.start({ type: 'key', key }, (at, list) => {
                calls++;
                const value = list().find((c) => c.key === key)?.value;
                lastSeen = { value, at: performance.timeOrigin + at };
              });
              await server.child.call('whenParked', 1, S.stepTimeoutMs);
              const before = await server.child.call('stats');
              const t0 = performance.now();
              const cpu = process.cpuUsage();
              const w = await writer.call('hot', {
                port: server.port,
                key,
                durationMs: H.durationMs,
                periodMs: H.periodMs,
                maxPuts: Math.ceil(H.durationMs / H.periodMs) + 10,
                tag: `r${r}-${peer.name === NPM ? 'npm' : 'core'}`,
              });
              const after = await server.child.call('stats');
              const windowS = (performance.now() - t0) / 1000;
              row.cpu = cpuMs(cpu) / (windowS * 10);
              const callsInWindow = calls;
              row.writes = w.sent;
              row.writeRate = w.sent / (w.elapsedMs / 1000);
              row.requests = after.requests - before.requests - w.sent;
              row.rate = row.requests / windowS;
              row.calls = callsInWindow;
              if (!w.last) throw new Error(`writer: no PUT succeeded (${w.firstError})`);
              const deadline = performance.now() + H.finalTimeoutMs;
              while (lastSeen?.value !== w.last.body && performance.now() < deadline)
                await sleep(1);
              row.final =
                lastSeen?.value === w.last.body ? lastSeen.at - w.last.sentAt : Number.NaN;
              row.errors = running.errors();
              if (w.errors) row.failure = `${w.errors} writer errors: ${w.firstError}`;
            } catch (error) {
              row.failure = error.message;
            } finally {
              await running?.stop();
              await untilDrained(server);
              await sleep(200);
            }
          }
        }
      });
      printTable(
        `4. Hot key: one key written every ${H.periodMs} ms for ${fmt(H.durationMs / 1000)} s, one watch (rounds interleaved)`,
        [
          'peer',
          'round',
          'writes',
          'writes/s',
          'watch requests',
          'watch req/s',
          'requests per write',
          'handler calls',
          'last value seen after ms',
          'watch errors',
          'watch process CPU %',
          'failure',
        ],
        rows.map((r) => [
          r.name,
          fmt(r.round),
          fmt(r.writes ?? Number.NaN),
          fmt(r.writeRate ?? Number.NaN),
          fmt(r.requests ?? Number.NaN),
          fmt(r.rate ?? Number.NaN),
          fmt((r.requests ?? Number.NaN) / (r.writes ?? Number.NaN), 2),
          fmt(r.calls ?? Number.NaN),
          r.final === undefined
            ? 'n/a'
            : Number.isFinite(r.final)
              ? fmt(r.final, 1)
              : `> ${H.finalTimeoutMs}`,
          fmt(r.errors ?? 0),
          fmt(r.cpu ?? Number.NaN),
          r.failure ?? '',
        ]),
      );
      console.log(
        `\nThe writer is its own child process: PUTs paced at one per ${H.periodMs} ms (a late one goes at once), one in flight on one keep-alive connection. Watch requests = the dev-server's request count over the writing window (asked over IPC just before the writer starts and just after it returns) minus the writer's PUTs; nothing else talks to the server meanwhile. "Last value seen after" = from the moment the last PUT was sent (writer's clock) to the handler having that value (watch process's clock; both wall clock with sub-ms resolution). Handler calls are those during the window. During part 4: ${noise}.`,
      );
    } finally {
      close();
      await client.close().catch(() => {});
      consul.destroy?.();
      await writer.stop();
      await server.child.call('close').catch(() => {});
      await server.child.stop();
    }
  }

  // ------------------------------------------------------------ part 5: recovery

  async function recoveryPart() {
    const R = S.recovery;
    let server = await devServerOnFixedPort();
    const port = server.port;
    const key = 'rec/key';
    const partStart = performance.now();
    const machine = machineCpuMark();
    const { put, close } = putter(port);
    await put(key, settingValue('rec', 0));
    close();
    const client = newCoreClient(server.address);
    const consul = new Consul({ host: '127.0.0.1', port });
    let spare;
    const watches = {};
    const results = [];
    try {
      // One core watch and one npm watch of the same key, through every outage.
      const state = {
        core: { errors: 0, recovered: 0, seen: undefined },
        npm: { errors: 0, seen: undefined },
      };
      let expected;
      const coreWatch = client.watch({ type: 'key', key, initial: false }, (change) => {
        const at = epochNow();
        if (expected && coreValueOf(change, key) === expected) state.core.seen ??= at;
      });
      coreWatch.on('error', () => state.core.errors++);
      const hasRecovered = tryOn(coreWatch, 'recovered', () => state.core.recovered++);
      watches.core = coreWatch;
      await coreWatch.ready(S.stepTimeoutMs);
      const npmWatch = consul.watch({ method: consul.kv.get, options: { key, wait: '5m' } });
      npmWatch.on('error', () => state.npm.errors++);
      watches.npm = npmWatch;
      await withTimeout(
        new Promise((resolve) => npmWatch.once('change', resolve)),
        S.stepTimeoutMs,
        'npm watch start',
      );
      npmWatch.on('change', (data) => {
        const at = epochNow();
        if (expected && data?.Value === expected) state.npm.seen ??= at;
      });
      await server.child.call('whenParked', 2, S.stepTimeoutMs);

      // Interleave the durations: 2 5 30 2 5 30 2 5 …
      const schedule = [];
      const most = Math.max(...R.outages.map((o) => o.reps));
      for (let i = 0; i < most; i++)
        for (const o of R.outages) if (i < o.reps) schedule.push(o.seconds);

      let rep = 0;
      for (const seconds of schedule) {
        rep++;
        const row = { seconds, rep };
        results.push(row);
        const elapsed = performance.now() - partStart;
        if (elapsed + seconds * 1000 + R.timeoutMs > R.budgetMs) {
          row.skipped = 'time budget';
          continue;
        }
        try {
          spare ??= child();
          await spare.call('prepare');
          const value = settingValue('rec', rep);
          expected = undefined;
          state.core.seen = undefined;
          state.npm.seen = undefined;
          const errorsBefore = { core: state.core.errors, npm: state.npm.errors };
          const recoveredBefore = state.core.recovered;
          const snapshot = await server.child.call('snapshot');
          await server.child.stop(); // the dev-server process exits: its sockets close
          const downAt = epochNow();
          await sleep(downAt + seconds * 1000 - epochNow() - 1_000);
          row.statusDuring = statusOf(coreWatch);
          await sleep(downAt + seconds * 1000 - epochNow());
          expected = value;
          const started = await spare.call('start', { port, snapshot, put: { key, value } });
          server = { child: spare, port, address: server.address };
          spare = undefined;
          row.absent = started.listenAt - downAt;
          row.putAfter = started.putAt - started.listenAt;
          const deadline = performance.now() + R.timeoutMs - (epochNow() - started.listenAt);
          while ((!state.core.seen || !state.npm.seen) && performance.now() < deadline)
            await sleep(5);
          row.core = state.core.seen ? state.core.seen - started.listenAt : Number.NaN;
          row.npm = state.npm.seen ? state.npm.seen - started.listenAt : Number.NaN;
          row.coreErrors = state.core.errors - errorsBefore.core;
          row.npmErrors = state.npm.errors - errorsBefore.npm;
          row.recovered = hasRecovered ? state.core.recovered - recoveredBefore : undefined;
          row.statusAfter = statusOf(coreWatch);
          // Both parked again before the next outage (bounded; a late one is noted).
          try {
            await server.child.call('whenParked', 2, 35_000);
          } catch (error) {
            row.note = `not both parked again: ${error.message}`;
          }
          await sleep(300);
        } catch (error) {
          row.failure = error.message;
          // Get a server back on the port for the next repetition.
          try {
            if (spare) await spare.stop();
            spare = undefined;
            server = await (async () => {
              const c = child();
              await c.call('start', { port });
              return { child: c, port, address: server.address };
            })();
          } catch (again) {
            row.failure += `; restart failed: ${again.message}`;
            break;
          }
        }
      }
      const busy = busyCores(machine);

      const table = [];
      const durations = [...new Set(R.outages.map((o) => o.seconds))];
      for (const seconds of durations) {
        const rowsFor = results.filter((r) => r.seconds === seconds && !r.skipped);
        const skipped = results.filter((r) => r.seconds === seconds && r.skipped).length;
        for (const [peer, field, errField] of [
          [coreName, 'core', 'coreErrors'],
          [NPM, 'npm', 'npmErrors'],
        ]) {
          const done = rowsFor.filter((r) => r.failure === undefined);
          const values = done.map((r) => r[field]);
          const ok = values.filter(Number.isFinite);
          const missed = values.length - ok.length;
          table.push([
            `${fmt(seconds)} s`,
            peer,
            `${fmt(done.length)}${skipped ? ` (+${skipped} skipped)` : ''}`,
            done.map((r) => fmt(r.absent, 0)).join(' / '),
            ok.length ? fmt(median(ok), 0) : 'n/a',
            missed ? `> ${fmt(R.timeoutMs)}` : ok.length ? fmt(Math.max(...ok), 0) : 'n/a',
            values.map((v) => (Number.isFinite(v) ? fmt(v, 0) : 'none')).join(' / '),
            done.map((r) => fmt(r[errField])).join(' / '),
            field === 'core'
              ? done.map((r) => (r.recovered === undefined ? 'n/a' : fmt(r.recovered))).join(' / ')
              : '',
            field === 'core'
              ? done.map((r) => `${r.statusDuring ?? 'n/a'}→${r.statusAfter ?? 'n/a'}`).join(' / ')
              : '',
            rowsFor
              .filter((r) => r.failure || r.note)
              .map((r) => r.failure ?? r.note)
              .join('; '),
          ]);
        }
      }
      printTable(
        '5. Recovery: dev-server process gone, back on the same port after the outage, value written the moment it listens',
        [
          'outage',
          'peer',
          'reps',
          'actual absence ms',
          'listen → handler p50 ms',
          'worst ms',
          'per rep ms',
          'error events per outage',
          'recovered events',
          'core status (1 s before restart → after)',
          'failures / notes',
        ],
        table,
      );
      const putAfter = results.filter((r) => Number.isFinite(r.putAfter)).map((r) => r.putAfter);
      console.log(
        `\nOne core key watch and one npm watch of the same key run through every outage together (so both face the same outage). An outage: the dev-server child is asked for a snapshot of its state, then its process exits (its connections close; connects are then refused); a child prepared beforehand starts a dev-server on the same port after the outage, restores the snapshot (indexes go on from where they were, as a restarted Consul's do) and PUTs a new value at once (${putAfter.length ? `${fmt(median(putAfter), 1)} ms after listen, median` : 'n/a'}). Clock: from its listen to the handler having that value; both wall clock, sub-ms. Durations interleaved (${schedule.join(' ')} s); repetitions that would have passed the part's ${fmt(R.budgetMs / 1000)} s budget are skipped. Error events are the watch's 'error' events from the outage's start until both handlers had the value. "recovered"/"status" only where the build has them (n/a otherwise). Whole machine busy during part 5: ${fmt(busy, 2)} cores of 2.`,
      );
    } finally {
      await watches.core?.stop().catch(() => {});
      watches.npm?.end();
      await client.close().catch(() => {});
      consul.destroy?.();
      if (spare) await spare.stop();
      await server.child.call('close').catch(() => {});
      await server.child.stop();
    }
  }

  // ------------------------------------------------------------ part 6: knocking

  async function knockingPart() {
    const K = S.knock;
    let server = await devServerOnFixedPort();
    const port = server.port;
    const address = server.address;
    const keys = Array.from(
      { length: K.watches },
      (_, i) => `knock/k${String(i).padStart(2, '0')}`,
    );
    {
      const { put, close } = putter(port);
      for (const k of keys) await put(k, settingValue(k, 0));
      close();
    }
    const rows = [];
    const machine = machineCpuMark();
    let spare;
    try {
      const peers = [
        {
          name: coreName,
          async start() {
            const client = newCoreClient(address);
            const counts = { errors: 0, recovered: 0, hasRecovered: false };
            const ws = keys.map((key) => {
              const w = client.watch({ type: 'key', key, initial: false }, () => {});
              w.on('error', () => counts.errors++);
              counts.hasRecovered = tryOn(w, 'recovered', () => counts.recovered++);
              return w;
            });
            await Promise.all(ws.map((w) => w.ready(S.stepTimeoutMs)));
            return {
              counts,
              status: () => statusOf(ws[0]),
              stop: async () => {
                await Promise.allSettled(ws.map((w) => w.stop()));
                await client.close();
              },
            };
          },
        },
        {
          name: NPM,
          async start() {
            const consul = new Consul({ host: '127.0.0.1', port });
            const counts = { errors: 0 };
            const ws = keys.map((key) => {
              const w = consul.watch({ method: consul.kv.get, options: { key, wait: '5m' } });
              w.on('error', () => counts.errors++);
              return w;
            });
            try {
              await withTimeout(
                Promise.all(ws.map((w) => new Promise((resolve) => w.once('change', resolve)))),
                S.stepTimeoutMs,
                'npm watches start',
              );
            } catch (error) {
              for (const w of ws) w.end();
              consul.destroy?.();
              throw error;
            }
            return {
              counts,
              status: () => undefined,
              stop: async () => {
                for (const w of ws) w.end();
                consul.destroy?.();
              },
            };
          },
        },
      ];
      for (let r = 0; r < K.rounds; r++) {
        for (const peer of peers) {
          const row = { name: peer.name, round: r + 1 };
          rows.push(row);
          let running;
          let away; // the child holding the port with the away server
          try {
            spare ??= child();
            await spare.call('prepare');
            running = await peer.start();
            await server.child.call('whenParked', K.watches, S.stepTimeoutMs);
            const snapshot = await server.child.call('snapshot');
            const errorsBefore = running.counts.errors;
            await server.child.stop();
            const downAt = epochNow();
            away = spare;
            spare = undefined;
            const { listenAt } = await away.call('away', { port });
            row.gap = listenAt - downAt;
            await sleep(listenAt + K.awayMs - epochNow());
            row.status = running.status();
            const report = await away.call('awayStop');
            row.errors = running.counts.errors - errorsBefore;
            row.recovered = running.counts.hasRecovered ? running.counts.recovered : undefined;
            const seconds = Math.round(K.awayMs / 1000);
            const perSecond = Array.from({ length: seconds }, () => 0);
            for (const t of report.accepts) {
              const s = Math.floor((t - listenAt) / 1000);
              if (s >= 0 && s < seconds) perSecond[s]++;
            }
            row.perSecond = perSecond;
            row.total = perSecond.reduce((a, b) => a + b, 0);
            const lastS = Math.round(K.lastMs / 1000);
            row.last = perSecond.slice(-lastS).reduce((a, b) => a + b, 0) / lastS;
            row.first = perSecond.slice(0, lastS).reduce((a, b) => a + b, 0) / lastS;
            await running.stop();
            running = undefined;
            // The dev-server back on the port (same child), for the next peer's watches.
            await away.call('start', { port, snapshot });
            server = { child: away, port, address };
            away = undefined;
          } catch (error) {
            row.failure = error.message;
            await running?.stop().catch(() => {});
            if (away) await away.stop();
            const alive = await server.child.call('stats').then(
              () => true,
              () => false,
            );
            if (!alive) {
              await server.child.stop();
              server = await devServer(port); // throws (ending the part) if the port is lost
            }
          }
          await sleep(300);
        }
      }
      const busy = busyCores(machine);
      printTable(
        `6. Knocking: ${K.watches} key watches while the port accepts every connection and destroys it at once, ${fmt(K.awayMs / 1000)} s (rounds interleaved)`,
        [
          'peer',
          'round',
          'connections',
          'per s, first 5 s',
          `per s, last ${fmt(K.lastMs / 1000)} s`,
          'per watch, last 5 s',
          'busiest second',
          'per second',
          'error events',
          'recovered events',
          'core status at end',
          'failure',
        ],
        rows.map((r) => [
          r.name,
          fmt(r.round),
          r.total === undefined ? 'n/a' : fmt(r.total),
          r.first === undefined ? 'n/a' : fmt(r.first, 1),
          r.last === undefined ? 'n/a' : fmt(r.last, 1),
          r.last === undefined ? 'n/a' : fmt((r.last * K.lastMs) / 1000 / K.watches, 2),
          r.perSecond ? fmt(Math.max(...r.perSecond)) : 'n/a',
          r.perSecond ? r.perSecond.join(' ') : '',
          r.errors === undefined ? 'n/a' : fmt(r.errors),
          r.name === NPM ? '' : r.recovered === undefined ? 'n/a' : fmt(r.recovered),
          r.name === NPM ? '' : (r.status ?? 'n/a'),
          r.failure ?? '',
        ]),
      );
      const gaps = rows.filter((r) => Number.isFinite(r.gap)).map((r) => r.gap);
      console.log(
        `\nAll ${K.watches} watches parked on a live dev-server first; then its process exits and, ${gaps.length ? `${fmt(median(gaps), 1)} ms later (median)` : 'at once'}, another child listens on the same port with a net server that accepts each connection and destroys it at once (no HTTP answer). Connections are counted by that server at accept, per second from its listen. The dev-server then comes back (state restored) for the next peer; the watches are stopped while still "away". Whole machine busy during part 6: ${fmt(busy, 2)} cores of 2.`,
      );
    } finally {
      if (spare) await spare.stop();
      await server.child.call('close').catch(() => {});
      await server.child.stop();
    }
  }

  // ------------------------------------------------------------ run

  const partList = [
    [1, 'key watch, bursts', () => keyLatencyPart(1, S.burst)],
    [2, 'key watch, 15 ms apart', () => keyLatencyPart(2, S.spaced)],
    [3, 'keyprefix watch', prefixLatencyPart],
    [4, 'hot key', hotKeyPart],
    [5, 'recovery', recoveryPart],
    [6, 'knocking', knockingPart],
  ];
  let failed = 0;
  try {
    for (const [n, name, run] of partList) {
      if (!parts.has(n)) continue;
      const t0 = performance.now();
      try {
        await run();
      } catch (error) {
        failed++;
        console.log(`\n### ${n}. ${name}: FAILED\n\n${error?.stack ?? error}`);
      }
      console.error(`engine bench: part ${n} took ${fmt((performance.now() - t0) / 1000, 1)} s`);
    }
  } finally {
    await Promise.allSettled([...children].map((c) => c.stop()));
    clearTimeout(guard);
  }
  console.log(`\nTotal ${fmt((performance.now() - startedAt) / 1000, 0)} s. ${machineLine()}`);
  if (failed) process.exitCode = 1;
  // Anything still holding the loop open is a leak of this benchmark: name it and leave.
  setTimeout(() => {
    console.error(
      `engine bench: still open after the end: ${process.getActiveResourcesInfo().join(', ')}`,
    );
    process.exit(process.exitCode ?? 0);
  }, 5_000).unref();
}

if (process.argv[2] === 'child') childRole();
else await main();
