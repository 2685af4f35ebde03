import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/index';
import { call, until } from './helpers';

const PARKED = 2_000;

let dev: DevServer;
let sockets: Socket[] = [];
let closed = false;
let baseline: Record<string, number>;
let index: string;
let parked: Parked[];

// One server and one set of parked queries for the whole file, taken through the stages
// below in order: opening 2,000 connections is the slow part, so it is done once.
beforeAll(async () => {
  baseline = handles();
  dev = await startDevServer();
  index = await currentIndex();
  parked = await park(
    Array.from({ length: PARKED }, (_, i) => `/v1/kv/park/k${i}?index=${index}&wait=5m`),
  );
  await dev.whenParked(PARKED, 10_000);
}, 30_000);
afterAll(async () => {
  for (const s of sockets) s.destroy();
  sockets = [];
  if (!closed) await dev?.close();
});

const http = (sent: Parameters<typeof call>[1]) => call({ port: dev.port, agent: false }, sent);

/** The index every parked read below is given: the KV table's, which nothing else moves. */
async function currentIndex(): Promise<string> {
  await http({ method: 'PUT', path: '/v1/kv/seed', body: 's' });
  const read = await http({ method: 'GET', path: '/v1/kv/park/none' });
  expect(read.status).toBe(404);
  return read.headers['x-consul-index'] as string;
}

/** One blocking GET per raw socket (cheaper than node:http clients for thousands). */
interface Parked {
  socket: Socket;
  answer: () => string;
  closed: Promise<void>;
}

async function park(paths: string[]): Promise<Parked[]> {
  const out: Parked[] = [];
  // In batches: thousands of simultaneous SYNs would overflow the listen backlog.
  for (let i = 0; i < paths.length; i += 200) {
    const batch = paths.slice(i, i + 200).map(
      (path) =>
        new Promise<void>((resolve, reject) => {
          const socket = connect(dev.port, '127.0.0.1');
          sockets.push(socket);
          let received = '';
          socket.on('data', (c: Buffer) => (received += c.toString('latin1')));
          socket.on('error', () => {}); // a reset at close() is expected
          const closedP = new Promise<void>((r) => socket.once('close', () => r()));
          out.push({ socket, answer: () => received, closed: closedP });
          socket.once('connect', () => {
            socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
            resolve();
          });
          socket.once('error', reject);
        }),
    );
    await Promise.all(batch);
  }
  return out;
}

function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

describe(`${PARKED} parked blocking queries`, () => {
  it('a write wakes only the query on its key; the others stay parked', async () => {
    expect(dev.parkedQueries).toBe(PARKED);
    expect(dev.stats.connections).toBeGreaterThanOrEqual(PARKED);
    const requestsBefore = dev.stats.requests;
    const onTarget = call(
      { port: dev.port, agent: false },
      { method: 'GET', path: `/v1/kv/park/target?index=${index}&wait=5m` },
      20_000,
    );
    await dev.whenParked(PARKED + 1, 10_000);

    await http({ method: 'PUT', path: '/v1/kv/park/target', body: 'hit' });
    const answer = await onTarget;
    expect(answer.status).toBe(200);
    expect(BigInt(answer.headers['x-consul-index'] as string)).toBeGreaterThan(BigInt(index));
    expect(Buffer.from(JSON.parse(answer.body.toString())[0].Value, 'base64').toString()).toBe(
      'hit',
    );
    expect(dev.parkedQueries).toBe(PARKED);
    // A write under another prefix wakes nobody either.
    await http({ method: 'PUT', path: '/v1/kv/elsewhere/x', body: 'x' });
    expect(dev.parkedQueries).toBe(PARKED);
    expect(dev.stats.requests - requestsBefore).toBe(3); // the GET and two PUTs
    expect(parked.filter((p) => p.answer() !== '')).toHaveLength(0);

    // A write to one parked key answers exactly that one.
    await http({ method: 'PUT', path: '/v1/kv/park/k7', body: 'seven' });
    await until(
      () => parked[7]!.answer().includes('\r\n\r\n'),
      5_000,
      () => 'the query parked on park/k7 did not answer',
    );
    expect(parked[7]!.answer()).toMatch(/^HTTP\/1\.1 200 /);
    expect(dev.parkedQueries).toBe(PARKED - 1);
    expect(parked.filter((p) => p.answer() !== '')).toHaveLength(1);
  });

  it('a client that disconnects while parked is forgotten', async () => {
    const before = dev.parkedQueries;
    for (const p of parked.slice(1_000, 1_400)) p.socket.destroy();
    await until(
      () => dev.parkedQueries === before - 400,
      5_000,
      () => `${dev.parkedQueries} parked after 400 of ${before} clients reset`,
    );
    // Half-closing (FIN) without waiting for the answer is a disconnect too.
    for (const p of parked.slice(1_400, 1_500)) p.socket.end();
    await until(
      () => dev.parkedQueries === before - 500,
      5_000,
      () => `${dev.parkedQueries} parked after 500 of ${before} clients went away`,
    );
    // The rest are untouched: a write to one of them still answers it.
    await http({ method: 'PUT', path: '/v1/kv/park/k1999', body: 'last' });
    await until(
      () => parked[1_999]!.answer().includes('\r\n\r\n'),
      5_000,
      () => 'the query parked on park/k1999 did not answer',
    );
    expect(dev.parkedQueries).toBe(before - 501);
  });

  it('close() with every query parked resolves promptly and leaves no socket or timer', async () => {
    // A few on the other blocking endpoints too.
    const big = Number.MAX_SAFE_INTEGER;
    const others = await park([
      `/v1/catalog/services?index=${big}&wait=10m`,
      `/v1/health/service/none?index=${big}&wait=10m`,
      `/v1/kv/park/?recurse&index=${big}&wait=10m`,
      `/v1/kv/?keys&separator=/&index=${big}&wait=10m`,
      // The event list blocks while its index (1 with no event) is the one sent.
      '/v1/event/list?index=1&wait=10m',
    ]);
    const expected = dev.parkedQueries + others.length;
    await dev.whenParked(expected, 10_000);
    expect(dev.parkedQueries).toBeGreaterThan(1_400);
    const started = performance.now();
    await dev.close();
    closed = true;
    expect(performance.now() - started).toBeLessThan(2_000);
    // Right away, not on some later turn: every parked query and its wait timer are gone.
    expect(dev.parkedQueries).toBe(0);
    expect(handles().Timeout ?? 0).toBeLessThanOrEqual(baseline.Timeout ?? 0);
    // The server dropped every connection: each client sees its socket close.
    await Promise.all([...parked, ...others].map((p) => p.closed));
    await until(
      () =>
        (handles().TCPSocketWrap ?? 0) <= (baseline.TCPSocketWrap ?? 0) &&
        (handles().TCPServerWrap ?? 0) <= (baseline.TCPServerWrap ?? 0),
      5_000,
      () =>
        `handles left after close(): ${JSON.stringify(handles())}, before: ${JSON.stringify(baseline)}`,
    );
    await expect(
      call({ port: dev.port, agent: false }, { method: 'GET', path: '/v1/status/leader' }),
    ).rejects.toThrow(/ECONNREFUSED/);
  });
});
