// @consul-watch/openfeature's ConsulFlagProvider, each figure next to a peer measured in the same
// run: evaluation CPU per call against FlagdCore evaluating the same document directly; PUT →
// PROVIDER_CONFIGURATION_CHANGED against core's key watch PUT → handler; memory per provider with
// 200 flags against a FlagdCore holding the same 200 flags.
//
// Roles: `node openfeature.bench.mjs` is the client and measures; `... server` is the child it
// forks to run the dev-server, so server and client each have one of the two cores.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  collectGarbage,
  fmt,
  keepAliveAgent,
  launch,
  machineLine,
  median,
  percentile,
  printTable,
  putKv,
  serveParent,
} from './lib.mjs';

const settings = {
  evaluation: { rounds: 10, calls: 100_000, warmup: 20_000 },
  latency: { rounds: 6, samples: 100, warmup: 10, gapMs: 5 },
  memory: { instances: 20, flags: 200 },
  stepTimeoutMs: 10_000,
};
const GOAL = 1.1;

const self = fileURLToPath(import.meta.url);
const require = createRequire(new URL('../packages/openfeature/package.json', import.meta.url));

/** A flagd document of `count` flags: static, targeted (ends_with, sem_ver, $ref) and fractional. */
function document(count, seq = 0) {
  const flags = {};
  for (let i = 0; i < count; i++) {
    const base = { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' };
    const kind = i % 4;
    if (kind === 1)
      base.targeting = { if: [{ ends_with: [{ var: 'email' }, '@example.com'] }, 'on', null] };
    if (kind === 2)
      base.targeting = { if: [{ sem_ver: [{ var: 'version' }, '>=', '2.0.0'] }, 'on', 'off'] };
    if (kind === 3)
      base.targeting = {
        fractional: [
          ['on', 50],
          ['off', 50],
        ],
      };
    if (i === 0) base.targeting = { if: [{ $ref: 'staff' }, 'on', 'off'] };
    if (i === 0) base.metadata = { seq };
    flags[`flag-${i}`] = base;
  }
  return JSON.stringify({
    flags,
    $evaluators: { staff: { ends_with: [{ var: 'email' }, '@example.com'] } },
  });
}

/** `promise`, or a rejection naming `what` after `ms`; the timer does not outlive it. */
async function within(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const contexts = Array.from({ length: 64 }, (_, i) => ({
  targetingKey: `user-${i}`,
  email: i % 3 === 0 ? `u${i}@example.com` : `u${i}@other.org`,
  version: i % 2 === 0 ? '2.1.0' : '1.9.3',
}));

async function main() {
  const { createConsulWatch } = await import('../packages/core/dist/index.js');
  const { ConsulFlagProvider } = await import('../packages/openfeature/dist/index.js');
  const { FlagdCore } = require('@openfeature/flagd-core');
  const { ProviderEvents } = require('@openfeature/server-sdk');

  console.log(machineLine());
  const server = launch(self, ['server'], { callTimeoutMs: 60_000 });
  const closers = [];
  try {
    const { port, address } = await server.call('start');
    const putAgent = keepAliveAgent(1);
    closers.push(() => putAgent.destroy());
    // The dev-server ends a keep-alive connection idle past its timeout; a PUT that finds it
    // closed goes again once, on a new connection.
    const put = (key, body) =>
      putKv({ agent: putAgent, port, key, body, timeoutMs: settings.stepTimeoutMs }).catch(() =>
        putKv({ agent: putAgent, port, key, body, timeoutMs: settings.stepTimeoutMs }),
      );

    // ---------------------------------------------------------------- 1. evaluation CPU
    const E = settings.evaluation;
    const evalDoc = document(20);
    await put('bench/eval.json', evalDoc);
    const direct = new FlagdCore();
    direct.setConfigurations(evalDoc);
    const evalClient = createConsulWatch({ address });
    closers.push(() => evalClient.close());
    const provider = new ConsulFlagProvider({ sources: ['bench/eval.json'], client: evalClient });
    await provider.initialize();
    closers.push(() => provider.onClose());
    const names = Object.keys(JSON.parse(evalDoc).flags);
    const peers = {
      'FlagdCore directly (sync)': async (n) => {
        let on = 0;
        for (let i = 0; i < n; i++)
          if (direct.resolveBooleanEvaluation(names[i % 20], false, contexts[i % 64]).value) on++;
        return on;
      },
      'FlagdCore behind an await (the Provider interface is async)': async (n) => {
        let on = 0;
        for (let i = 0; i < n; i++)
          if (
            (
              await Promise.resolve(
                direct.resolveBooleanEvaluation(names[i % 20], false, contexts[i % 64]),
              )
            ).value
          )
            on++;
        return on;
      },
      'ConsulFlagProvider (awaited)': async (n) => {
        let on = 0;
        for (let i = 0; i < n; i++)
          if (
            (await provider.resolveBooleanEvaluation(names[i % 20], false, contexts[i % 64])).value
          )
            on++;
        return on;
      },
    };
    const perCall = Object.fromEntries(Object.keys(peers).map((p) => [p, []]));
    const answers = {};
    for (const run of Object.values(peers)) await run(E.warmup);
    for (let round = 0; round < E.rounds; round++) {
      const order = Object.keys(peers);
      if (round % 2 === 1) order.reverse();
      for (const name of order) {
        collectGarbage();
        const before = process.cpuUsage();
        answers[name] = await peers[name](E.calls);
        const cpu = process.cpuUsage(before);
        perCall[name].push(((cpu.user + cpu.system) / E.calls) * 1000); // ns per call
      }
    }
    const base = median(perCall['FlagdCore directly (sync)']);
    const baseAwait = median(
      perCall['FlagdCore behind an await (the Provider interface is async)'],
    );
    printTable(
      `1. Evaluation CPU per call: 20 flags (static, ends_with, sem_ver, fractional, $ref), 64 contexts, ${E.rounds} interleaved rounds × ${fmt(E.calls)} calls (${fmt(E.warmup)} warm-up per peer)`,
      [
        'peer',
        'ns/call median',
        'min',
        'max',
        '× FlagdCore sync',
        '× FlagdCore awaited',
        'variants "on"',
      ],
      Object.entries(perCall).map(([name, values]) => [
        name,
        fmt(median(values)),
        fmt(Math.min(...values)),
        fmt(Math.max(...values)),
        `${(median(values) / base).toFixed(2)}×`,
        `${(median(values) / baseAwait).toFixed(2)}×`,
        fmt(answers[name]),
      ]),
    );
    const evalRatio = median(perCall['ConsulFlagProvider (awaited)']) / base;
    const evalRatioAwait = median(perCall['ConsulFlagProvider (awaited)']) / baseAwait;
    console.log(
      `\nprovider / FlagdCore sync: ${evalRatio.toFixed(3)} (goal ≤ ${GOAL}: ${evalRatio <= GOAL ? 'met' : 'missed'}); provider / FlagdCore awaited: ${evalRatioAwait.toFixed(3)}`,
    );

    // ---------------------------------------------------------------- 2. PUT → event latency
    const L = settings.latency;
    let lastEnd = 0;
    const pace = async () => {
      const wait = lastEnd + L.gapMs - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await server.call('whenParked', 1, settings.stepTimeoutMs);
    };
    const latencyDoc = (i) => document(20, i);
    let seq = 0;
    const samplers = {
      'core key watch: PUT → handler': async () => {
        const client = createConsulWatch({ address });
        const key = 'bench/watch.json';
        await put(key, latencyDoc(++seq));
        let waiting;
        const watch = client.watch({ type: 'key', key, initial: false }, () =>
          waiting?.(performance.now()),
        );
        await watch.ready(settings.stepTimeoutMs);
        return {
          arm: () => new Promise((resolve) => (waiting = resolve)),
          key,
          stop: async () => {
            await watch.stop();
            await client.close();
          },
        };
      },
      'ConsulFlagProvider: PUT → PROVIDER_CONFIGURATION_CHANGED': async () => {
        const client = createConsulWatch({ address });
        const key = 'bench/provider.json';
        await put(key, latencyDoc(++seq));
        const p = new ConsulFlagProvider({ sources: [key], client });
        let waiting;
        p.events.addHandler(ProviderEvents.ConfigurationChanged, () =>
          waiting?.(performance.now()),
        );
        await p.initialize();
        return {
          arm: () => new Promise((resolve) => (waiting = resolve)),
          key,
          stop: async () => {
            await p.onClose();
            await client.close();
          },
        };
      },
    };
    const times = Object.fromEntries(Object.keys(samplers).map((s) => [s, []]));
    for (let round = 0; round < L.rounds; round++) {
      const order = Object.keys(samplers);
      if (round % 2 === 1) order.reverse();
      for (const name of order) {
        const s = await samplers[name]();
        try {
          for (let i = 0; i < L.warmup + L.samples; i++) {
            await pace();
            const arrived = s.arm();
            const body = latencyDoc(++seq);
            const t0 = performance.now();
            // Never rejects, so a failed PUT is not an unhandled rejection while the event is awaited.
            const written = put(s.key, body).then(
              () => undefined,
              (error) => error,
            );
            const at = await within(arrived, settings.stepTimeoutMs, `${name} delivery`);
            const failed = await written;
            if (failed) throw failed;
            lastEnd = performance.now();
            if (i >= L.warmup) times[name].push(at - t0);
          }
        } finally {
          await s.stop();
        }
      }
    }
    const p50 = (name) => percentile(times[name], 50);
    const coreP50 = p50('core key watch: PUT → handler');
    printTable(
      `2. PUT → delivery, one 20-flag document (${L.rounds} interleaved rounds × ${L.samples} samples per peer, ${L.warmup} unmeasured per round; before each sample ${L.gapMs} ms idle and the server reporting the query parked)`,
      ['peer', 'p50 ms', 'p99 ms', 'max ms', '× core key watch p50'],
      Object.keys(samplers).map((name) => [
        name,
        fmt(p50(name), 3),
        fmt(percentile(times[name], 99), 3),
        fmt(Math.max(...times[name]), 3),
        `${(p50(name) / coreP50).toFixed(2)}×`,
      ]),
    );
    const latencyRatio = p50('ConsulFlagProvider: PUT → PROVIDER_CONFIGURATION_CHANGED') / coreP50;
    console.log(
      `\nprovider / core key watch p50: ${latencyRatio.toFixed(3)} (goal ≤ ${GOAL}: ${latencyRatio <= GOAL ? 'met' : 'missed'})`,
    );

    // ---------------------------------------------------------------- 3. memory
    const M = settings.memory;
    const bigDoc = document(M.flags);
    await put('bench/big.json', bigDoc);
    const heap = () => {
      collectGarbage();
      collectGarbage();
      return process.memoryUsage().heapUsed;
    };
    const memClient = createConsulWatch({ address });
    closers.push(() => memClient.close());
    const keepWatch = memClient.watch({ type: 'key', key: 'bench/big.json' });
    await keepWatch.ready(settings.stepTimeoutMs);
    closers.push(() => keepWatch.stop());
    const cores = [];
    let h0 = heap();
    for (let i = 0; i < M.instances; i++) {
      const c = new FlagdCore();
      c.setConfigurations(bigDoc);
      cores.push(c);
    }
    const perCore = (heap() - h0) / M.instances;
    const providers = [];
    h0 = heap();
    for (let i = 0; i < M.instances; i++) {
      const p = new ConsulFlagProvider({ sources: ['bench/big.json'], client: memClient });
      await p.initialize();
      providers.push(p);
    }
    const perProvider = (heap() - h0) / M.instances;
    if (providers.some((p) => p.resolveBooleanEvaluation === undefined) || cores.length === 0)
      throw new Error('unreachable');
    await Promise.all(providers.map((p) => p.onClose()));
    printTable(
      `3. Heap per instance holding ${M.flags} flags (${M.instances} instances, one shared client and watch, after GC)`,
      ['peer', 'KiB per instance', '× FlagdCore'],
      [
        ['FlagdCore.setConfigurations(document)', fmt(perCore / 1024), '1.00×'],
        [
          'ConsulFlagProvider (initialized)',
          fmt(perProvider / 1024),
          `${(perProvider / perCore).toFixed(2)}×`,
        ],
      ],
    );
  } finally {
    for (const close of closers.reverse()) await close();
    await server.stop();
  }
}

if (process.argv[2] === 'server') {
  let server;
  serveParent({
    async start() {
      const { startDevServer } = await import('../packages/dev-server/dist/index.js');
      server = await startDevServer({ port: 0, host: '127.0.0.1', nodeName: 'bench' });
      return { port: server.port, address: server.address };
    },
    whenParked: (count, timeoutMs) => server.whenParked(count, timeoutMs),
  });
} else {
  await main();
}
