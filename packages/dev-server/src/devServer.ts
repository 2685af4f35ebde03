import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import { type DevServerSnapshot, DevState } from './devState';
import { loadSnapshot, SnapshotFile, WHAT_TO_DO } from './persistence';
import { createRouter } from './router';
import { agentRoutes, statusRoutes } from './routes/agent';
import { catalogRoutes, healthRoutes } from './routes/catalog';
import { eventRoutes } from './routes/event';
import { kvRoutes } from './routes/kv';
import type { RouteContext } from './routes/route';
import { sessionRoutes } from './routes/session';
import { txnRoutes } from './routes/txn';

export interface DevServerOptions {
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number;
  /** Address to bind. Default 127.0.0.1: never exposed beyond the machine unless asked. */
  host?: string;
  /**
   * Listen on this unix domain socket instead of TCP (as an agent with `addresses.http =
   * "unix:///…"`); `url` and `address` are then `unix:///path`.
   */
  socketPath?: string;
  /** Default 'dc1'. */
  datacenter?: string;
  /** This agent's node name. Default: the machine's host name. */
  nodeName?: string;
  /** When set, every request but /v1/status/* must carry this token (X-Consul-Token). */
  aclToken?: string;
  /** Persist KV, catalog and events here, atomically, and load them on start. */
  dataFile?: string;
  /** Where failures to write `dataFile` are reported. Default: console.error. */
  onError?: (error: Error) => void;
  /**
   * Serve HTTPS with this certificate and key (PEM). With `ca`, clients must present a
   * certificate signed by it, as an agent with `verify_incoming` demands.
   */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer };
  /**
   * The shortest session TTL accepted, as Consul's `session_ttl_min`. Default 10 s; tests of
   * session expiry set it lower so a TTL of a few hundred milliseconds is allowed.
   */
  sessionTtlMinMs?: number;
}

export interface DevServer {
  /** `http://127.0.0.1:PORT` (`unix:///path` on a unix socket) */
  readonly url: string;
  /** `127.0.0.1:PORT`, the form CONSUL_HTTP_ADDR takes. */
  readonly address: string;
  readonly port: number;
  readonly host: string;
  /** Number of blocking queries parked right now. */
  readonly parkedQueries: number;
  /** HTTP requests received since start, and client connections open now (for tests and benchmarks). */
  readonly stats: { requests: number; connections: number };
  /** Resolves once at least `count` blocking queries are parked; rejects after `timeoutMs` (default 5 s). */
  whenParked(count: number, timeoutMs?: number): Promise<void>;
  /** A deep copy of the whole state, to `restore()` later. */
  snapshot(): DevServerSnapshot;
  /** Puts a snapshot back; indexes go backwards and parked queries answer at once. */
  restore(snapshot: DevServerSnapshot): void;
  /** Destroys every open client connection (the server keeps listening). */
  dropConnections(): void;
  /** Forgets the tombstones of deleted keys, as Consul's reaper does. */
  reapTombstones(): void;
  /** Stops listening, drops every connection and timer, and flushes `dataFile`. */
  close(): Promise<void>;
}

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const host = options.host ?? '127.0.0.1';
  const datacenter = options.datacenter ?? 'dc1';
  const onError =
    options.onError ?? ((error: Error) => console.error(`consul-dev: ${error.message}`));
  let persist: SnapshotFile | undefined;
  const sessionTtlMinMs = options.sessionTtlMinMs;
  if (sessionTtlMinMs !== undefined && (!Number.isFinite(sessionTtlMinMs) || sessionTtlMinMs <= 0))
    throw new TypeError(
      `sessionTtlMinMs must be a positive number of milliseconds (got ${String(sessionTtlMinMs)})`,
    );
  const state = new DevState(
    options.nodeName ?? hostname(),
    datacenter,
    options.dataFile ? () => persist?.schedule() : undefined,
    sessionTtlMinMs,
  );
  if (options.dataFile) {
    const saved = await loadSnapshot(options.dataFile);
    try {
      if (saved) state.restore(saved);
    } catch (error) {
      state.close(); // TTL timers a partial restore may have armed
      throw new Error(
        `${options.dataFile} is a damaged consul-dev data file (${(error as Error).message}). ${WHAT_TO_DO}`,
      );
    }
    persist = new SnapshotFile(options.dataFile, () => state.snapshot(), onError);
  }
  if (!state.catalog.node(state.agent.node)) state.agent.join();

  const context: RouteContext = { state, datacenter, pretty: (r) => r.query.has('pretty') };
  const routes = [
    ...kvRoutes(context),
    ...txnRoutes(context),
    ...agentRoutes(context),
    ...statusRoutes(),
    ...catalogRoutes(context),
    ...healthRoutes(context),
    ...eventRoutes(context),
    ...sessionRoutes(context),
  ];
  const route = createRouter(routes, { datacenter, aclToken: options.aclToken });
  let requests = 0;
  // Counted here rather than by a second 'request' listener, which made node copy the
  // listener list on every request.
  const router = (req: IncomingMessage, res: ServerResponse) => {
    requests += 1;
    route(req, res);
  };
  const tls = options.tls;
  const server: Server = tls
    ? createHttpsServer(
        {
          cert: tls.cert,
          key: tls.key,
          ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
        },
        router,
      )
    : createServer(router);
  const sockets = new Set<Socket>();
  // One listener for every socket, not a closure (and a `once` wrapper) per connection: a
  // parked query holds a connection, and there may be thousands.
  function forget(this: Socket) {
    sockets.delete(this);
  }
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', forget);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Consul's Go listener gets the system's maximum backlog; Node's default (511) stalls a
    // burst of new connections (many watchers starting at once) by about a second per 500.
    const where = options.socketPath
      ? { path: options.socketPath, backlog: 4096 }
      : { port: options.port ?? 0, host, backlog: 4096 };
    server.listen(where, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;

  const dropConnections = () => {
    for (const socket of sockets) socket.destroy();
  };

  const unix = options.socketPath ? `unix://${options.socketPath}` : undefined;
  return {
    url: unix ?? `${tls ? 'https' : 'http'}://${hostPart}:${port}`,
    address: unix ?? `${hostPart}:${port}`,
    port,
    host,
    get parkedQueries() {
      return state.waiters.size;
    },
    get stats() {
      return { requests, connections: sockets.size };
    },
    whenParked: (count, timeoutMs = 5_000) =>
      new Promise<void>((resolve, reject) => {
        if (state.waiters.size >= count) return resolve();
        const timer = setTimeout(() => {
          stop();
          reject(
            new Error(
              `${state.waiters.size} of ${count} blocking queries parked after ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
        const stop = state.waiters.onPark(() => {
          if (state.waiters.size < count) return;
          clearTimeout(timer);
          stop();
          resolve();
        });
      }),
    snapshot: () => structuredClone(state.snapshot()),
    restore: (snapshot) => state.restore(structuredClone(snapshot)),
    dropConnections,
    reapTombstones: () => state.kv.reapTombstones(),
    close: () => {
      closing ??= (async () => {
        state.agent.stop();
        state.sessions.stop();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // The server reports closed before its sockets' 'close' events, which are what
        // unpark blocking queries and clear their wait timers: wait for those too.
        const dropped = [...sockets].map((s) => new Promise((resolve) => s.once('close', resolve)));
        dropConnections();
        await Promise.all([closed, ...dropped]);
        await persist?.flush();
      })();
      return closing;
    },
  };
}
