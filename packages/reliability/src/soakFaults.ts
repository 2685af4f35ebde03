import { type DevServer, type DevServerSnapshot, startDevServer } from '@consul-watch/dev-server';
import type { FaultProxy } from '@consul-watch/dev-server/testing';
import { between, type Rng, sleep } from './soakUtil';
import type { SoakWriter } from './soakWorkload';

export const PROXY_FAULTS = ['reset', 'stall', 'http500', 'http429'] as const;
export const SERVER_FAULTS = ['restore', 'restart', 'outage'] as const;
export type FaultKind = (typeof PROXY_FAULTS)[number] | (typeof SERVER_FAULTS)[number];

/** The lock holders' sessions live for well under a second here, so faults outlast them. */
const DEV_OPTIONS = { nodeName: 'soak-agent', sessionTtlMinMs: 100 };

/**
 * The Consul the run talks to: an embedded dev-server it may restart and restore, or an
 * external agent (CONSUL_HTTP_ADDR) it only reads and writes.
 */
export class SoakServer {
  private readonly snapshots: { at: number; snapshot: DevServerSnapshot }[] = [];
  restarts = 0;

  private constructor(
    private dev: DevServer | undefined,
    private readonly external: string | undefined,
  ) {}

  static async start(external: string | undefined): Promise<SoakServer> {
    if (external) {
      const url = new URL(/^https?:\/\//.test(external) ? external : `http://${external}`);
      return new SoakServer(undefined, url.origin);
    }
    return new SoakServer(await startDevServer(DEV_OPTIONS), undefined);
  }

  /** True when restarts and snapshot restores are possible (the embedded dev-server). */
  get controllable(): boolean {
    return this.dev !== undefined;
  }

  get url(): string {
    return this.dev?.url ?? this.external!;
  }

  get address(): string {
    return this.dev?.address ?? new URL(this.external!).host;
  }

  /** Keeps a snapshot of now, to restore later (the last 12). */
  takeSnapshot(): void {
    if (!this.dev) return;
    this.snapshots.push({ at: performance.now(), snapshot: this.dev.snapshot() });
    if (this.snapshots.length > 12) this.snapshots.shift();
  }

  /** A snapshot at least `minAgeMs` old when there is one, else the oldest kept. */
  private older(rng: Rng, minAgeMs = 1_000): DevServerSnapshot | undefined {
    const now = performance.now();
    const old = this.snapshots.filter((s) => now - s.at >= minAgeMs);
    const from = old.length > 0 ? old : this.snapshots.slice(0, 1);
    return from[Math.floor(rng() * from.length)]?.snapshot;
  }

  /**
   * Puts an older snapshot back in place: indexes go backwards, parked queries answer at
   * once. User events are not part of a Consul snapshot (they live in the agent's memory,
   * not in Raft), so the agent's current events stay as they are.
   */
  restoreOlder(rng: Rng): void {
    const snapshot = this.older(rng);
    if (!this.dev || !snapshot) return;
    this.dev.restore({ ...snapshot, events: this.dev.snapshot().events });
  }

  /**
   * Closes the server, leaves the port dead for `downMs`, starts a new one on the same port
   * and restores an older snapshot into it (or, with `asItWas`, the state it had when it
   * stopped) before it serves its first request. Like a restarted Consul agent, the new one
   * starts with no user events in its buffer, and its sessions' TTLs start afresh.
   */
  async restart(rng: Rng, downMs: number, asItWas = false): Promise<void> {
    if (!this.dev) return;
    const snapshot = asItWas ? this.dev.snapshot() : this.older(rng);
    const port = this.dev.port;
    await this.dev.close();
    await sleep(downMs);
    const next = await startDevServer({ ...DEV_OPTIONS, port });
    // No request is served before this line: the new server's first I/O turn comes after it.
    if (snapshot) next.restore({ ...snapshot, events: { ...snapshot.events, events: [] } });
    this.dev = next;
    this.restarts += 1;
  }

  async close(): Promise<void> {
    await this.dev?.close();
  }
}

export interface FaultContext {
  proxy: FaultProxy;
  server: SoakServer;
  writer: SoakWriter;
  rng: Rng;
  /** How long an outage lasts, ms: longer than the leaders' session TTL. */
  outageMs: number;
}

/** Injects one fault and resolves when it has ended (proxy back to normal, data written back). */
export async function injectFault(kind: FaultKind, ctx: FaultContext): Promise<void> {
  const { proxy, server, writer, rng, outageMs } = ctx;
  switch (kind) {
    case 'reset':
      // Every open connection, parked blocking queries included, is reset mid-wait.
      proxy.resetConnections();
      return;
    case 'stall': {
      // The next few requests are held unanswered while the writer goes on, then let through.
      proxy.stallNext(between(rng, 2, 5));
      proxy.resetConnections();
      await proxy.whenStalled(1, 2_000).catch(() => {});
      await sleep(between(rng, 200, 700));
      proxy.stallNext(0);
      proxy.release();
      return;
    }
    case 'http500':
    case 'http429': {
      const status = kind === 'http500' ? 500 : 429;
      proxy.failNext(between(rng, 3, 10), status);
      proxy.resetConnections();
      await sleep(between(rng, 100, 400));
      proxy.failNext(0, status);
      return;
    }
    case 'outage':
      // Consul is down longer than the leader's TTL, so the leader steps down, and comes back
      // with its state as it was: the old leader's session still holds the key, and its TTL
      // starts afresh (issue 25: nobody led until it expired and the lock-delay passed).
      await writer.pause();
      await server.restart(rng, outageMs, true);
      await writer.reconcile();
      return;
    case 'restore':
      await writer.pause();
      server.restoreOlder(rng);
      // The watchers live on the older data for a moment, then the writer's data comes back.
      await sleep(between(rng, 150, 500));
      await writer.reconcile();
      return;
    case 'restart':
      await writer.pause();
      await server.restart(rng, between(rng, 100, 500));
      await sleep(between(rng, 100, 300));
      await writer.reconcile();
      return;
  }
}
