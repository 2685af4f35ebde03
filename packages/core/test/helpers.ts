import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import {
  type FaultProxy,
  startFaultProxy,
  startTestAgent,
  type TestAgent,
} from '@consul-watch/dev-server/testing';
import { type ConsulWatch, type ConsulWatchOptions, createConsulWatch } from '../src/consulWatch';
import type { Watch } from '../src/watch';
import type { WatchChange, WatchTypeName } from '../src/watchTypes';

export const external = Boolean(process.env.CONSUL_HTTP_ADDR);

/** A unique KV prefix per test, so the suites can share one real agent. */
export const uniquePrefix = (label: string) => `cw-test/${label}-${randomUUID().slice(0, 8)}/`;

export interface Fixture {
  agent: TestAgent;
  client: ConsulWatch;
  close(): Promise<void>;
}

export async function fixture(options: ConsulWatchOptions = {}): Promise<Fixture> {
  const agent = await startTestAgent();
  const client = createConsulWatch({ address: agent.address, ...options });
  return {
    agent,
    client,
    async close() {
      await client.close();
      await agent.close();
    },
  };
}

/** Records a watch's changes and lets a test await one that matches, bounded in time. */
export function record<T extends WatchTypeName>(watch: Watch<T>) {
  const changes: WatchChange<T>[] = [];
  const waiters = new Set<() => void>();
  watch.on('change', (change) => {
    changes.push(change);
    for (const w of [...waiters]) w();
  });
  return {
    changes,
    /** Resolves with the first recorded change (from `from` on) that satisfies `match`. */
    until(
      match: (change: WatchChange<T>) => boolean,
      from = 0,
      timeoutMs = 5_000,
    ): Promise<WatchChange<T>> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = changes.slice(from).find(match);
          if (!found) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no matching change within ${timeoutMs} ms; got ${JSON.stringify(changes.map((c) => c.type))}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

/** A promise and its resolver, for handlers a test holds back. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Raw HTTP, as another Consul client would send it; no keep-alive, so nothing stays open. */
export function consulFetch(
  agent: TestAgent,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const payload =
    body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${agent.url}${path}`,
      { method, agent: false, headers: { connection: 'close' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * An embedded dev-server with a fault proxy in front and a client talking through it, each
 * closed by `cleanup` (last in, first out).
 */
export async function proxiedClient(
  cleanup: (() => unknown)[],
  options: ConsulWatchOptions = {},
): Promise<{ dev: DevServer; proxy: FaultProxy; client: ConsulWatch }> {
  const dev = await startDevServer();
  cleanup.push(() => dev.close());
  const proxy = await startFaultProxy(dev.address);
  cleanup.push(() => proxy.close());
  const client = createConsulWatch({ ...options, address: proxy.address });
  cleanup.push(() => client.close());
  return { dev, proxy, client };
}
