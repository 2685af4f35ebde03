// The embedded dev-server under load, each number next to a peer measured in the same run:
// KV PUT throughput against a bare node:http server, wake-up latency against a plain GET
// round trip, and memory and write time with 10,000 parked blocking queries against a bare
// server holding as many requests. The server under test and the load generator always run
// in two separate child processes (one core each); this process only orchestrates.
//
// Roles: `node dev-server.bench.mjs` orchestrates; `... server` and `... client` are the
// children it forks.

import { createServer } from 'node:http';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  busyCores,
  collectGarbage,
  cpuMs,
  fmt,
  httpRequest,
  keepAliveAgent,
  launch,
  loadLoop,
  machineCpuMark,
  machineLine,
  median,
  printTable,
  roundTrips,
  rssMb,
  serveParent,
  summarize,
} from './lib.mjs';

// Flags (for `node --expose-gc bench/dev-server.bench.mjs ...`; run.mjs passes none):
// --parts=1,2,3 which parts to run, --rounds=N and --round-ms=N for part 1, and
// --baseline=path/to/other/dist/index.js: another build of the dev-server, measured as one
// more peer in parts 1 and 3 (same rounds, same run), to tell what a change bought.
const flag = (name, fallback) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const parts = new Set(flag('parts', '1,2,3').split(',').map(Number));
const baselineDist = flag('baseline', undefined);

const settings = {
  concurrency: 32,
  warmupMs: 1_000,
  rounds: Number(flag('rounds', 3)),
  roundMs: Number(flag('round-ms', 1_000)),
  /** A small JSON value, as a feature flag or setting would be. */
  body: JSON.stringify({ enabled: true, rollout: 25, owner: 'team-config' }),
  wakeSamples: 1_000,
  parked: [1_000, 10_000],
  /** Goal: the dev-server's RSS with every query parked at most this far above the peer's. */
  rssAboveBareMb: 20,
  parkBatch: 250,
  putSamples: 200,
};

const DEV = 'dev-server';
const BASELINE = 'dev-server (baseline)';
const BARE = 'node:http';
const DEV_KINDS = baselineDist ? [DEV, BASELINE] : [DEV];
const distOf = (kind) =>
  kind === BASELINE
    ? pathToFileURL(resolve(baselineDist)).href
    : new URL('../packages/dev-server/dist/index.js', import.meta.url).href;

// ================================================================ server child

/** A bare node:http peer: reads a PUT body and answers `true`; holds every GET unanswered. */
async function startBareServer() {
  const held = new Set();
  const onHold = new Set();
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      held.add(res);
      res.once('close', () => held.delete(res));
      for (const listener of [...onHold]) listener();
      return;
    }
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '4' });
      res.end('true');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    get parkedQueries() {
      return held.size;
    },
    whenParked: (count, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (held.size < count) return;
          clearTimeout(timer);
          onHold.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          onHold.delete(check);
          reject(new Error(`${held.size} of ${count} requests held after ${timeoutMs} ms`));
        }, timeoutMs);
        onHold.add(check);
        check();
      }),
    close: () => {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      return closed;
    },
  };
}

function serverRole() {
  let server;
  let cpuMark;
  serveParent({
    async start(kind, dist) {
      if (kind !== BARE) {
        const { startDevServer } = await import(dist);
        server = await startDevServer({ port: 0, host: '127.0.0.1', nodeName: 'bench' });
      } else server = await startBareServer();
      return { port: server.port, pid: process.pid };
    },
    whenParked: (count, timeoutMs) => server.whenParked(count, timeoutMs),
    parked: () => server.parkedQueries,
    memory() {
      collectGarbage();
      return { rssMb: rssMb(), heapMb: process.memoryUsage().heapUsed / 1024 / 1024 };
    },
    markCpu() {
      cpuMark = process.cpuUsage();
    },
    cpuSinceMark: () => cpuMs(cpuMark),
    close: () => server.close(),
  });
}

// ================================================================ client child

function clientRole() {
  const parkAgent = keepAliveAgent(1);
  const putAgent = keepAliveAgent(1);
  let parkedGet;
  const sockets = [];
  let answered = 0;
  let socketErrors = 0;

  serveParent({
    load: ({ port, method, pathPrefix, keySpace = 0, from = 0, durationMs, maxRequests }) =>
      loadLoop({
        port,
        concurrency: settings.concurrency,
        durationMs,
        maxRequests,
        describe: (i) => ({
          method,
          path: keyPath(pathPrefix, keySpace, from + i),
          body: settings.body,
        }),
      }),

    roundTrips: (options) =>
      roundTrips({ ...options, body: options.method === 'PUT' ? settings.body : undefined }),

    async index({ port, path }) {
      const res = await httpRequest({ agent: putAgent, port, path });
      return res.headers['x-consul-index'];
    },

    /** Sends a blocking GET and returns at once; `wake` collects its answer. */
    park({ port, path }) {
      parkedGet = httpRequest({ agent: parkAgent, port, path }).then((res) => ({
        res,
        at: performance.now(),
      }));
      parkedGet.catch(() => {});
    },

    /** PUTs the key the parked GET reads; ms from just before the PUT to the GET's answer. */
    async wake({ port, path }) {
      const t0 = performance.now();
      const put = httpRequest({ agent: putAgent, port, method: 'PUT', path, body: settings.body });
      const { res, at } = await parkedGet;
      const putRes = await put;
      if (res.status !== 200 || putRes.body !== 'true')
        throw new Error(`wake-up answered ${res.status}, PUT answered ${putRes.body}`);
      return { ms: at - t0, index: res.headers['x-consul-index'] };
    },

    /**
     * Opens one raw socket per query and writes a blocking GET on it: far lighter for this
     * process than 10,000 http.ClientRequests. Connections are opened 50 at a time.
     */
    async parkRaw({ port, from, to, pathPrefix, index }) {
      let next = from;
      const deadline = performance.now() + 60_000;
      const open = (i) =>
        new Promise((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port }, () => {
            socket.off('error', reject);
            socket.on('error', () => socketErrors++);
            socket.write(
              `GET ${pathPrefix}${i}?index=${index}&wait=5m HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
            );
            resolve();
          });
          socket.once('error', reject);
          socket.on('data', () => answered++);
          sockets.push(socket);
        });
      const opener = async () => {
        while (next < to) {
          if (performance.now() > deadline) throw new Error('parking took more than 60 s');
          await open(next++);
        }
      };
      await Promise.all(Array.from({ length: 50 }, opener));
    },

    /** How many parked queries were answered or failed (none should be). */
    parkedTrouble: () => ({ answered, socketErrors }),

    closeParked() {
      for (const socket of sockets) socket.destroy();
      sockets.length = 0;
    },
  });
}

// ================================================================ orchestrator

const self = fileURLToPath(import.meta.url);

/** A server child running `kind` and a client child to load it. */
async function startPair(kind) {
  const server = launch(self, ['server']);
  const client = launch(self, ['client']);
  const stop = async () => {
    // Server first: the connections' TIME_WAIT then lands on its side, not the client's ports.
    await server.call('close').catch(() => {});
    await server.stop();
    await client.stop();
  };
  try {
    const { port } = await server.call('start', kind, distOf(kind));
    return { server, client, port, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function withPair(kind, fn) {
  const pair = await startPair(kind);
  try {
    return await fn(pair);
  } finally {
    await pair.stop();
  }
}

/** Keys `k0..k<keySpace - 1>` over and over, or (keySpace 0) a new key for every request. */
const keyPath = (prefix, keySpace, i) => `${prefix}${keySpace ? i % keySpace : i}`;

/**
 * Other people's jobs on this machine come and go in bursts, so the peers are measured in
 * interleaved rounds (A B C A B C ...) and each reports its median round: a burst then
 * costs every peer a round rather than one peer its whole measurement.
 */
async function putThroughput() {
  const workloads = [
    ...DEV_KINDS.flatMap((kind) => [
      { kind, workload: 'new key per PUT', keySpace: 0 },
      { kind, workload: 'same 1,000 keys rewritten', keySpace: 1_000 },
    ]),
    { kind: BARE, workload: 'reads the body, answers true', keySpace: 0 },
  ];
  const peers = [];
  try {
    for (const workload of workloads)
      peers.push({ ...workload, ...(await startPair(workload.kind)) });
    for (const peer of peers) {
      peer.load = {
        port: peer.port,
        method: 'PUT',
        pathPrefix: '/v1/kv/bench/k',
        keySpace: peer.keySpace,
      };
      const warm = await peer.client.call('load', { ...peer.load, durationMs: settings.warmupMs });
      peer.sent = warm.ok;
      peer.rounds = [];
    }
    for (let round = 0; round < settings.rounds; round++) {
      for (const peer of peers) {
        await peer.server.call('markCpu');
        const machine = machineCpuMark();
        const r = await peer.client.call('load', {
          ...peer.load,
          from: peer.sent,
          durationMs: settings.roundMs,
        });
        const serverCpuMs = await peer.server.call('cpuSinceMark');
        const cores = (ms) => ms / r.elapsedMs;
        if (r.errors > 0) throw new Error(`${peer.kind}: ${r.errors} failed PUTs: ${r.firstError}`);
        peer.sent += r.ok;
        peer.rounds.push({
          perSecond: r.perSecond,
          serverUsPerPut: (1000 * serverCpuMs) / r.ok,
          server: cores(serverCpuMs),
          client: cores(r.clientCpuMs),
          others: Math.max(0, busyCores(machine) - cores(serverCpuMs) - cores(r.clientCpuMs)),
        });
      }
    }
  } finally {
    await Promise.all(peers.map((peer) => peer.stop()));
  }
  const rate = (peer) => median(peer.rounds.map((r) => r.perSecond));
  const percent = (peer, field) => `${fmt(100 * median(peer.rounds.map((r) => r[field])))} %`;
  const bare = rate(peers.at(-1));
  printTable(
    `1. KV PUT throughput (${settings.concurrency} in flight over keep-alive connections, ${Buffer.byteLength(settings.body)}-byte body; ${settings.warmupMs / 1000} s warm-up, then ${settings.rounds} interleaved rounds of ${settings.roundMs / 1000} s per peer, median round)`,
    [
      'server',
      'workload',
      'req/s',
      'rounds (req/s)',
      'vs node:http',
      'server µs/PUT',
      'KV keys at end',
      'server CPU',
      'client CPU',
      'other processes',
    ],
    peers.map((peer) => [
      peer.kind,
      peer.workload,
      fmt(rate(peer)),
      `${peer.rounds.map((r) => fmt(r.perSecond / 1000, 1)).join(' / ')} k`,
      (rate(peer) / bare).toFixed(2),
      fmt(median(peer.rounds.map((r) => r.serverUsPerPut)), 1),
      peer.kind === BARE ? '' : fmt(peer.keySpace || peer.sent),
      percent(peer, 'server'),
      percent(peer, 'client'),
      percent(peer, 'others'),
    ]),
  );
  return { newKeys: rate(peers[0]) / bare, rewrite: rate(peers[1]) / bare };
}

async function wakeLatency() {
  return withPair(DEV, async ({ server, client, port }) => {
    const path = '/v1/kv/lat/key';
    await client.call('roundTrips', { port, method: 'PUT', path, samples: 1, warmup: 0 });
    let index = await client.call('index', { port, path });
    const wake = [];
    const warmup = 50;
    for (let i = 0; i < warmup + settings.wakeSamples; i++) {
      await client.call('park', { port, path: `${path}?index=${index}&wait=5m` });
      await server.call('whenParked', 1, 5_000);
      const result = await client.call('wake', { port, path });
      index = result.index;
      if (i >= warmup) wake.push(result.ms);
    }
    const samples = settings.wakeSamples;
    const get = await client.call('roundTrips', { port, method: 'GET', path, samples });
    const put = await client.call('roundTrips', { port, method: 'PUT', path, samples });
    const rows = [
      ['wake-up: PUT sent → parked GET answered', wake],
      ['peer: GET round trip, same key', get],
      ['peer: PUT round trip, no waiter', put],
    ].map(([name, times]) => {
      const s = summarize(times);
      return [name, fmt(s.count), fmt(s.p50, 3), fmt(s.p99, 3), fmt(s.max, 3)];
    });
    printTable(
      '2. Wake-up latency of a parked blocking query (ms, one keep-alive connection each)',
      ['measurement', 'samples', 'p50 ms', 'p99 ms', 'max ms'],
      rows,
    );
    return summarize(wake).p50;
  });
}

async function parkedQueries() {
  const rows = [];
  const found = {};
  for (const kind of [...DEV_KINDS, BARE]) {
    await withPair(kind, async ({ server, client, port }) => {
      const last = settings.parked.at(-1);
      let index = 1;
      if (kind !== BARE) {
        // Blocking reads of existing keys, as watchers of settings would make.
        const r = await client.call('load', {
          port,
          method: 'PUT',
          pathPrefix: '/v1/kv/park/k',
          durationMs: 60_000,
          maxRequests: last,
        });
        if (r.ok !== last) throw new Error(`preloading keys: ${r.ok} of ${last}, ${r.firstError}`);
        index = await client.call('index', { port, path: '/v1/kv/park/?keys' });
      }
      const measure = async (parked, parkMs) => {
        const memory = await server.call('memory');
        const times = await client.call('roundTrips', {
          port,
          method: 'PUT',
          path: '/v1/kv/other/key',
          samples: settings.putSamples,
          warmup: 100,
        });
        const s = summarize(times);
        found[`${kind} ${parked}`] = { ...memory, putP50: s.p50 };
        rows.push([
          kind,
          fmt(parked),
          parkMs === undefined ? '' : fmt(parkMs),
          fmt(memory.rssMb, 1),
          fmt(memory.heapMb, 1),
          fmt(s.p50, 3),
          fmt(s.p99, 3),
        ]);
      };
      await measure(0);
      let from = 0;
      for (const count of settings.parked) {
        const t0 = performance.now();
        // A connection is established as soon as the kernel queues it, before the server
        // accepts it; unthrottled, the client overflowed the listen backlog (511) and each
        // dropped connection waited out TCP's 1 s retransmit. So: batches the server has
        // parked before the next one starts.
        for (; from < count; from = Math.min(from + settings.parkBatch, count)) {
          const to = Math.min(from + settings.parkBatch, count);
          await client.call('parkRaw', { port, from, to, pathPrefix: '/v1/kv/park/k', index });
          await server.call('whenParked', to, 30_000);
        }
        await measure(count, performance.now() - t0);
      }
      const trouble = await client.call('parkedTrouble');
      const still = await server.call('parked');
      if (trouble.answered > 0 || trouble.socketErrors > 0 || still !== last) {
        throw new Error(
          `${kind}: parked queries disturbed: ${JSON.stringify(trouble)}, ${still} left`,
        );
      }
    });
  }
  printTable(
    `3. ${fmt(settings.parked.at(-1))} parked blocking queries on distinct keys (server process; PUT to an unrelated key, ${settings.putSamples} sequential)`,
    ['server', 'parked', 'park ms', 'RSS MB', 'heap MB', 'PUT p50 ms', 'PUT p99 ms'],
    rows,
  );
  return found;
}

async function main() {
  console.log(machineLine());
  const goals = [];
  if (parts.has(1)) {
    const ratio = await putThroughput();
    goals.push(
      [
        'PUT throughput vs node:http, new keys',
        '≥ 0.70',
        ratio.newKeys.toFixed(2),
        ratio.newKeys >= 0.7,
      ],
      [
        'PUT throughput vs node:http, rewrites',
        '≥ 0.70',
        ratio.rewrite.toFixed(2),
        ratio.rewrite >= 0.7,
      ],
    );
  }
  if (parts.has(2)) {
    const wakeP50 = await wakeLatency();
    goals.push(['wake-up p50', '< 2 ms', `${wakeP50.toFixed(3)} ms`, wakeP50 < 2]);
  }
  if (parts.has(3)) {
    const parked = await parkedQueries();
    const last = settings.parked.at(-1);
    const rss = parked[`${DEV} ${last}`].rssMb;
    const bareRss = parked[`${BARE} ${last}`].rssMb;
    const put0 = parked[`${DEV} 0`].putP50;
    const putN = parked[`${DEV} ${last}`].putP50;
    goals.push(
      [
        `RSS with ${fmt(last)} parked, above node:http holding as many`,
        `≤ ${settings.rssAboveBareMb} MB`,
        `${rss.toFixed(1)} − ${bareRss.toFixed(1)} = ${(rss - bareRss).toFixed(1)} MB`,
        rss - bareRss <= settings.rssAboveBareMb,
      ],
      // Loopback round trips jitter by tens of µs; "grows" means beyond that and 25 %.
      [
        `PUT p50, ${fmt(last)} vs 0 unrelated waiters`,
        'no growth',
        `${put0.toFixed(3)} → ${putN.toFixed(3)} ms`,
        putN <= Math.max(put0 * 1.25, put0 + 0.05),
      ],
    );
  }
  printTable(
    'Goals',
    ['goal', 'target', 'result', ''],
    goals.map(([goal, target, result, met]) => [goal, target, result, met ? 'met' : 'MISSED']),
  );
}

const role = process.argv[2];
if (role === 'server') serverRole();
else if (role === 'client') clientRole();
else await main();
