// What one KV read costs the client: core's `kv.getEntry`, a bare undici `Pool.request`, the
// npm `consul` client's `kv.get`, and plain `node:http` with a keep-alive agent. Each client
// runs in a process of its own, the dev-server in another, and the rounds are interleaved
// (the order rotates every round), so the machine's noise falls on every client alike. The
// figure is the client process's CPU (user + system) per read, measured around a batch of
// sequential reads of one key; the table gives each client's median over the rounds and its
// ratio to bare undici and to the `consul` client within the same run.
//
// Roles: `node kvread.bench.mjs` measures; `... server` runs the dev-server; `... client NAME
// ADDRESS` runs one client.

import { Agent as HttpAgent, request as httpGet } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  cpuMs,
  fmt,
  launch,
  machineLine,
  median,
  percentile,
  printTable,
  serveParent,
} from './lib.mjs';

const settings = {
  rounds: Number(process.env.KVREAD_ROUNDS ?? 12),
  readsPerRound: Number(process.env.KVREAD_READS ?? 2_000),
  warmupReads: 3_000,
  key: 'bench/kvread/config.json',
  value: JSON.stringify({ db: { host: 'db.internal', port: 5432 }, features: { beta: true } }),
};

const require = createRequire(import.meta.url);
const self = fileURLToPath(import.meta.url);
const [role, name, address] = process.argv.slice(2);

/** The clients, by name: each makes one read of `key` and resolves when its answer is read. */
const CLIENTS = {
  core: async (addr) => {
    const { createConsulWatch } = await import('../packages/core/dist/index.js');
    const client = createConsulWatch({ address: addr });
    return {
      read: (key) => client.kv.getEntry(key),
      close: () => client.close(),
    };
  },
  undici: async (addr) => {
    const { Pool } = require(
      require.resolve('undici', {
        paths: [fileURLToPath(new URL('../packages/core/', import.meta.url))],
      }),
    );
    const pool = new Pool(`http://${addr}`);
    return {
      async read(key) {
        const res = await pool.request({
          method: 'GET',
          path: `/v1/kv/${encodeURIComponent(key)}`,
        });
        const body = await res.body.arrayBuffer();
        return JSON.parse(Buffer.from(body).toString('utf8'));
      },
      close: () => pool.close(),
    };
  },
  consul: async (addr) => {
    const Consul = require('consul');
    const [host, port] = addr.split(':');
    const consul = new Consul({ host, port: Number(port) });
    return {
      read: (key) => consul.kv.get({ key }),
      close: async () => {},
    };
  },
  'node:http': async (addr) => {
    const [host, port] = addr.split(':');
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    return {
      read: (key) =>
        new Promise((resolve, reject) => {
          const req = httpGet(
            { host, port, agent, path: `/v1/kv/${encodeURIComponent(key)}` },
            (res) => {
              const chunks = [];
              res.on('data', (c) => chunks.push(c));
              res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
              res.on('error', reject);
            },
          );
          req.on('error', reject);
          req.end();
        }),
      close: async () => agent.destroy(),
    };
  },
};

if (role === 'server') {
  const { startDevServer } = await import('../packages/dev-server/dist/index.js');
  const dev = await startDevServer();
  serveParent({ address: () => dev.address });
} else if (role === 'client') {
  const client = await CLIENTS[name](address);
  serveParent({
    /** Reads `count` times one after another; the process's CPU and each read's time. */
    async reads(count) {
      const times = new Array(count);
      const start = process.cpuUsage();
      for (let i = 0; i < count; i++) {
        const t = performance.now();
        const entry = await client.read(settings.key);
        times[i] = performance.now() - t;
        if (!entry) throw new Error(`${name}: the key is missing`);
      }
      const cpu = cpuMs(start);
      return { cpuUsPerRead: (cpu * 1000) / count, p50Us: percentile(times, 50) * 1000 };
    },
    async close() {
      await client.close();
    },
  });
} else {
  const server = launch(self, ['server']);
  const addr = await server.call('address');
  {
    const { createConsulWatch } = await import('../packages/core/dist/index.js');
    const writer = createConsulWatch({ address: addr });
    await writer.kv.put(settings.key, settings.value);
    await writer.close();
  }
  const names = Object.keys(CLIENTS);
  const clients = Object.fromEntries(names.map((n) => [n, launch(self, ['client', n, addr])]));
  for (const n of names) await clients[n].call('reads', settings.warmupReads);
  const cpu = Object.fromEntries(names.map((n) => [n, []]));
  const p50 = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < settings.rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const n of order) {
      const r = await clients[n].call('reads', settings.readsPerRound);
      cpu[n].push(r.cpuUsPerRead);
      p50[n].push(r.p50Us);
    }
  }
  for (const n of names) await clients[n].call('close');
  await Promise.all(names.map((n) => clients[n].stop()));
  await server.stop();
  const med = (n) => median(cpu[n]);
  console.log(machineLine());
  printTable(
    `One KV read: client CPU per read (${settings.rounds} rounds × ${settings.readsPerRound} reads, interleaved)`,
    [
      'client',
      'CPU µs/read (median)',
      'spread (min–max)',
      'vs undici',
      'vs consul client',
      'read p50 µs',
    ],
    names.map((n) => [
      n,
      fmt(med(n), 1),
      `${fmt(Math.min(...cpu[n]), 1)}–${fmt(Math.max(...cpu[n]), 1)}`,
      `${fmt(med(n) / med('undici'), 2)}×`,
      `${fmt(med(n) / med('consul'), 2)}×`,
      fmt(median(p50[n]), 0),
    ]),
  );
}
