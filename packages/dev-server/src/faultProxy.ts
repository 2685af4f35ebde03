import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';

export interface FaultProxy {
  /** `127.0.0.1:PORT`, to use as the Consul address. */
  readonly address: string;
  readonly url: string;
  /** Requests that reached the proxy so far. */
  readonly requests: number;
  /** Answers the next `count` requests with `status` (500, 429, …) instead of forwarding them. */
  failNext(count: number, status: number, body?: string): void;
  /** Holds the next `count` requests unanswered until `release()` (or close). */
  stallNext(count: number): void;
  /** Lets every stalled request through. */
  release(): void;
  /** Resolves once at least `count` requests are being held; rejects after `timeoutMs` (default 5 s). */
  whenStalled(count: number, timeoutMs?: number): Promise<void>;
  /** Resets every open client connection now, parked blocking queries included. */
  resetConnections(): void;
  /** Resets the next `count` connections as soon as their request arrives. */
  resetNext(count: number): void;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of a Consul agent that injects faults on command: error statuses,
 * stalls, and connection resets in the middle of a blocking wait. Tests and the soak run
 * use it to prove a watch resynchronises after each.
 */
export async function startFaultProxy(
  target: string,
  options: { host?: string } = {},
): Promise<FaultProxy> {
  const upstream = new URL(/^https?:\/\//.test(target) ? target : `http://${target}`);
  const agent = new Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  const stalled = new Set<() => void>();
  const stallWatchers = new Set<() => void>();
  let failures: { count: number; status: number; body: string } = {
    count: 0,
    status: 500,
    body: '',
  };
  let stalls = 0;
  let resets = 0;
  let requests = 0;

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    // A client that goes away takes its upstream request with it, as a real agent would see.
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  };

  const server: Server = createServer((req, res) => {
    requests += 1;
    if (resets > 0) {
      resets -= 1;
      req.socket.destroy();
      return;
    }
    if (failures.count > 0) {
      failures.count -= 1;
      res.writeHead(failures.status, { 'Content-Type': 'text/plain' });
      res.end(failures.body || `injected ${failures.status}`);
      return;
    }
    if (stalls > 0) {
      stalls -= 1;
      const go = () => {
        stalled.delete(go);
        if (!res.destroyed) forward(req, res);
      };
      stalled.add(go);
      for (const watcher of [...stallWatchers]) watcher();
      return;
    }
    forward(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const resetConnections = () => {
    for (const socket of sockets) socket.destroy();
  };

  return {
    address: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    failNext: (count, status, body = '') => {
      failures = { count, status, body };
    },
    stallNext: (count) => {
      stalls = count;
    },
    release: () => {
      for (const go of [...stalled]) go();
    },
    whenStalled: (count, timeoutMs = 5_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (stalled.size < count) return;
          clearTimeout(timer);
          stallWatchers.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          stallWatchers.delete(check);
          reject(new Error(`${stalled.size} of ${count} requests stalled after ${timeoutMs} ms`));
        }, timeoutMs);
        stallWatchers.add(check);
        check();
      }),
    resetConnections,
    resetNext: (count) => {
      resets = count;
    },
    close: async () => {
      stalled.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      resetConnections();
      await closed;
      agent.destroy();
    },
  };
}
