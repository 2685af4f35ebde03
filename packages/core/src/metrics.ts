import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import type * as Otel from '@opentelemetry/api';
// Inlined by the build (only this field): the built files read no package.json at run time.
import { version } from '../package.json';
import {
  CHANNEL_NAMES,
  type HandlerMessage,
  type LiveConfigUpdateMessage,
  type RequestEndMessage,
} from './diagnostics';

/** Instrument names and units, stated once (see the README's table). */
export const INSTRUMENTS = {
  requests: 'consul_watch.requests',
  errors: 'consul_watch.errors',
  deliveries: 'consul_watch.deliveries',
  staleness: 'consul_watch.staleness',
  deliveryDuration: 'consul_watch.delivery.duration',
  requestDuration: 'consul_watch.request.duration',
  liveConfigUpdates: 'consul_watch.live_config.updates',
  liveConfigSource: 'consul_watch.live_config.source',
} as const;

const TYPE = 'consul_watch.type';
/** The type the live config instruments carry: a live config runs on several watches. */
const LIVE_CONFIG = 'live_config';

/** What the gauges read when the SDK collects: the live watches and live configs. */
export interface Observed {
  watches(): Iterable<{ readonly name: string; readonly stalenessMs: number }>;
  configSources(): Iterable<'consul' | 'cache' | 'none'>;
}

let api: typeof Otel | null | undefined;

/**
 * `@opentelemetry/api` when the application has it, loaded once; null otherwise. It is an
 * optional peer dependency: without it nothing of it is loaded and nothing is recorded.
 */
function otel(): typeof Otel | null {
  if (api === undefined) {
    try {
      api = createRequire(import.meta.url)('@opentelemetry/api') as typeof Otel;
    } catch {
      api = null;
    }
  }
  return api;
}

interface Bridge {
  provider: Otel.MeterProvider;
  stop(): void;
}

/** The instrumentation scope: this package, at the version that was built. */
export const METER_SCOPE = { name: '@consul-watch/core', version } as const;

/** How often, while clients exist and no SDK has registered, the global provider is looked up again. */
export const LOOKUP_INTERVAL_MS = 1_000;

let bridge: Bridge | undefined;
const sources = new Set<Observed>();
/** Set while clients exist and no SDK has registered a MeterProvider yet. */
let lookup: ReturnType<typeof setInterval> | undefined;

/** The meter of the global provider, when an SDK has registered one; undefined for the API's no-op. */
function sdkMeter(
  otelApi: typeof Otel,
): { provider: Otel.MeterProvider; meter: Otel.Meter } | undefined {
  const provider = otelApi.metrics.getMeterProvider();
  const meter = provider.getMeter(METER_SCOPE.name, METER_SCOPE.version);
  if (meter.constructor === otelApi.createNoopMeter().constructor) return undefined;
  return { provider, meter };
}

/** Bridges to the SDK's provider when one is registered now; true when bridged. */
function connect(otelApi: typeof Otel): boolean {
  const found = sdkMeter(otelApi);
  if (!found) return false;
  if (bridge?.provider !== found.provider) {
    bridge?.stop();
    bridge = start(found.provider, found.meter);
  }
  return true;
}

/**
 * Records consul-watch's figures through the OpenTelemetry API when an SDK has registered a
 * global MeterProvider: the counters and histograms subscribe to the diagnostics channels,
 * the gauges read the live watches of every client when the SDK collects. An SDK registered
 * after the client was made is found within LOOKUP_INTERVAL_MS (the global provider is looked
 * up again until one is there), so the order of set-up does not matter. Without the API
 * nothing is loaded; without an SDK nothing subscribes, so publishing stays free. Returns how
 * to stop observing `observed` (the client's close).
 */
export function recordMetrics(observed: Observed): () => void {
  const otelApi = otel();
  if (!otelApi) return () => {};
  sources.add(observed);
  if (!connect(otelApi) && lookup === undefined) {
    lookup = setInterval(() => {
      if (!connect(otelApi)) return;
      clearInterval(lookup);
      lookup = undefined;
    }, LOOKUP_INTERVAL_MS);
    // Looking for an SDK must not keep a process alive.
    lookup.unref();
  }
  return () => {
    if (!sources.delete(observed) || sources.size > 0) return;
    // With no client left, nothing listens and nothing looks: publishing is free again.
    clearInterval(lookup);
    lookup = undefined;
    bridge?.stop();
    bridge = undefined;
  };
}

function start(provider: Otel.MeterProvider, meter: Otel.Meter): Bridge {
  const requests = meter.createCounter(INSTRUMENTS.requests, {
    description: 'Blocking requests to Consul that ended (answered or failed)',
  });
  const errors = meter.createCounter(INSTRUMENTS.errors, {
    description: 'Blocking requests that failed, by error.type (the error code)',
  });
  const deliveries = meter.createCounter(INSTRUMENTS.deliveries, {
    description: 'Changes handed to subscribers',
  });
  const requestDuration = meter.createHistogram(INSTRUMENTS.requestDuration, {
    description: 'Duration of a blocking request, parked time included',
    unit: 's',
  });
  const deliveryDuration = meter.createHistogram(INSTRUMENTS.deliveryDuration, {
    description: "From the arrival of Consul's answer to the end of the handler it reached",
    unit: 's',
  });
  const updates = meter.createCounter(INSTRUMENTS.liveConfigUpdates, {
    description: 'Live config snapshots applied or rejected, by outcome',
  });
  const staleness = meter.createObservableGauge(INSTRUMENTS.staleness, {
    description:
      'Time since the watch last had an answer from Consul: 0 while connected, growing during an outage (the worst watch of each type)',
    unit: 's',
  });
  const source = meter.createObservableGauge(INSTRUMENTS.liveConfigSource, {
    description: 'Live configs by where their current snapshot came from (consul, cache, none)',
  });
  const observeStaleness = (result: Otel.ObservableResult) => {
    const worst = new Map<string, number>();
    for (const s of sources)
      for (const w of s.watches())
        worst.set(w.name, Math.max(worst.get(w.name) ?? 0, w.stalenessMs / 1000));
    for (const [type, seconds] of worst) result.observe(seconds, { [TYPE]: type });
  };
  const observeSource = (result: Otel.ObservableResult) => {
    const counts = new Map<string, number>([
      ['consul', 0],
      ['cache', 0],
      ['none', 0],
    ]);
    for (const s of sources)
      for (const where of s.configSources()) counts.set(where, (counts.get(where) ?? 0) + 1);
    for (const [where, n] of counts) result.observe(n, { source: where, [TYPE]: LIVE_CONFIG });
  };
  staleness.addCallback(observeStaleness);
  source.addCallback(observeSource);

  const handlers: [string, (message: unknown) => void][] = [
    [
      CHANNEL_NAMES.requestEnd,
      (m) => {
        const message = m as RequestEndMessage;
        if (message.status === 'aborted') return;
        const attributes = { [TYPE]: message.type };
        requests.add(1, attributes);
        requestDuration.record(message.durationMs / 1000, attributes);
        if (message.status === 'error')
          errors.add(1, { ...attributes, 'error.type': message.error?.code ?? 'UNKNOWN' });
      },
    ],
    [
      CHANNEL_NAMES.handler,
      (m) => {
        const message = m as HandlerMessage;
        const attributes = { [TYPE]: message.type };
        deliveries.add(1, attributes);
        deliveryDuration.record(message.sinceAnswerMs / 1000, attributes);
      },
    ],
    [
      CHANNEL_NAMES.liveConfigUpdate,
      (m) => {
        const message = m as LiveConfigUpdateMessage;
        updates.add(1, { outcome: message.outcome, [TYPE]: LIVE_CONFIG });
      },
    ],
  ];
  for (const [name, handler] of handlers) subscribe(name, handler);
  return {
    provider,
    stop() {
      for (const [name, handler] of handlers) unsubscribe(name, handler);
      staleness.removeCallback(observeStaleness);
      source.removeCallback(observeSource);
    },
  };
}
