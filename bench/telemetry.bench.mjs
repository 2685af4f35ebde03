// What observability costs a change's latency. PUT → handler of a `key` watch, in three modes,
// each in a fresh child process so module state (the OpenTelemetry global, channel
// subscribers) cannot leak between them:
//   plain  — no diagnostics_channel subscriber, no OpenTelemetry SDK (the default)
//   dc     — a subscriber on every consul-watch channel (doing nothing with the messages)
//   otel   — the OpenTelemetry metrics SDK registered globally with a reader attached, so
//            core records every instrument; the reader collects every 100 ms
// The dev-server runs in a child of its own (one core); the modes run in interleaved rounds
// (plain dc otel plain dc otel …) and each round reports its p50; the table shows the median
// round and the spread, and each mode's p50 over plain's from the same round.
//
// `node bench/telemetry.bench.mjs [--rounds 7] [--samples 200]`

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
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

const self = fileURLToPath(import.meta.url);
const CORE_URL = '../packages/core/dist/index.js';
const DEV_SERVER_URL = '../packages/dev-server/dist/index.js';
const CHANNELS = [
  'consul-watch:request:start',
  'consul-watch:request:end',
  'consul-watch:delivery',
  'consul-watch:handler',
  'consul-watch:unavailable',
  'consul-watch:recovered',
  'consul-watch:live-config:update',
  'consul-watch:registration:heartbeat-failed',
];

const role = process.argv[2];

if (role === 'server') {
  let dev;
  serveParent({
    async start() {
      const { startDevServer } = await import(DEV_SERVER_URL);
      dev = await startDevServer();
      return { port: dev.port };
    },
    async close() {
      await dev?.close();
    },
  });
} else if (role === 'measure') {
  serveParent({
    /** PUT → handler latencies of one key watch, in ms, after `warmup` unmeasured changes. */
    async run(mode, port, samples, warmup) {
      let reader;
      let provider;
      let collecting;
      const noop = () => {};
      if (mode === 'dc') {
        const dc = await import('node:diagnostics_channel');
        for (const name of CHANNELS) dc.subscribe(name, noop);
      }
      if (mode === 'otel') {
        // Resolved where core resolves them: the SDK is one of core's dev dependencies.
        const fromCore = createRequire(new URL('../packages/core/package.json', import.meta.url));
        const { metrics } = fromCore('@opentelemetry/api');
        const sdk = fromCore('@opentelemetry/sdk-metrics');
        class Reader extends sdk.MetricReader {
          async onForceFlush() {}
          async onShutdown() {}
        }
        reader = new Reader();
        provider = new sdk.MeterProvider({ readers: [reader] });
        metrics.setGlobalMeterProvider(provider);
        // What a scrape or an export does, ten times a second.
        collecting = setInterval(() => void reader.collect(), 100);
      }
      const { createConsulWatch } = await import(CORE_URL);
      const client = createConsulWatch({ address: `127.0.0.1:${port}` });
      const key = `telemetry/${mode}-${process.pid}`;
      const agent = keepAliveAgent(1);
      let wake;
      let expected = '';
      const watch = client.watch({ type: 'key', key }, (change) => {
        const value = change.changes[0]?.entry?.value.toString();
        if (value === expected && wake) {
          const w = wake;
          wake = undefined;
          w(performance.now());
        }
      });
      await watch.ready();
      const latencies = [];
      for (let i = 0; i < warmup + samples; i++) {
        expected = `v${i}`;
        const seen = new Promise((resolve) => {
          wake = resolve;
        });
        const started = performance.now();
        await putKv({ agent, port, key, body: expected });
        const at = await seen;
        if (i >= warmup) latencies.push(at - started);
        // Past the pacing's burst a key changed every few ms waits for its next token (100/s by
        // default); 20 ms apart, each change finds the watch parked, as a setting's change does.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      clearInterval(collecting);
      if (reader) {
        // The mode measures something only if core did record: check the reader saw it.
        const { resourceMetrics } = await reader.collect();
        const names = resourceMetrics.scopeMetrics.flatMap((m) =>
          m.metrics.map((x) => x.descriptor.name),
        );
        if (!names.includes('consul_watch.delivery.duration'))
          throw new Error(`otel mode recorded nothing (saw ${names.join(', ') || 'no metric'})`);
      }
      await watch.stop();
      await client.close();
      agent.destroy();
      await provider?.shutdown();
      return latencies;
    },
  });
} else {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '7' },
      samples: { type: 'string', default: '200' },
    },
  });
  const rounds = Number(values.rounds);
  const samples = Number(values.samples);
  console.log(machineLine());
  const server = launch(self, ['server']);
  const { port } = await server.call('start');
  const modes = ['plain', 'dc', 'otel'];
  const results = Object.fromEntries(modes.map((m) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    for (const mode of modes) {
      const child = launch(self, ['measure']);
      const latencies = await child.call('run', mode, port, samples, 50);
      await child.stop();
      results[mode].push({ p50: median(latencies), p90: percentile(latencies, 90) });
    }
  }
  await server.call('close');
  await server.stop();
  const plainP50 = results.plain.map((x) => x.p50);
  const rows = modes.map((mode) => {
    const p50s = results[mode].map((x) => x.p50);
    const ratios = p50s.map((p, i) => p / plainP50[i]);
    return [
      mode,
      fmt(median(p50s), 3),
      `${fmt(Math.min(...p50s), 3)}–${fmt(Math.max(...p50s), 3)}`,
      fmt(median(results[mode].map((x) => x.p90)), 3),
      `${fmt(median(ratios), 3)}×`,
      `${fmt(Math.min(...ratios), 3)}–${fmt(Math.max(...ratios), 3)}`,
    ];
  });
  printTable(
    `PUT → handler of a key watch, ${samples} changes × ${rounds} interleaved rounds per mode`,
    [
      'mode',
      'p50 ms (median round)',
      'p50 spread',
      'p90 ms',
      'p50 / plain (same round)',
      'ratio spread',
    ],
    rows,
  );
}
