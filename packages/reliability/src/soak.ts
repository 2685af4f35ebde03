import { randomUUID } from 'node:crypto';
import {
  createConsulWatch,
  type EngineOptions,
  type LiveConfig,
  type Logger,
  type Watch,
  type WatchChange,
  type WatchRequest,
} from '@consul-watch/core';
import {
  type FaultProxy,
  handlesBeyond,
  openHandles,
  startFaultProxy,
} from '@consul-watch/dev-server/testing';
import { type SoakExpressApp, type SoakNestApp, startExpressApp, startNestApp } from './soakApps';
import { type FaultKind, injectFault, PROXY_FAULTS, SERVER_FAULTS, SoakServer } from './soakFaults';
import { FlagProbe } from './soakFlags';
import { type LockFigures, LockSoak } from './soakLocks';
import {
  ConfigProbe,
  type Convergence,
  EventProbe,
  type Probe,
  readTruth,
  type TruthTarget,
  targetId,
  WatchProbe,
} from './soakProbes';
import { type RolloutFigures, RolloutSoak } from './soakRollout';
import {
  between,
  collectGarbage,
  seededRandom,
  shuffle,
  sleep,
  stableJson,
  waitFor,
} from './soakUtil';
import { SoakWriter, soakNames } from './soakWorkload';

export type { FaultKind } from './soakFaults';

export interface SoakOptions {
  /** How long writers and faults run, ms. Default 60 000. */
  durationMs?: number;
  /** An external Consul (`host:port` or URL); default CONSUL_HTTP_ADDR. Without one, an embedded dev-server is used. */
  address?: string;
  /** Bound on every wait for the watchers to converge, ms. Default 10 000. */
  settleTimeoutMs?: number;
  /** Length of the idle window where CPU is measured with every watcher parked, ms. Default 3 000. */
  idleMs?: number;
  /** Idle CPU above this, in ms of CPU per second, is a violation (a spinning loop). Default 50. */
  maxIdleCpuMsPerSec?: number;
  /** Allowed RSS growth from warm-up to the end of the run. Default 32 MB. */
  maxRssGrowthMb?: number;
  /** Blocking wait of every watch, ms. Default 2 000. */
  waitMs?: number;
  /** Seed of the workload and fault choices. Default: random. */
  seed?: number;
  /** Plain subscribers of one prefix, sharing one blocking query. Default 5. */
  sharedSubscribers?: number;
  /** Progress lines while the run goes. */
  onProgress?: (line: string) => void;
}

export interface WatcherReport {
  name: string;
  deliveries: number;
  duplicates: number;
  /** Errors reported to this subscriber; undefined where the adapter keeps them to itself. */
  errors: number | undefined;
  converged: boolean;
}

export interface ResyncFigures {
  count: number;
  maxMs: number;
  medianMs: number;
}

export interface SoakReport {
  ok: boolean;
  violations: string[];
  seed: number;
  server: 'dev-server' | 'external';
  durationMs: number;
  elapsedMs: number;
  watchers: WatcherReport[];
  /** Distinct blocking queries behind the watchers, over the three clients. */
  blockingQueries: number;
  deliveries: number;
  /** Deliveries whose state equalled the previous delivered state. */
  duplicates: number;
  /** Events delivered more than once, by ID. */
  eventDuplicates: number;
  /** Watchers whose final delivered state differs from the server's. */
  divergent: string[];
  writes: { total: number; failed: number; byKind: Record<string, number> };
  /** Events fired once the watchers ran, and distinct events delivered. */
  events: { fired: number; delivered: number };
  faults: { total: number; byKind: Record<string, number> };
  /** Blocking-query failures seen by the clients, and recoveries after them. */
  errorsSeen: number;
  reconnects: number;
  proxyRequests: number;
  serverRestarts: number;
  /** From the end of each fault until every watcher has delivered the marker writes made after it. */
  resync: ResyncFigures & { byKind: Record<string, ResyncFigures>; finalMs: number };
  /** From a marker write on every topic after a fault until every watcher delivered it. */
  liveAgain: ResyncFigures;
  /** The lock, semaphore and leader holders: acquisitions, losses, and any breach of exclusion. */
  locks: LockFigures;
  /** The rolling consul-env instances: restarts, slots lost, and any breach of their bound. */
  rollout: RolloutFigures;
  /** RSS at the start, after warm-up (a quarter of the run), at the end of the run (before closing), and after closing. */
  memory: {
    rssStartMb: number;
    rssWarmMb: number;
    rssRunEndMb: number;
    rssEndMb: number;
    maxGrowthMb: number;
  };
  handles: {
    start: Record<string, number>;
    end: Record<string, number>;
    leaked: string[];
  };
  idle: {
    windowMs: number;
    cpuMsPerSec: number;
    deliveries: number;
    requestsPerSec: number;
  };
}

function handleCounts(): Record<string, number> {
  return Object.fromEntries(openHandles());
}

function leakedHandles(start: Record<string, number>): string[] {
  return handlesBeyond(new Map(Object.entries(start)));
}

function figures(values: number[]): ResyncFigures {
  if (values.length === 0) return { count: 0, maxMs: 0, medianMs: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: values.length,
    maxMs: Math.round(sorted[sorted.length - 1]!),
    medianMs: Math.round(sorted[Math.floor(sorted.length / 2)]!),
  };
}

const IDLE_SETTLE_MS = 1_000;

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** Counts what the clients log: each failed blocking query, and each recovery after failures. */
function countingLogger(counts: { errors: number; reconnects: number }): Logger {
  const nothing = () => {};
  return {
    debug: nothing,
    info: (message) => {
      if (message.startsWith('watch ') && message.includes(': connected again after '))
        counts.reconnects += 1;
    },
    warn: (message) => {
      if (message.startsWith('watch ')) counts.errors += 1;
    },
    error: nothing,
  };
}

/**
 * The soak run. Starts a dev-server (or uses CONSUL_HTTP_ADDR), a fault proxy in front of
 * it, and watchers of every kind through the proxy; for `durationMs` a writer changes data
 * while faults are injected, and after each fault every watcher must match the server
 * again within the bound. At the end it quiesces, checks convergence, duplicates, idle CPU
 * and handles, closes everything it started, and reports. `ok` is false on any violation.
 */
export async function runSoak(options: SoakOptions = {}): Promise<SoakReport> {
  const durationMs = options.durationMs ?? 60_000;
  const settleTimeoutMs = options.settleTimeoutMs ?? 10_000;
  const idleMs = options.idleMs ?? 3_000;
  const maxIdleCpu = options.maxIdleCpuMsPerSec ?? 50;
  const waitMs = options.waitMs ?? 2_000;
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const sharedCount = options.sharedSubscribers ?? 5;
  const external = options.address ?? (process.env.CONSUL_HTTP_ADDR || undefined);
  const progress = options.onProgress ?? (() => {});

  const startedAt = performance.now();
  const handlesStart = handleCounts();
  const rssStart = process.memoryUsage().rss;
  const maxRssGrowthMb = options.maxRssGrowthMb ?? 32;
  let rssWarm: number | undefined;
  let rssRunEnd: number | undefined;
  const rng = seededRandom(seed);
  const names = soakNames(randomUUID().slice(0, 8));
  const counts = { errors: 0, reconnects: 0 };
  const logger = countingLogger(counts);
  const engine: EngineOptions = {
    waitMs,
    backoff: { baseMs: 10, maxMs: 250, slowMs: 1_000 },
  };
  const violations: string[] = [];
  const closers: { name: string; close: () => Promise<void> }[] = [];
  const probes: Probe[] = [];
  const faults: Partial<Record<FaultKind, number>> = {};
  const resyncs: Partial<Record<FaultKind, number[]>> = {};
  const liveAgain: number[] = [];
  let eventProbe: EventProbe | undefined;
  let server: SoakServer | undefined;
  let proxy: FaultProxy | undefined;
  let writer: SoakWriter | undefined;
  let nest: SoakNestApp | undefined;
  let locks: LockSoak | undefined;
  let lockFigures: LockFigures = {
    acquisitions: 0,
    losses: {},
    overlaps: 0,
    maxConcurrent: {},
    leaderResumeMs: [],
  };
  let rollout: RolloutSoak | undefined;
  let rolloutFigures: RolloutFigures = {
    restarts: 0,
    slotsLost: 0,
    failed: 0,
    overlaps: 0,
    maxRestarting: 0,
    limit: 0,
  };
  let web: SoakExpressApp | undefined;
  let final: Convergence = { ok: false, ms: 0, divergent: [] };
  let idle = { windowMs: 0, cpuMsPerSec: 0, deliveries: 0, requestsPerSec: 0 };
  let blockingQueries = 0;
  let eventsBefore = 0;

  const configLayers = [names.configPrefix, names.overridePrefix];
  const configTarget: TruthTarget = { kind: 'config', layers: configLayers };
  const deliveries = () => probes.reduce((sum, p) => sum + p.deliveries, 0);

  /** Reads the server once (writer held), then waits, bounded, for every probe to match it. */
  const converge = async (since = performance.now()): Promise<Convergence> => {
    const truth = await readTruth(
      server!.url,
      probes.map((p) => p.target),
    );
    const ok = await waitFor(() => probes.every((p) => p.matches(truth)), settleTimeoutMs, 10);
    return {
      ok,
      ms: performance.now() - since,
      divergent: probes.filter((p) => !p.matches(truth)).map((p) => p.name),
    };
  };

  try {
    server = await SoakServer.start(external);
    closers.push({ name: 'server', close: () => server!.close() });
    proxy = await startFaultProxy(server.address);
    closers.push({ name: 'fault proxy', close: () => proxy!.close() });
    progress(
      `consul at ${server.url} (${server.controllable ? 'embedded dev-server' : 'external'}), fault proxy at ${proxy.address}, seed ${seed}`,
    );
    writer = new SoakWriter(names, () => server!.url, rng);
    await writer.seed();
    // The seed's marker event comes before any watcher: only later events count.
    eventsBefore = writer.eventsFired;
    server.takeSnapshot();

    // The core client: one watcher of every type, shared subscribers, live configs.
    const client = createConsulWatch({ address: proxy.address, watch: engine, logger });
    closers.push({ name: 'core client', close: () => client.close() });
    const watches: Watch[] = [];
    const follow = (name: string, spec: WatchRequest, target: TruthTarget) => {
      const probe = new WatchProbe(name, target);
      const watch = client.watch(spec, (change) => probe.deliver(change as WatchChange));
      watch.on('error', () => probe.failed());
      watches.push(watch as Watch);
      probes.push(probe);
    };
    follow(
      `key ${names.kvKey}`,
      { type: 'key', key: names.kvKey },
      { kind: 'key', key: names.kvKey },
    );
    follow(
      `keyprefix ${names.kvPrefix}`,
      { type: 'keyprefix', prefix: names.kvPrefix },
      { kind: 'keyprefix', prefix: names.kvPrefix },
    );
    const queriesBeforeShared = client.activeQueries;
    for (let i = 1; i <= sharedCount; i++) {
      follow(
        `shared subscriber ${i}`,
        { type: 'keyprefix', prefix: names.kvPrefix },
        { kind: 'keyprefix', prefix: names.kvPrefix },
      );
    }
    if (client.activeQueries !== queriesBeforeShared)
      violations.push(
        `${sharedCount} subscribers of one prefix opened ${client.activeQueries - queriesBeforeShared} blocking queries of their own instead of sharing one`,
      );
    follow('services', { type: 'services' }, { kind: 'services' });
    follow('nodes', { type: 'nodes' }, { kind: 'nodes' });
    follow(
      `service ${names.web}`,
      { type: 'service', service: names.web },
      { kind: 'service', service: names.web, passingOnly: false },
    );
    follow(
      `service ${names.web} passing`,
      { type: 'service', service: names.web, passingOnly: true },
      { kind: 'service', service: names.web, passingOnly: true },
    );
    follow(
      `checks of ${names.web}`,
      { type: 'checks', service: names.web },
      { kind: 'checks', service: names.web },
    );
    follow(
      'checks critical',
      { type: 'checks', state: 'critical' },
      { kind: 'state', state: 'critical' },
    );
    eventProbe = new EventProbe(`event ${names.event}`, { kind: 'events', name: names.event });
    const events = client.watch({ type: 'event', name: names.event, replay: true }, (change) =>
      eventProbe!.deliver(change),
    );
    events.on('error', () => {
      eventProbe!.errors += 1;
    });
    watches.push(events as Watch);
    probes.push(eventProbe);

    const configs: LiveConfig[] = [];
    for (const [name, layers] of [
      ['live config (1 layer)', [names.configPrefix]],
      ['live config (2 layers)', configLayers],
    ] as const) {
      const config = client.liveConfig({ layers: [...layers], format: 'auto' });
      const probe = new ConfigProbe(name, { kind: 'config', layers: [...layers] });
      probe.follow(config);
      configs.push(config);
      probes.push(probe);
    }

    // Express, on a client of its own.
    const expressClient = createConsulWatch({ address: proxy.address, watch: engine, logger });
    closers.push({ name: 'express client', close: () => expressClient.close() });
    web = await startExpressApp(expressClient, configLayers, configTarget);
    closers.push({ name: 'express app', close: () => web!.close() });
    probes.push(web.probe);

    // Nest, on the client ConsulModule makes.
    nest = await startNestApp({
      address: proxy.address,
      engine,
      logger,
      configLayers,
      configTarget,
      handlerPrefix: names.kvPrefix,
    });
    closers.push({ name: 'nest app', close: () => nest!.close() });
    probes.push(nest.config, nest.handler);

    // An OpenFeature flag provider, on a client of its own.
    const flagClient = createConsulWatch({ address: proxy.address, watch: engine, logger });
    closers.push({ name: 'flag client', close: () => flagClient.close() });
    const flags = new FlagProbe(
      'openfeature provider',
      { kind: 'flags', doc: names.flagDoc, prefix: names.flagPrefix },
      flagClient,
      writer.flagValues,
    );
    closers.push({ name: 'flag provider', close: () => flags.close() });
    await flags.start();
    probes.push(flags);

    // Lock holders, each on a client of its own behind the proxy.
    const lockTtlMs = server.controllable ? 400 : 10_000;
    // After an outage the leaders' sessions live on for twice their TTL (2 s: a restarted
    // Consul starts their timers afresh), longer than the client's availability probes take to
    // hear Consul (at most 1 s apart). A leader back within 1.5 s can only be the old one having
    // given its key back, never its session expiring and then the lock-delay passing (3 s).
    const leaderTtlMs = server.controllable ? 1_000 : 10_000;
    locks = new LockSoak({
      address: proxy.address,
      prefix: names.lockPrefix,
      ttlMs: lockTtlMs,
      leader: { ttlMs: leaderTtlMs, lockDelayMs: leaderTtlMs },
      logger,
      rng,
    });
    locks.start();
    closers.push({ name: 'lock holders', close: () => locks!.close() });

    // consul-env instances rolling each change of the kv prefix through a semaphore of 2.
    rollout = new RolloutSoak({
      address: proxy.address,
      prefix: names.kvPrefix,
      key: `${names.lockPrefix}rollout`,
      ttlMs: server.controllable ? 400 : 10_000,
      logger,
      rng,
    });
    closers.push({ name: 'rolling consul-env', close: () => rollout!.close() });
    await rollout.start(settleTimeoutMs);

    await Promise.all([
      ...watches.map((w) => w.ready(settleTimeoutMs)),
      ...configs.map((c) => c.ready(settleTimeoutMs)),
    ]);
    const first = await converge();
    if (!first.ok)
      violations.push(
        `before any fault, watchers differ from the server: ${first.divergent.join(', ')}`,
      );
    progress(
      `${probes.length} watchers ready over ${client.activeQueries + expressClient.activeQueries + flagClient.activeQueries + nest.activeQueries()} blocking queries; running ${Math.round(durationMs / 1000)} s`,
    );

    // The run: the writer and the fault loop, side by side, until the deadline.
    const kinds: FaultKind[] = server.controllable
      ? [...PROXY_FAULTS, ...SERVER_FAULTS]
      : [...PROXY_FAULTS];
    // Longer than the leaders' TTL: the leader steps down while Consul is away.
    const outageMs = Math.round(leaderTtlMs * 1.25);
    const stop = new AbortController();
    // The run ends at its duration once every kind of fault has been injected at least once
    // (a short run on a loaded machine may need longer for the first full round), and at
    // twice its duration in any case.
    const hardStop = performance.now() + durationMs * 2;
    const endWhenRoundDone = () => {
      if (kinds.every((k) => (faults[k] ?? 0) > 0) || performance.now() >= hardStop) stop.abort();
      else timer = setTimeout(endWhenRoundDone, 100);
    };
    let timer = setTimeout(endWhenRoundDone, durationMs);
    // Warm-up: JIT, socket pools and buffers grow in the first part of a run; growth after it is what counts.
    const warmTimer = setTimeout(() => {
      collectGarbage();
      rssWarm = process.memoryUsage().rss;
    }, durationMs / 4);
    const writing = writer.run();
    const faulting = (async () => {
      let round: FaultKind[] = [];
      let lastReport = performance.now();
      while (!stop.signal.aborted) {
        await sleep(between(rng, 150, 450), stop.signal);
        if (stop.signal.aborted) break;
        server!.takeSnapshot();
        if (round.length === 0) round = shuffle(rng, kinds);
        const kind = round.shift()!;
        faults[kind] = (faults[kind] ?? 0) + 1;
        locks?.faultStarted(kind);
        rollout?.faultStarted(kind);
        if (kind === 'outage') locks?.outageStarted();
        await injectFault(kind, {
          proxy: proxy!,
          server: server!,
          writer: writer!,
          rng,
          outageMs,
        });
        const ended = performance.now();
        // Leadership must resume within about a second of Consul's return.
        const leaderBack = kind === 'outage' ? locks?.outageEnded(outageMs, 1_500) : undefined;
        await writer!.pause();
        if (writer!.dirty) await writer!.reconcile();
        // First with no further write: a watcher must catch up by itself. One that stays on old
        // data until the next write happens to touch its topic is a failure too.
        const settled = await converge(ended);
        const list = resyncs[kind] ?? [];
        list.push(settled.ms);
        resyncs[kind] = list;
        if (!settled.ok) {
          violations.push(
            `after a ${kind} fault, not resynced within ${settleTimeoutMs} ms without a further write: ${settled.divergent.join(', ')}`,
          );
        }
        // Then a write on every topic: converged now means live again, not just still equal.
        await writer!.touchAll();
        const c = await converge();
        liveAgain.push(c.ms);
        if (!c.ok) {
          violations.push(
            `after a ${kind} fault, not live again within ${settleTimeoutMs} ms of a write: ${c.divergent.join(', ')}`,
          );
        }
        writer!.resume();
        await leaderBack;
        if (performance.now() - lastReport > 10_000) {
          lastReport = performance.now();
          const total = Object.values(faults).reduce((a, b) => a + b, 0);
          progress(
            `${Math.round((performance.now() - startedAt) / 1000)} s: ${writer!.writes} writes, ${total} faults, ${deliveries()} deliveries`,
          );
        }
      }
    })();
    try {
      await faulting;
    } finally {
      clearTimeout(timer);
      clearTimeout(warmTimer);
      stop.abort();
      await writer.stop();
      await writing;
      // The holders contend all the time: stop them before the idle window measures quiet.
      await locks.close();
      lockFigures = locks.figures();
      violations.push(...locks.violations());
    }

    // Quiesce: no writes, no faults; the data written back; then every watcher must converge.
    proxy.failNext(0, 500);
    proxy.stallNext(0);
    proxy.release();
    const quiesced = performance.now();
    await writer.reconcile();
    const corrections = await writer.reconcile();
    if (corrections > 0)
      violations.push(`the server did not keep what was written: ${corrections} writes again`);
    const settledAtEnd = await converge(quiesced);
    if (!settledAtEnd.ok)
      violations.push(
        `at the end, not resynced within ${settleTimeoutMs} ms without a further write: ${settledAtEnd.divergent.join(', ')}`,
      );
    // No roll-out lost: every instance ends on the server's values, and the bound held.
    violations.push(...(await rollout.settle(settleTimeoutMs)));
    rolloutFigures = rollout.figures();
    await rollout.close();
    await writer.touchAll();
    final = await converge(quiesced);
    collectGarbage();
    rssRunEnd = process.memoryUsage().rss;
    if (rssWarm !== undefined && rssRunEnd - rssWarm > maxRssGrowthMb * 2 ** 20)
      violations.push(
        `RSS grew by ${mb(rssRunEnd - rssWarm)} MB after warm-up (bound ${maxRssGrowthMb} MB)`,
      );
    if (!final.ok)
      violations.push(
        `final state differs from the server after ${settleTimeoutMs} ms: ${final.divergent.join(', ')}`,
      );
    // Idle: every watcher parked, nothing written; CPU and requests must stay near zero. The
    // window opens after a short settle, so the tail of the run (V8 compiling and collecting
    // on its own threads, which process.cpuUsage counts) is not charged to the watchers.
    await sleep(IDLE_SETTLE_MS);
    blockingQueries =
      client.activeQueries +
      expressClient.activeQueries +
      flagClient.activeQueries +
      nest.activeQueries();
    const before = deliveries();
    const requestsBefore = proxy.requests;
    const cpuBefore = process.cpuUsage();
    const idleStart = performance.now();
    await sleep(idleMs);
    const cpu = process.cpuUsage(cpuBefore);
    const windowMs = performance.now() - idleStart;
    idle = {
      windowMs: Math.round(windowMs),
      cpuMsPerSec: Math.round(((cpu.user + cpu.system) / 1000 / (windowMs / 1000)) * 10) / 10,
      deliveries: deliveries() - before,
      requestsPerSec: Math.round(((proxy.requests - requestsBefore) / (windowMs / 1000)) * 10) / 10,
    };
    if (idle.cpuMsPerSec > maxIdleCpu)
      violations.push(
        `idle CPU ${idle.cpuMsPerSec} ms/s exceeds ${maxIdleCpu} ms/s: something spins`,
      );
    if (idle.deliveries > 0)
      violations.push(`${idle.deliveries} deliveries while nothing was written`);
    // Each parked query asks again once per wait; more than twice that is a loop.
    const expectedRate = (blockingQueries * 1000) / waitMs;
    if (idle.requestsPerSec > expectedRate * 2 + 2)
      violations.push(
        `${idle.requestsPerSec} requests/s while idle, for ${blockingQueries} queries waiting ${waitMs} ms each`,
      );

    // What a request to the Express app sees now, asked with fetch.
    const truth = await readTruth(server.url, [configTarget]);
    const served = await web.fetchConfig();
    if (stableJson(served) !== truth.get(targetId(configTarget))?.canonical) {
      violations.push('Express served a req.config that differs from the server');
      final.divergent.push('express GET /config');
    }
  } catch (error) {
    violations.push(`the run failed: ${(error as Error)?.stack ?? String(error)}`);
  } finally {
    for (const { name, close } of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        violations.push(`closing the ${name} failed: ${(error as Error)?.message ?? error}`);
      }
    }
  }

  // A closed socket leaves the active list a turn or two later: look again, bounded.
  let leaked = leakedHandles(handlesStart);
  for (let i = 0; i < 100 && leaked.length > 0; i++) {
    await sleep(10);
    leaked = leakedHandles(handlesStart);
  }
  if (leaked.length > 0) violations.push(`handles left open: ${leaked.join(', ')}`);

  const flagProbe = probes.find((p): p is FlagProbe => p instanceof FlagProbe);
  if (flagProbe && flagProbe.unknownValues.length > 0)
    violations.push(
      `the flag provider evaluated to values never written to Consul: ${flagProbe.unknownValues.join(', ')}`,
    );
  const duplicates = probes.reduce((sum, p) => sum + p.duplicates, 0);
  const eventDuplicates = eventProbe?.duplicateIds ?? 0;
  if (duplicates > 0) violations.push(`${duplicates} deliveries of unchanged data`);
  if (eventDuplicates > 0) violations.push(`${eventDuplicates} events delivered more than once`);
  const all = Object.values(resyncs).flat();
  const byKind: Record<string, ResyncFigures> = {};
  for (const [kind, values] of Object.entries(resyncs)) byKind[kind] = figures(values);
  const finalDivergent = final.divergent;
  return {
    ok: violations.length === 0,
    violations,
    seed,
    server: external ? 'external' : 'dev-server',
    durationMs,
    elapsedMs: Math.round(performance.now() - startedAt),
    watchers: probes.map((p) => ({
      name: p.name,
      deliveries: p.deliveries,
      duplicates: p.duplicates + (p === eventProbe ? eventProbe.duplicateIds : 0),
      errors: p.errors,
      converged: !finalDivergent.includes(p.name),
    })),
    blockingQueries,
    deliveries: deliveries(),
    duplicates,
    eventDuplicates,
    divergent: finalDivergent,
    writes: {
      total: writer?.writes ?? 0,
      failed: writer?.failedWrites ?? 0,
      byKind: { ...(writer?.writesByKind ?? {}) },
    },
    events: {
      fired: (writer?.eventsFired ?? 0) - eventsBefore,
      delivered: eventProbe?.delivered.size ?? 0,
    },
    faults: {
      total: Object.values(faults).reduce((a, b) => a + b, 0),
      byKind: { ...faults },
    },
    errorsSeen: counts.errors,
    reconnects: counts.reconnects,
    proxyRequests: proxy?.requests ?? 0,
    serverRestarts: server?.restarts ?? 0,
    resync: { ...figures(all), byKind, finalMs: Math.round(final.ms) },
    liveAgain: figures(liveAgain),
    memory: {
      rssStartMb: mb(rssStart),
      rssWarmMb: mb(rssWarm ?? rssStart),
      rssRunEndMb: mb(rssRunEnd ?? process.memoryUsage().rss),
      rssEndMb: mb(process.memoryUsage().rss),
      maxGrowthMb: maxRssGrowthMb,
    },
    locks: lockFigures,
    rollout: rolloutFigures,
    handles: { start: handlesStart, end: handleCounts(), leaked },
    idle,
  };
}
