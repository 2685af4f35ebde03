// Where a key change's time goes inside the watching process, at the 15 ms cadence of
// engine.bench part 2: from the moment the answer's bytes reach JavaScript (net.Socket's
// push, the same point for undici and node:http) to the response's headers, to its end, and
// to the handler. Core's key watch against the npm `consul` client's watch, rounds
// interleaved; the dev-server runs in a child process (`answer-path.bench.mjs child`).
//   node --expose-gc bench/answer-path.bench.mjs [--rounds=6] [--core=path/to/dist/index.js]
import { fork } from 'node:child_process';
import { subscribe } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { fmt, keepAliveAgent, machineLine, median, percentile, printTable, putKv } from './lib.mjs';

const SAMPLES = 60;
const WARMUP = 5;
const GAP_MS = 15;
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function childRole() {
  const { startDevServer } = await import('../packages/dev-server/dist/index.js');
  const dev = await startDevServer({ port: 0, host: '127.0.0.1' });
  process.send(dev.port);
  process.on('disconnect', () => dev.close().then(() => process.exit(0)));
}

async function main() {
  const { values } = parseArgs({
    options: { rounds: { type: 'string', default: '6' }, core: { type: 'string' } },
  });
  const rounds = Number.parseInt(values.rounds, 10);
  if (!(rounds >= 1 && rounds <= 40)) throw new Error('--rounds must be 1..40');
  const coreUrl = values.core
    ? pathToFileURL(resolve(values.core)).href
    : new URL('../packages/core/dist/index.js', import.meta.url).href;
  const core = await import(coreUrl);
  const Consul = createRequire(import.meta.url)('consul');
  console.log(machineLine());

  const child = fork(fileURLToPath(import.meta.url), ['child'], { stdio: 'inherit' });
  const port = await new Promise((r) => child.once('message', r));
  const guard = setTimeout(() => {
    console.error('answer-path bench: still running after 5 min, stopping');
    child.kill();
    process.exit(1);
  }, 5 * 60_000);

  // The moments of one answer; the same clock (performance.now) for both peers.
  const at = { push: 0, headers: 0, complete: 0 };
  const originalPush = Socket.prototype.push;
  Socket.prototype.push = function push(chunk, encoding) {
    if (chunk && this.remotePort === port) at.push = performance.now();
    return originalPush.call(this, chunk, encoding);
  };
  subscribe('undici:request:headers', () => {
    at.headers = performance.now();
  });
  subscribe('undici:request:trailers', () => {
    at.complete = performance.now();
  });
  // node:http publishes when the response's head is parsed; its body is in the same chunk.
  subscribe('http.client.response.finish', () => {
    at.headers = performance.now();
    at.complete = at.headers;
  });

  const agent = keepAliveAgent(1);
  const put = (body) => putKv({ agent, port, key: 'path/key', body, timeoutMs: 10_000 });
  await put('v0');
  let rev = 0;

  const peers = {
    core: async (onValue) => {
      const client = core.createConsulWatch({ address: `127.0.0.1:${port}` });
      const w = client.watch({ type: 'key', key: 'path/key', initial: false }, (change) =>
        onValue(change.entries.get('path/key')?.value?.toString()),
      );
      await w.ready(10_000);
      return async () => {
        await w.stop();
        await client.close();
      };
    },
    'npm consul watch': async (onValue) => {
      const consul = new Consul({ host: '127.0.0.1', port });
      const w = consul.watch({ method: consul.kv.get, options: { key: 'path/key', wait: '5m' } });
      await new Promise((r) => w.once('change', r));
      w.on('change', (data) => onValue(data?.Value));
      return async () => w.end();
    },
  };
  const results = Object.fromEntries(
    Object.keys(peers).map((name) => [
      name,
      { total: [], toHeaders: [], toComplete: [], toHandler: [], inProcess: [] },
    ]),
  );

  try {
    for (let r = 0; r < rounds; r++) {
      for (const [name, start] of Object.entries(peers)) {
        const out = results[name];
        let expect;
        const stop = await start((value) => {
          const now = performance.now();
          if (expect && value === expect.body) {
            const e = expect;
            expect = undefined;
            e.resolve(now);
          }
        });
        try {
          for (let i = 0; i < WARMUP + SAMPLES; i++) {
            await sleep(GAP_MS);
            const body = `v${++rev}`;
            const seen = new Promise((resolve) => {
              expect = { body, resolve };
            });
            const t0 = performance.now();
            const written = put(body);
            const handlerAt = await seen;
            await written;
            if (i < WARMUP) continue;
            out.total.push(handlerAt - t0);
            out.inProcess.push(handlerAt - at.push);
            out.toHeaders.push(at.headers - at.push);
            out.toComplete.push(at.complete - at.headers);
            out.toHandler.push(handlerAt - at.complete);
          }
        } finally {
          await stop();
        }
      }
    }
  } finally {
    Socket.prototype.push = originalPush;
    agent.destroy();
    child.disconnect();
    clearTimeout(guard);
  }

  const us = (list, p = 50) => fmt(1000 * percentile(list, p));
  printTable(
    `Key watch, one change every ${GAP_MS} ms: PUT → handler and its in-process part (${rounds} interleaved rounds × ${SAMPLES} samples per peer), µs`,
    [
      'peer',
      'PUT → handler p50',
      'bytes in JS → handler p50',
      'p90',
      'bytes → response head',
      'head → response end',
      'response end → handler',
    ],
    Object.entries(results).map(([name, r]) => [
      name,
      fmt(1000 * median(r.total)),
      us(r.inProcess),
      us(r.inProcess, 90),
      us(r.toHeaders),
      us(r.toComplete),
      us(r.toHandler),
    ]),
  );
  console.log(
    `\n"Bytes in JS" is the last net.Socket push on a connection to the dev-server before the handler ran (both clients read through it); "response head" and "response end" are undici's diagnostics channels (undici:request:headers, undici:request:trailers) for core and node:http's http.client.response.finish for the npm watch (its body comes in the same chunk, so its head → end is 0 here). Columns are p50 of each part, so they need not add up. ${machineLine()}`,
  );
}

if (process.argv[2] === 'child') await childRole();
else await main();
