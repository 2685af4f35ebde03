// A change rolled through a fleet: N consul-env instances on one dev-server, each running a
// small program that takes 200 ms to stop and answers ready 300 ms after it starts. A burst of
// 30 key writes, 20 ms apart, goes out; measured per way of running consul-env:
//   restarts per instance, the most programs stopped or not ready at one moment (from the
//   programs' own logs), the time from the first write until every program runs the final
//   environment and is ready, and the requests the fleet sent to Consul meanwhile.
// Peer, in the same run: consul-env as it was before these options (a restart per change).
//   node bench/rollout.bench.mjs [--instances=20] [--runs=3] [--modes=plain,wait,...]

import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { keepAliveAgent, machineLine, markdownTable, median, putKv } from './lib.mjs';

const { values: flags } = parseArgs({
  options: {
    instances: { type: 'string', default: '20' },
    runs: { type: 'string', default: '3' },
    modes: { type: 'string' },
  },
});
const INSTANCES = Number(flags.instances);
const RUNS = Number(flags.runs);
const WRITES = 30;
const WRITE_GAP_MS = 20;
const STOP_MS = 200;
const READY_MS = 300;
/** A mode that has not settled this long after the first write is reported as unfinished. */
const DEADLINE_MS = 90_000;

const cli = fileURLToPath(new URL('../packages/config-loader/dist/cli.js', import.meta.url));
const MODES = {
  plain: { label: 'no options (before)', args: () => [] },
  wait: { label: '--wait 500', args: () => ['--wait', '500'] },
  splay: { label: '--wait 500 --splay 1000', args: () => ['--wait', '500', '--splay', '1000'] },
  rolling2: {
    label: '--wait 500 --rolling --max-restarting 2',
    args: (key, port) => [
      '--wait',
      '500',
      '--rolling',
      key,
      '--max-restarting',
      '2',
      '--ready-url',
      `http://127.0.0.1:${port}/`,
    ],
  },
  rolling25: {
    label: '--wait 500 --rolling --max-restarting 25%',
    args: (key, port) => [
      '--wait',
      '500',
      '--rolling',
      key,
      '--max-restarting',
      '25%',
      '--ready-url',
      `http://127.0.0.1:${port}/`,
    ],
  },
};
const modes = flags.modes ? flags.modes.split(',') : Object.keys(MODES);
for (const m of modes)
  if (!MODES[m]) throw new Error(`unknown mode ${m}: ${Object.keys(MODES).join(', ')}`);

const dir = mkdtempSync(join(tmpdir(), 'cw-rollout-bench-'));
const program = join(dir, 'program.mjs');
// The fleet's program: logs its life (start, ready, stopping) with the value it runs on.
writeFileSync(
  program,
  `import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
const log = (what) => appendFileSync(process.env.LOG, [Date.now(), process.env.INSTANCE, what, process.env.N ?? '-'].join(' ') + '\\n');
let ready = false;
const server = createServer((req, res) => { res.statusCode = ready ? 200 : 503; res.end(); });
server.listen(Number(process.env.PORT), '127.0.0.1');
log('start');
setTimeout(() => { ready = true; log('ready'); }, ${READY_MS});
process.on('SIGTERM', () => {
  log('stopping');
  setTimeout(() => { server.close(); process.exit(0); }, ${STOP_MS});
});
setInterval(() => {}, 1000);
`,
);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The instances of the mode running now, ended if the benchmark is interrupted. */
let running = [];
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => {
    for (const child of running) child.kill('SIGTERM');
    process.exit(130);
  });

/**
 * A port for a program's ready URL, below Linux's ephemeral range (32768 and up): a port the
 * kernel handed out and took back is soon some instance's outgoing connection to Consul.
 */
let nextPort = 20_000 + (process.pid % 4_000);
async function freePort() {
  for (;;) {
    const port = nextPort++;
    if (nextPort >= 32_000) nextPort = 20_000;
    const server = createServer();
    const free = await new Promise((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!free) continue;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }
}

function readLog(file) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {}
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [at, id, what, n] = line.split(' ');
      return { at: Number(at), id, what, n };
    });
}

/** Per instance, its last event: the fleet is done when every one is `ready` on `final`. */
function allReadyOn(events, final) {
  const last = new Map();
  for (const e of events) last.set(e.id, e);
  if (last.size < INSTANCES) return false;
  for (const e of last.values()) if (e.what !== 'ready' || e.n !== final) return false;
  return true;
}

async function runMode(dev, name, run) {
  const mode = MODES[name];
  const tag = `${name}-${run}`;
  const log = join(dir, `${tag}.log`);
  const prefix = `bench/rollout/${tag}`;
  const key = `bench/rollout-sem/${tag}`;
  const agent = keepAliveAgent(1);
  await putKv({ agent, port: dev.port, key: `${prefix}/n`, body: '0', timeoutMs: 10_000 });
  const children = [];
  running = children;
  for (let i = 0; i < INSTANCES; i++) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        cli,
        '--http-addr',
        dev.address,
        '--prefix',
        prefix,
        ...mode.args(key, port),
        '--',
        process.execPath,
        program,
      ],
      {
        env: { ...process.env, LOG: log, INSTANCE: `i${i}`, PORT: String(port) },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    // consul-env's own lines: a restart is one 'changed:' line. A program killed while it
    // starts never writes its own log, so restarts are counted here, not there.
    child.out = '';
    child.stdout.on('data', (chunk) => {
      child.out += chunk;
    });
    children.push(child);
  }
  try {
    // Every program up and ready on the first value before the burst.
    const starting = Date.now();
    while (!allReadyOn(readLog(log), '0')) {
      if (Date.now() - starting > DEADLINE_MS) throw new Error(`${tag}: the fleet never started`);
      await sleep(50);
    }
    // With a percentage, wait until every instance is seated at the semaphore.
    if (name === 'rolling25')
      for (;;) {
        const res = await fetch(`${dev.url}/v1/kv/${key}/?keys`);
        const keys = res.status === 200 ? await res.json() : [];
        if (keys.filter((k) => !k.endsWith('.lock')).length >= INSTANCES) break;
        await sleep(50);
      }
    const before = readLog(log).length;
    const outBefore = children.map((c) => c.out.length);
    const requests0 = dev.stats.requests;
    const first = Date.now();
    for (let i = 1; i <= WRITES; i++) {
      await putKv({
        agent,
        port: dev.port,
        key: `${prefix}/n`,
        body: String(i),
        timeoutMs: 10_000,
      });
      if (i < WRITES) await sleep(WRITE_GAP_MS);
    }
    const burstMs = Date.now() - first;
    const final = String(WRITES);
    let done = false;
    while (Date.now() - first < DEADLINE_MS) {
      if (allReadyOn(readLog(log), final)) {
        done = true;
        break;
      }
      await sleep(20);
    }
    const doneAt = Date.now();
    const requests = dev.stats.requests - requests0;
    const events = readLog(log).slice(before);
    // Restarts per instance after the burst began, from consul-env's lines.
    const restarts = new Map(
      children.map((c, i) => [
        `i${i}`,
        c.out
          .slice(outBefore[i])
          .split('\n')
          .filter((l) => l.startsWith('consul-env: changed:')).length,
      ]),
    );
    // Not ready: from its program's SIGTERM until a successor answers ready.
    const down = new Set();
    let most = 0;
    for (const e of [...events].sort((a, b) => a.at - b.at)) {
      if (e.what === 'stopping') down.add(e.id);
      if (e.what === 'ready') down.delete(e.id);
      most = Math.max(most, down.size);
    }
    const per = [...restarts.values()];
    return {
      done,
      restartsMin: Math.min(...per),
      restartsMax: Math.max(...per),
      restartsMean: per.reduce((a, b) => a + b, 0) / per.length,
      most,
      allFinalMs: doneAt - first,
      burstMs,
      requests,
    };
  } finally {
    agent.destroy();
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((c) =>
        c.exitCode === null && c.signalCode === null
          ? new Promise((r) => c.once('exit', r))
          : undefined,
      ),
    );
    await sleep(200);
  }
}

const { startDevServer } = await import('../packages/dev-server/dist/index.js');
const dev = await startDevServer();
const results = Object.fromEntries(modes.map((m) => [m, []]));
try {
  for (let run = 1; run <= RUNS; run++)
    for (const name of modes) {
      const r = await runMode(dev, name, run);
      results[name].push(r);
      const line = `run ${run} ${name}: ${JSON.stringify(r)}`;
      console.error(line);
      appendFileSync(join(dir, 'progress.txt'), `${line}\n`);
    }
} finally {
  await dev.close();
}

const spread = (values, digits = 0) => {
  const m = median(values);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const f = (v) => v.toFixed(digits);
  return lo === hi ? f(m) : `${f(m)} (${f(lo)}–${f(hi)})`;
};
console.log(
  `\n### rollout: ${INSTANCES} consul-env instances, a burst of ${WRITES} writes ${WRITE_GAP_MS} ms apart (median of ${RUNS} runs, range in brackets)\n`,
);
console.log(machineLine());
console.log(
  `\n${markdownTable(
    [
      'consul-env',
      'restarts per instance (min–max)',
      'most not ready at once',
      'all ready on the final value, ms',
      'requests to Consul',
      'the burst took, ms',
      'finished',
    ],
    modes.map((name) => {
      const rs = results[name];
      return [
        MODES[name].label,
        `${median(rs.map((r) => r.restartsMin))}–${median(rs.map((r) => r.restartsMax))} (mean ${spread(
          rs.map((r) => r.restartsMean),
          1,
        )})`,
        spread(rs.map((r) => r.most)),
        spread(rs.map((r) => r.allFinalMs)),
        spread(rs.map((r) => r.requests)),
        spread(rs.map((r) => r.burstMs)),
        `${rs.filter((r) => r.done).length}/${rs.length}`,
      ];
    }),
  )}`,
);
rmSync(dir, { recursive: true, force: true });
