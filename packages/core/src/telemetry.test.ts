import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { until } from '@consul-watch/dev-server/testing';
import { metrics } from '@opentelemetry/api';
import {
  DataPointType,
  type HistogramMetricData,
  MeterProvider,
  type MetricData,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { proxiedClient, uniquePrefix } from '../test/helpers';
import { CHANNEL_NAMES } from './diagnostics';
import { healthReport } from './health';
import { silentLogger } from './logger';

// An outage needs a proxy in front of the server: these run on the embedded dev-server.
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

const setup = () =>
  proxiedClient(cleanup, {
    logger: silentLogger,
    availability: { probeMinMs: 10, probeMaxMs: 50 },
  });

/** Collects what is published on the given channels while a test runs. */
function listen(...names: string[]) {
  const seen: { channel: string; message: Record<string, unknown> }[] = [];
  for (const name of names) {
    const handler = (message: unknown) =>
      seen.push({ channel: name, message: message as Record<string, unknown> });
    subscribe(name, handler);
    cleanup.push(() => void unsubscribe(name, handler));
  }
  return {
    seen,
    of: (name: string) => seen.filter((s) => s.channel === name).map((s) => s.message),
    until: (name: string, match: (m: Record<string, unknown>) => boolean = () => true) =>
      until(
        () => seen.some((s) => s.channel === name && match(s.message)),
        5_000,
        () => `nothing matching on ${name}; saw ${seen.map((s) => s.channel).join(', ')}`,
      ),
  };
}

class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** A MeterProvider registered globally, as an application's SDK setup does, and a reader. */
function sdk() {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(provider);
  cleanup.push(async () => {
    metrics.disable();
    await provider.shutdown();
  });
  const collect = async (): Promise<MetricData[]> => {
    const { resourceMetrics } = await reader.collect();
    return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
  };
  const points = async (name: string) =>
    (await collect()).find((m) => m.descriptor.name === name)?.dataPoints ?? [];
  return { collect, points, reader };
}

describe('diagnostics channels', () => {
  it('publishes requests, deliveries and handler ends of a watch', async () => {
    const { client } = await setup();
    const key = `${uniquePrefix('dc')}flag`;
    const channels = listen(
      CHANNEL_NAMES.requestStart,
      CHANNEL_NAMES.requestEnd,
      CHANNEL_NAMES.delivery,
      CHANNEL_NAMES.handler,
    );
    const watch = client.watch({ type: 'key', key }, () => {});
    await watch.ready();
    await client.kv.put(key, 'on');
    await channels.until(CHANNEL_NAMES.delivery, (m) => m.initial === false);
    await channels.until(CHANNEL_NAMES.handler);
    const [start] = channels.of(CHANNEL_NAMES.requestStart);
    expect(start).toMatchObject({ type: 'key', watch: `key ${JSON.stringify(key)}` });
    const answered = channels.of(CHANNEL_NAMES.requestEnd).find((m) => m.status === 'ok');
    expect(answered).toMatchObject({ type: 'key', status: 'ok' });
    expect(typeof answered!.indexOut).toBe('string');
    expect(answered!.durationMs).toBeGreaterThanOrEqual(0);
    expect(channels.of(CHANNEL_NAMES.delivery).at(-1)).toMatchObject({
      type: 'key',
      changes: 1,
      initial: false,
    });
    const handler = channels.of(CHANNEL_NAMES.handler).at(-1)!;
    expect(handler.sinceAnswerMs).toBeGreaterThanOrEqual(handler.durationMs as number);
    expect(handler.error).toBeUndefined();
    await watch.stop();
    await until(
      () => channels.of(CHANNEL_NAMES.requestEnd).some((m) => m.status === 'aborted'),
      2_000,
      () => 'the parked request was not reported aborted on stop()',
    );
  });

  it('reports a handler that throws, with its error', async () => {
    const { client } = await setup();
    const key = `${uniquePrefix('dc')}bad`;
    const channels = listen(CHANNEL_NAMES.handler);
    const watch = client.watch({ type: 'key', key }, () => {
      throw new Error('handler broke');
    });
    watch.on('error', () => {});
    await watch.ready();
    await client.kv.put(key, 'x');
    await channels.until(CHANNEL_NAMES.handler, (m) => m.error !== undefined);
    expect((channels.of(CHANNEL_NAMES.handler).at(-1)!.error as Error).message).toBe(
      'handler broke',
    );
  });

  it('publishes unavailable once per outage and recovered after it', async () => {
    const { client, proxy } = await setup();
    const channels = listen(CHANNEL_NAMES.unavailable, CHANNEL_NAMES.recovered);
    const watch = client.watch({ type: 'services' });
    watch.on('error', () => {});
    await watch.ready();
    proxy.failNext(1_000, 503);
    proxy.resetConnections();
    await channels.until(CHANNEL_NAMES.unavailable);
    proxy.failNext(0, 503);
    await channels.until(CHANNEL_NAMES.recovered);
    expect(channels.of(CHANNEL_NAMES.unavailable)).toHaveLength(1);
    expect(channels.of(CHANNEL_NAMES.unavailable)[0]).toMatchObject({
      type: 'services',
      state: 'unavailable',
      error: { code: 'CONSUL_UNAVAILABLE' },
    });
    expect(channels.of(CHANNEL_NAMES.recovered)[0]!.downMs).toBeGreaterThan(0);
  });

  it('publishes live config updates applied and rejected (schema, decode)', async () => {
    const { client } = await setup();
    const prefix = uniquePrefix('dc-config');
    await client.kv.put(`${prefix}limit`, '10');
    const channels = listen(CHANNEL_NAMES.liveConfigUpdate);
    const config = client.liveConfig({
      layers: [{ prefix, format: 'json' }],
      schema: z.object({ limit: z.number().max(100) }),
    });
    config.on('error', () => {});
    await config.ready();
    await client.kv.put(`${prefix}limit`, '20');
    await channels.until(
      CHANNEL_NAMES.liveConfigUpdate,
      (m) => (m.paths as string[])[0] === 'limit',
    );
    await client.kv.put(`${prefix}limit`, '500');
    await channels.until(CHANNEL_NAMES.liveConfigUpdate, (m) => m.reason === 'schema');
    await client.kv.put(`${prefix}limit`, '{not json');
    await channels.until(CHANNEL_NAMES.liveConfigUpdate, (m) => m.reason === 'decode');
    const messages = channels.of(CHANNEL_NAMES.liveConfigUpdate);
    expect(messages[0]).toMatchObject({ outcome: 'applied', source: 'consul' });
    expect(messages.find((m) => m.reason === 'schema')).toMatchObject({
      outcome: 'rejected',
      paths: ['limit'],
    });
    expect(messages.find((m) => m.reason === 'decode')).toMatchObject({
      outcome: 'rejected',
      paths: [`${prefix}limit`],
    });
  });

  it('publishes a failing registration heartbeat', async () => {
    const { client, proxy } = await setup();
    const channels = listen(CHANNEL_NAMES.heartbeatFailed);
    const registration = await client.register({ name: 'dc-svc', ttlMs: 1_000 });
    proxy.failNext(1_000, 500);
    await channels.until(CHANNEL_NAMES.heartbeatFailed);
    proxy.failNext(0, 500);
    expect(channels.of(CHANNEL_NAMES.heartbeatFailed)[0]).toMatchObject({
      service: 'dc-svc',
      id: registration.id,
      error: { code: 'CONSUL_UNAVAILABLE' },
    });
  });
});

describe('health report', () => {
  it('lists each watch with its staleness and turns unhealthy past maxStalenessMs during an outage', async () => {
    const { client, proxy } = await setup();
    const prefix = uniquePrefix('health');
    await client.kv.put(`${prefix}a`, '1');
    const config = client.liveConfig({ layers: [prefix] });
    config.on('error', () => {});
    await config.ready();
    const healthy = healthReport({ client, config }, { maxStalenessMs: 200 });
    expect(healthy).toMatchObject({ healthy: true, problems: [], stalenessMs: 0 });
    expect(healthy.watches).toEqual([
      expect.objectContaining({
        type: 'keyprefix',
        watch: `keyprefix ${JSON.stringify(prefix)}`,
        state: 'connected',
        stalenessMs: 0,
      }),
    ]);
    expect(healthy.config).toMatchObject({ loaded: true, source: 'consul', state: 'connected' });
    proxy.failNext(1_000, 503);
    proxy.resetConnections();
    await until(
      () => config.status.state === 'unavailable',
      5_000,
      () => 'no outage',
    );
    await until(
      () => !healthReport({ client, config }, { maxStalenessMs: 200 }).healthy,
      5_000,
      () => 'still healthy',
    );
    const stale = healthReport({ client, config }, { maxStalenessMs: 200 });
    expect(stale.problems[0]).toMatch(/not heard from Consul for \d+ ms \(more than 200 ms\)/);
    expect(stale.consul?.available).toBe(false);
    proxy.failNext(0, 503);
    await until(
      () => config.status.state === 'connected',
      5_000,
      () => 'not back',
    );
    expect(healthReport({ client, config }, { maxStalenessMs: 200 }).healthy).toBe(true);
  });
});

describe('OpenTelemetry metrics', () => {
  it('records requests, deliveries and their durations by watch type', async () => {
    const otel = sdk();
    const { client } = await setup();
    const key = `${uniquePrefix('otel')}k`;
    let handled = 0;
    const watch = client.watch({ type: 'key', key }, () => {
      handled += 1;
    });
    await watch.ready();
    await client.kv.put(key, 'v');
    await until(
      () => handled > 0,
      5_000,
      () => 'no change reached the handler',
    );
    const data = await otel.collect();
    const byName = new Map(data.map((m) => [m.descriptor.name, m]));
    for (const name of [
      'consul_watch.requests',
      'consul_watch.deliveries',
      'consul_watch.request.duration',
      'consul_watch.delivery.duration',
      'consul_watch.staleness',
    ])
      expect(byName.has(name), name).toBe(true);
    const requests = byName.get('consul_watch.requests')!;
    expect(requests.dataPoints[0]!.attributes).toEqual({ 'consul_watch.type': 'key' });
    expect(requests.dataPoints[0]!.value as number).toBeGreaterThanOrEqual(1);
    const delivery = byName.get('consul_watch.delivery.duration') as HistogramMetricData;
    expect(delivery.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(delivery.descriptor.unit).toBe('s');
    expect(delivery.dataPoints[0]!.value.count).toBeGreaterThanOrEqual(1);
    // Nothing identifies a key, a value or a token: only the watch type.
    for (const metric of data)
      for (const point of metric.dataPoints)
        expect(JSON.stringify(point.attributes)).not.toContain(key);
  });

  it('shows staleness growing during an outage and back to 0 after it, and counts errors by code', async () => {
    const otel = sdk();
    const { client, proxy } = await setup();
    const watch = client.watch({ type: 'services' });
    watch.on('error', () => {});
    await watch.ready();
    const staleness = async () =>
      ((await otel.points('consul_watch.staleness')).find(
        (p) => p.attributes['consul_watch.type'] === 'services',
      )?.value as number | undefined) ?? -1;
    expect(await staleness()).toBe(0);
    proxy.failNext(1_000, 503);
    proxy.resetConnections();
    // Read as a scraper would, every 20 ms, until the outage shows.
    for (let during = 0; during < 0.2; during = await staleness())
      await new Promise((resolve) => setTimeout(resolve, 20));
    proxy.failNext(0, 503);
    await until(
      () => watch.status.state === 'connected',
      5_000,
      () => 'not back',
    );
    expect(await staleness()).toBe(0);
    const errors = await otel.points('consul_watch.errors');
    expect(errors.some((p) => p.attributes['error.type'] === 'CONSUL_UNAVAILABLE')).toBe(true);
  });

  it('counts live config updates by outcome and live configs by source', async () => {
    const otel = sdk();
    const { client } = await setup();
    const prefix = uniquePrefix('otel-config');
    await client.kv.put(`${prefix}limit`, '1');
    const config = client.liveConfig({
      layers: [{ prefix, format: 'json' }],
      schema: z.object({ limit: z.number().max(10) }),
    });
    const rejected: unknown[] = [];
    config.on('error', (error) => rejected.push(error));
    await config.ready();
    await client.kv.put(`${prefix}limit`, '50');
    await until(
      () => rejected.length > 0,
      5_000,
      () => 'no rejection',
    );
    const updates = await otel.points('consul_watch.live_config.updates');
    expect(updates.find((p) => p.attributes.outcome === 'applied')?.value).toBeGreaterThanOrEqual(
      1,
    );
    expect(updates.find((p) => p.attributes.outcome === 'rejected')?.value).toBe(1);
    const sources = await otel.points('consul_watch.live_config.source');
    expect(sources.find((p) => p.attributes.source === 'consul')?.value).toBe(1);
  });

  it("names its meter's scope with the package's name and version", async () => {
    const otel = sdk();
    const { client } = await setup();
    await client.watch({ type: 'services' }).ready();
    const { version } = JSON.parse(
      readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    const scopes = (await otel.reader.collect()).resourceMetrics.scopeMetrics.map((s) => s.scope);
    expect(scopes).toContainEqual(expect.objectContaining({ name: '@consul-watch/core', version }));
  });

  it('finds a MeterProvider registered after the client was made, and records from then on', async () => {
    const { client } = await setup();
    const key = `${uniquePrefix('otel-late')}k`;
    let handled = 0;
    const watch = client.watch({ type: 'key', key }, () => {
      handled += 1;
    });
    await watch.ready();
    // The SDK starts after the client and its watch, as an app that sets it up late does.
    const otel = sdk();
    // Found: the counters subscribe to the channels.
    await until(
      () => channel(CHANNEL_NAMES.requestEnd).hasSubscribers,
      5_000,
      () => 'the late MeterProvider was never found',
    );
    expect((await otel.points('consul_watch.staleness')).length).toBeGreaterThan(0);
    const before = handled;
    await client.kv.put(key, 'v');
    await until(
      () => handled > before,
      5_000,
      () => 'no change reached the handler',
    );
    const deliveries = await otel.points('consul_watch.deliveries');
    expect(deliveries[0]?.value).toBeGreaterThanOrEqual(1);
  });

  it('records nothing and subscribes to nothing without an SDK', async () => {
    const { client } = await setup();
    const watch = client.watch({ type: 'services' });
    await watch.ready();
    const { hasSubscribers } = await import('node:diagnostics_channel').then((dc) =>
      dc.channel(CHANNEL_NAMES.requestEnd),
    );
    expect(hasSubscribers).toBe(false);
  });
});
