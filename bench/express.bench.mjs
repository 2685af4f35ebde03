// Requests per second through consulConfig() against the same Express app without it,
// measured in one run with autocannon. The app runs in a child process (one core), the
// load generator here (the other core). Rounds alternate between the two apps so drift in
// the machine's speed hits both alike.
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROUNDS = 3;
const SECONDS = 5;
const CONNECTIONS = 20;
const GOAL = 0.97;

async function serve(variant) {
  const require = createRequire(new URL('../apps/express-demo/package.json', import.meta.url));
  const express = require('express');
  const { startDevServer } = await import('../packages/dev-server/dist/index.js');
  const { createConsulWatch } = await import('../packages/core/dist/index.js');
  const { consulConfig } = await import('../packages/express/dist/index.js');
  const dev = await startDevServer();
  const client = createConsulWatch({ address: dev.address });
  for (let i = 0; i < 50; i++)
    await client.kv.put(`bench/app/section${i % 5}/key${i}`, `value-${i}`);
  await client.kv.put('bench/app/ui/theme', 'dark');
  const app = express();
  const staticConfig = { ui: { theme: 'dark' } };
  if (variant === 'with') {
    const middleware = consulConfig({ client, layers: ['bench/app/'] });
    await middleware.config.ready(5_000);
    app.use(middleware);
    app.get('/', (req, res) => {
      res.json({ theme: req.config.ui.theme });
    });
  } else {
    app.get('/', (_req, res) => {
      res.json({ theme: staticConfig.ui.theme });
    });
  }
  const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('disconnect', () => process.exit(0));
}

function start(variant) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--serve', variant], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', ({ port }) => resolve({ child, port }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${variant} app exited with ${code}`)));
  });
}

async function load(port) {
  const autocannon = (await import('autocannon')).default;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/`,
    connections: CONNECTIONS,
    duration: SECONDS,
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main() {
  const runs = { with: [], without: [] };
  for (const variant of ['with', 'without']) {
    const { child, port } = await start(variant);
    await load(port); // warm-up, not counted
    child.kill();
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of round % 2 === 0 ? ['with', 'without'] : ['without', 'with']) {
      const { child, port } = await start(variant);
      runs[variant].push(await load(port));
      child.kill();
    }
  }
  const row = (name, list) =>
    `| ${name} | ${Math.round(median(list.map((r) => r.rps)))} | ${median(list.map((r) => r.p50))} | ${median(list.map((r) => r.p99))} |`;
  const ratio = median(runs.with.map((r) => r.rps)) / median(runs.without.map((r) => r.rps));
  console.log(
    `Express 5, ${CONNECTIONS} connections, ${SECONDS} s per round, median of ${ROUNDS} rounds, node ${process.version}\n`,
  );
  console.log('| app | req/s | p50 ms | p99 ms |\n| --- | --- | --- | --- |');
  console.log(row('with consulConfig() (req.config)', runs.with));
  console.log(row('without (a constant object)', runs.without));
  console.log(
    `\nratio with / without: ${ratio.toFixed(3)} (goal ≥ ${GOAL}: ${ratio >= GOAL ? 'met' : 'missed'})`,
  );
}

if (process.argv[2] === '--serve') await serve(process.argv[3]);
else await main();
