// Requests per second of a Fastify 5 app with the @consul-watch/fastify plugin (the handler
// answers from request.config) against the same app without it (a constant object), in one run.
// Both apps listen in one child process (on an embedded dev-server with a 55-key config), so
// they share whatever luck that process has with the JIT and the scheduler: two processes of
// the same app differed by up to 40 % here, more than anything a plugin could cost. The load
// comes from this process over raw keep-alive sockets (lib.mjs's loadLoop), one app at a time.
// Rounds alternate between the apps (A B B A A B …) so drift in the machine's speed hits both
// alike; the table shows every round, so the spread is there to see. A pair of rounds in which
// other processes took more than a quarter of a core is measured again (at most 3 times), and the
// table says how many were. On Linux the server is
// pinned to CPU 0 and the load generator to CPU 1 (taskset), so the two never trade places, and
// the server's CPU time per request is shown beside the rate: it moves less with other load.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  busyCores,
  fmt,
  launch,
  loadLoop,
  machineCpuMark,
  machineLine,
  median,
  printTable,
  serveParent,
} from './lib.mjs';

const ROUNDS = 10;
const ROUND_MS = 3_000;
const WARMUP_MS = 3_000;
const CONCURRENCY = 20;
const GOAL = 0.97;
/** A round in which other processes used more than this (% of one core) is disturbed. */
const DISTURBED = 25;
const RETRIES = 3;

/** The child: both apps, each on a free port. */
async function serve() {
  const require = createRequire(new URL('../apps/fastify-demo/package.json', import.meta.url));
  const Fastify = require('fastify');
  const { startDevServer } = await import('../packages/dev-server/dist/index.js');
  const { createConsulWatch } = await import('../packages/core/dist/index.js');
  const { consulConfig } = await import('../packages/fastify/dist/index.js');
  const dev = await startDevServer();
  const client = createConsulWatch({ address: dev.address });
  for (let i = 0; i < 50; i++)
    await client.kv.put(`bench/app/section${i % 5}/key${i}`, `value-${i}`);
  await client.kv.put('bench/app/ui/theme', 'dark');

  const withPlugin = Fastify();
  await withPlugin.register(consulConfig, { client, layers: ['bench/app/'] });
  await withPlugin.liveConfig.ready(5_000);
  withPlugin.get('/', async (request) => ({ theme: request.config.ui.theme }));

  const without = Fastify();
  const staticConfig = { ui: { theme: 'dark' } };
  without.get('/', async () => ({ theme: staticConfig.ui.theme }));

  const ports = {};
  for (const [variant, app] of Object.entries({ with: withPlugin, without })) {
    await app.listen({ port: 0, host: '127.0.0.1' });
    ports[variant] = app.server.address().port;
  }
  let since = process.cpuUsage();
  serveParent({
    ports: () => ports,
    /** CPU this process used since the last call, ms. */
    cpuMs: () => {
      const used = process.cpuUsage(since);
      since = process.cpuUsage();
      return (used.user + used.system) / 1000;
    },
  });
}

async function round(server, port, durationMs) {
  await server.call('cpuMs');
  const mark = machineCpuMark();
  const result = await loadLoop({
    port,
    concurrency: CONCURRENCY,
    durationMs,
    describe: () => ({ method: 'GET', path: '/' }),
  });
  if (result.errors > 0) throw new Error(`${result.errors} errors, first: ${result.firstError}`);
  const serverCpuMs = await server.call('cpuMs');
  const seconds = result.elapsedMs / 1000;
  const others = busyCores(mark) - (serverCpuMs + result.clientCpuMs) / result.elapsedMs;
  return {
    rps: result.perSecond,
    cpuUs: (serverCpuMs * 1000) / result.ok,
    serverCpu: serverCpuMs / 10 / seconds,
    others: others * 100,
  };
}

async function main() {
  const server = launch(fileURLToPath(import.meta.url), ['--serve']);
  // Each on a core of its own, all threads (no taskset: left to the scheduler).
  const pinned =
    spawnSync('taskset', ['-a', '-cp', '0', String(server.pid)]).status === 0 &&
    spawnSync('taskset', ['-a', '-cp', '1', String(process.pid)]).status === 0;
  try {
    const ports = await server.call('ports');
    for (const variant of ['with', 'without']) await round(server, ports[variant], WARMUP_MS);
    const rounds = { with: [], without: [] };
    let remeasured = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const order = i % 2 === 0 ? ['with', 'without'] : ['without', 'with'];
      let pair;
      for (let attempt = 0; attempt <= RETRIES; attempt++) {
        if (attempt > 0) remeasured += 1;
        pair = {};
        for (const variant of order) pair[variant] = await round(server, ports[variant], ROUND_MS);
        if (pair.with.others <= DISTURBED && pair.without.others <= DISTURBED) break;
      }
      for (const variant of order) rounds[variant].push(pair[variant]);
    }
    const rps = (variant) => rounds[variant].map((r) => r.rps);
    const ratios = rounds.with.map((r, i) => r.rps / rounds.without[i].rps);
    const ratio = median(rps('with')) / median(rps('without'));
    const disturbed = rounds.with.filter(
      (r, i) => r.others > DISTURBED || rounds.without[i].others > DISTURBED,
    ).length;
    const cpuUs = (variant) => median(rounds[variant].map((r) => r.cpuUs));
    console.log(`${machineLine()}; ${pinned ? 'server on CPU 0, load on CPU 1' : 'not pinned'}`);
    console.log(
      `${remeasured} pair(s) measured again for other processes' load; ${disturbed} of ${ROUNDS} kept pairs still disturbed (> ${DISTURBED} % of a core)`,
    );
    printTable(
      `Fastify 5, ${CONCURRENCY} keep-alive connections, ${ROUNDS} interleaved rounds of ${ROUND_MS / 1000} s per app after a ${WARMUP_MS / 1000} s warm-up`,
      [
        'app',
        'median req/s',
        'min–max req/s',
        'rounds (k req/s)',
        'server CPU µs/req',
        'server CPU',
        'other processes',
      ],
      ['with', 'without'].map((variant) => [
        variant === 'with' ? 'with the plugin (request.config)' : 'without (a constant object)',
        fmt(median(rps(variant))),
        `${fmt(Math.min(...rps(variant)))}–${fmt(Math.max(...rps(variant)))}`,
        rps(variant)
          .map((v) => (v / 1000).toFixed(1))
          .join(' / '),
        fmt(cpuUs(variant), 1),
        `${fmt(median(rounds[variant].map((r) => r.serverCpu)))} %`,
        `${fmt(median(rounds[variant].map((r) => r.others)))} %`,
      ]),
    );
    console.log(
      `\nratio of the medians, with / without: ${ratio.toFixed(3)} (goal ≥ ${GOAL}: ${ratio >= GOAL ? 'met' : 'MISSED'}); median of the round-by-round ratios: ${median(ratios).toFixed(3)}; round by round: ${ratios.map((r) => r.toFixed(3)).join(' / ')} (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}); server CPU per request, without / with: ${(cpuUs('without') / cpuUs('with')).toFixed(3)}`,
    );
  } finally {
    await server.stop();
  }
}

if (process.argv[2] === '--serve') await serve();
else await main();
