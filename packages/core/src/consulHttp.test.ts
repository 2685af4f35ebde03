import { startDevServer } from '@consul-watch/dev-server';
import { type FaultProxy, startFaultProxy } from '@consul-watch/dev-server/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConnection } from './connection';
import { ConsulHttp, WatchRequests } from './consulHttp';
import { ConsulUnavailableError } from './errors';

// A proxy that can hold a request unanswered is needed, so this runs on the embedded
// dev-server even when CONSUL_HTTP_ADDR is set.
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

async function setup() {
  const dev = await startDevServer();
  cleanup.push(() => dev.close());
  const proxy: FaultProxy = await startFaultProxy(dev.address);
  cleanup.push(() => proxy.close());
  const http = new ConsulHttp(resolveConnection({ address: proxy.address }, {}));
  cleanup.push(() => http.close());
  const requests = new WatchRequests();
  const controller = new AbortController();
  cleanup.push(() => {
    controller.abort();
    requests.dispose();
  });
  /** One read of the watch, as a watch makes it: the watch's context, its signal, a deadline. */
  const read = () =>
    http.request<unknown>(
      'watch key "a"',
      { cancel: requests, signal: controller.signal, timeoutMs: 150 },
      { path: '/kv/a' },
    );
  return { proxy, requests, read };
}

describe("a watch's request deadline", () => {
  it('fails a request held past its deadline as ConsulUnavailableError (ETIMEDOUT), and the next request gets a deadline of its own', async () => {
    const { proxy, read } = await setup();
    await expect(read()).resolves.toMatchObject({ status: 404 });
    proxy.stallNext(1);
    const started = performance.now();
    const error = await read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConsulUnavailableError);
    expect((error as Error).message).toMatch(/cannot reach Consul at .*\(ETIMEDOUT\)/);
    expect(performance.now() - started).toBeLessThan(5_000);
    proxy.release();
    await expect(read()).resolves.toMatchObject({ status: 404 });
  });

  it('cancels nothing when it runs out between requests', async () => {
    const { requests, read } = await setup();
    await read();
    // The deadline of the answered request runs out while no request is in flight.
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(requests.timedOut).toBe(false);
    await expect(read()).resolves.toMatchObject({ status: 404 });
  });
});
