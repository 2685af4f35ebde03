import { Agent } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/index';
import { type Answer, call, prng, type Sent, until } from './helpers';

// Bad input must be answered, never fatal. The seed is in the test names; replay a failure
// with FUZZ_SEED=<seed>.
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const HTTP_REQUESTS = 3_000;
const RAW_REQUESTS = 300;
const MAX_UINT64 = '18446744073709551615';

let dev: DevServer;
let agent: Agent;
let parkAgent: Agent;
const known = new Map<string, Buffer>();

beforeAll(async () => {
  dev = await startDevServer();
  agent = new Agent({ keepAlive: true, maxSockets: 16 });
  parkAgent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const rand = prng(SEED ^ 0x5eed);
  for (let i = 0; i < 20; i++) {
    const value = Buffer.from(Array.from({ length: 1 + i * 37 }, () => Math.floor(rand() * 256)));
    if (i === 0) value.fill(0);
    known.set(`known/k${i}`, value);
    const put = await call(
      { port: dev.port, agent },
      { method: 'PUT', path: `/v1/kv/known/k${i}`, body: value },
    );
    expect(put.body.toString()).toBe('true');
  }
  const reg = await call(
    { port: dev.port, agent },
    {
      method: 'PUT',
      path: '/v1/agent/service/register',
      body: JSON.stringify({ Name: 'known-svc', ID: 'known-svc', Port: 8080, Tags: ['a'] }),
    },
  );
  expect(reg.status).toBe(200);
});

afterAll(async () => {
  agent?.destroy();
  parkAgent?.destroy();
  await dev?.close();
});

type Rand = () => number;
const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

const SEGMENTS = [
  'a',
  'b',
  'x y',
  '%20',
  '%2F',
  '%25',
  '%E2%80%A8', // LINE SEPARATOR
  '%E2%80%A9', // PARAGRAPH SEPARATOR
  '%C2%85', // NEXT LINE
  '%E0%A4%A', // truncated escape
  '%',
  '%zz',
  '%00',
  '%FF%FE',
  '..',
  '.',
  '',
  '%F0%9F%92%A9',
  'a'.repeat(300),
  ';',
  '#',
];

function fuzzKey(rand: Rand): string {
  const n = Math.floor(rand() * 4);
  const parts = Array.from({ length: n }, () => pick(rand, SEGMENTS).replace(' ', '%20'));
  return `fuzz/${parts.join('/')}`;
}

const QUERY = [
  'index=-1',
  'index=abc',
  'index=99999999999999999999999',
  `index=${MAX_UINT64}`,
  'index=18446744073709551616',
  'index=0',
  'index=1',
  'index=5',
  'index=',
  'wait=10',
  'wait=1e9s',
  'wait=-5s',
  'wait=1ms',
  'wait=',
  'wait=5m',
  'wait=99999999999999999999999h',
  'wait=.s',
  'cas=x',
  'cas=0',
  'cas=-1',
  'cas=99999999999999999999',
  'flags=-1',
  'flags=1.5',
  `flags=${MAX_UINT64}`,
  'flags=18446744073709551616',
  'dc=other',
  'dc=dc1',
  'dc=',
  'stale',
  'consistent',
  'stale&consistent',
  'recurse',
  'keys',
  'raw',
  'separator=%2F',
  'separator=%E2%80%A8',
  'separator=%E2%80%A9',
  'acquire=abc',
  'release=abc',
  'acquire',
  'passing',
  'tag=a',
  'tag=%E2%80%A8',
  'name=%E0%A4%A',
  'name=x',
  'node=(',
  'service=[',
  'tag=*',
  'node=.*',
  'note=%E2%80%A8',
  'token=abc',
  'pretty',
  '%',
  '=',
  '&&&',
  'a=%zz',
];

const BODIES: (string | Buffer)[] = [
  '',
  '{',
  '{"Name":5}',
  '{"Name":"fuzz-s","Port":"80"}',
  '{"Name":"fuzz-s","Tags":[1,2]}',
  '{"Name":"fuzz-s","Meta":{"a":1}}',
  '{"Name":"fuzz-s","Check":{"TTL":"abc"}}',
  '{"Name":"fuzz-s","Check":{"TTL":"10s","DeregisterCriticalServiceAfter":"-1s"}}',
  '{"Name":"fuzz-s","Checks":{}}',
  '{"Name":"fuzz-s","Checks":[null,5]}',
  '{"Name":"fuzz-s","Check":{"HTTP":"http://x"}}',
  '{"name":"fuzz-t","tags":["x"],"check":{"ttl":"1h"}}',
  '{"Name":"fuzz-c","TTL":"30s","ServiceID":"nope"}',
  '{"Name":"fuzz-c","TTL":"30s","Status":"bogus"}',
  '{"Name":"fuzz-c","TTL":"30s"}',
  '{"Status":"passing","Output":5}',
  '{"Status":"weird"}',
  '[]',
  '[1,2,3]',
  'null',
  '5',
  '"str"',
  'true',
  '{"__proto__":{"polluted":1},"Name":"fuzz-p"}',
  '{"constructor":{"prototype":{"x":1}},"Name":"fuzz-q"}',
  '{"Node":"fuzz-n1","Address":"10.0.0.1","Service":{"Service":"fuzz-ext","Port":1}}',
  '{"Node":"fuzz-n1","Address":5}',
  '{"Node":"fuzz-n2","Address":"10.0.0.2","Check":{"CheckID":"c","Status":"nope"}}',
  '{"Node":"fuzz-n2","Address":"10.0.0.2","Checks":[{"CheckID":"c","Status":"critical"}]}',
  '{"Node":"fuzz-n1","ServiceID":"fuzz-ext"}',
  '{"Node":"fuzz-n2"}',
  '{"Node":5}',
  '{"Node":null}',
  '[{"KV":{"Verb":"set","Key":"fuzz/t","Value":"aGk="}}]',
  '[{"KV":{"Verb":"set","Key":"fuzz/t","Value":"!!not base64!!"}}]',
  '[{"KV":{"Verb":"cas","Key":"fuzz/t","Index":"x"}}]',
  '[{"KV":{"Verb":"set","Key":"fuzz/t","Flags":-1}}]',
  '[{"KV":{"Verb":"set","Key":"fuzz/t","Flags":1.5}}]',
  '[{"KV":{"Verb":"lock","Key":"fuzz/t"}}]',
  '[{"KV":{"Verb":"delete-tree","Key":"fuzz/"}}]',
  '[{"KV":{"Verb":"get-tree","Key":"fuzz/"}},{"KV":{"Verb":"check-not-exists","Key":"fuzz/zz"}}]',
  '[{"KV":{"Verb":"set","Key":"/fuzz"}}]',
  '[{"KV":{"Verb":"set","Key":5}}]',
  '[{"KV":null}]',
  '[{"Node":{"Verb":"set"}}]',
  '[null]',
  '{"KV":{"Verb":"get","Key":"fuzz/t"}}',
  JSON.stringify(
    Array.from({ length: 129 }, (_, i) => ({ KV: { Verb: 'set', Key: `fuzz/m${i}`, Value: '' } })),
  ),
  '['.repeat(20_000) + ']'.repeat(20_000),
  `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`,
  '\u0000\u0001\u0002',
  '\uFEFF{"Name":"fuzz-bom"}',
  '{"Name":"fuzz-\u2028-\u2029"}',
  Buffer.from([0xff, 0xfe, 0x00, 0x7b]),
];

interface Endpoint {
  methods: string[];
  path: (rand: Rand) => string;
}

const ENDPOINTS: Endpoint[] = [
  { methods: ['GET', 'PUT', 'DELETE'], path: (r) => `/v1/kv/${fuzzKey(r)}` },
  { methods: ['GET', 'PUT', 'DELETE'], path: (r) => `/v1/kv/${fuzzKey(r)}` },
  { methods: ['PUT', 'GET'], path: () => '/v1/txn' },
  { methods: ['PUT', 'GET'], path: () => '/v1/agent/service/register' },
  {
    methods: ['PUT'],
    path: (r) => `/v1/agent/service/deregister/fuzz-${pick(r, SEGMENTS).replace(' ', '%20')}`,
  },
  { methods: ['PUT'], path: () => '/v1/agent/check/register' },
  {
    methods: ['PUT', 'GET'],
    path: (r) =>
      `/v1/agent/check/${pick(r, ['pass', 'warn', 'fail', 'update', 'deregister', 'bogus'])}/${pick(r, ['fuzz-c', 'service:fuzz-s', 'service:fuzz-t', 'nope', '%E0%A4%A', ''])}`,
  },
  { methods: ['GET'], path: () => '/v1/agent/services' },
  { methods: ['GET'], path: () => '/v1/agent/checks' },
  { methods: ['GET'], path: () => '/v1/agent/self' },
  { methods: ['PUT', 'GET'], path: () => '/v1/catalog/register' },
  { methods: ['PUT'], path: () => '/v1/catalog/deregister' },
  {
    methods: ['GET'],
    path: (r) =>
      `/v1/catalog/${pick(r, ['services', 'nodes', 'datacenters', 'service/known-svc', 'service/fuzz-ext', 'service/', 'node/fuzz-n1', 'node/', 'node/%E0%A4%A', 'bogus'])}`,
  },
  {
    methods: ['PUT', 'GET'],
    path: (r) =>
      `/v1/event/fire/${pick(r, ['fuzz-ev', '', '%E2%80%A8', '%E0%A4%A', 'x'.repeat(500)])}`,
  },
  { methods: ['GET'], path: () => '/v1/event/list' },
  {
    methods: ['GET'],
    path: (r) =>
      `/v1/health/${pick(r, ['service/known-svc', 'service/fuzz-s', 'service/', 'checks/fuzz-s', 'checks/%E0%A4%A', 'state/any', 'state/passing', 'state/bogus', 'state/', 'node/fuzz-n2', 'nope'])}`,
  },
  {
    methods: ['GET', 'PUT'],
    path: (r) => `/v1/status/${pick(r, ['leader', 'peers', 'bogus', ''])}`,
  },
  {
    methods: ['GET'],
    path: (r) => pick(r, ['/v1/', '/', '/v2/kv/x', '/v1', '/v1/kv', '//v1/kv/x']),
  },
];

const EXTRA_METHODS = ['POST', 'PATCH', 'HEAD', 'OPTIONS', 'FOO'];

function randomRequest(rand: Rand): Sent {
  const endpoint = pick(rand, ENDPOINTS);
  const method = rand() < 0.06 ? pick(rand, EXTRA_METHODS) : pick(rand, endpoint.methods);
  const params = Array.from({ length: Math.floor(rand() * 4) }, () => pick(rand, QUERY));
  const path = endpoint.path(rand) + (params.length > 0 ? `?${params.join('&')}` : '');
  const headers: Record<string, string> = {};
  let body: string | Buffer | undefined;
  if (method === 'PUT' || method === 'POST' || method === 'PATCH') {
    const roll = rand();
    if (roll < 0.01 && path.startsWith('/v1/kv/')) {
      body = Buffer.alloc(512 * 1024 + 1 + Math.floor(rand() * 100_000), 0x61);
    } else if (roll < 0.2) {
      body = Buffer.from(
        Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)),
      );
    } else {
      body = pick(rand, BODIES);
    }
  }
  if (rand() < 0.03) {
    // A declared length far past what is sent: the server must answer, not wait for it.
    headers['Content-Length'] = pick(rand, ['99999999999', '9007199254740993', '123456789012345']);
    headers.Connection = 'close';
  }
  if (rand() < 0.05) headers['X-Consul-Token'] = pick(rand, ['x', 'anonymous', '\u00ff']);
  return { method, path, headers, body };
}

/** May this request park? (A GET with an index a blocking read accepts.) */
function mayPark(sent: Sent): boolean {
  if (sent.method !== 'GET') return false;
  const q = sent.path.indexOf('?');
  if (q < 0) return false;
  const index = new URLSearchParams(sent.path.slice(q + 1)).get('index');
  return (
    index !== null &&
    /^\d{1,20}$/.test(index) &&
    BigInt(index) > 0n &&
    BigInt(index) <= BigInt(MAX_UINT64)
  );
}

/** The only 5xx Consul documents for bad input: another datacenter, and an unknown or missing session. */
function allowed5xx(sent: Sent, answer: Answer): boolean {
  const body = answer.body.toString();
  if (sent.method === 'HEAD' && answer.status === 500 && /[?&]dc=/.test(sent.path)) return true;
  return (
    answer.status === 500 &&
    ((/[?&]dc=/.test(sent.path) && body.startsWith('No path to datacenter')) ||
      (/[?&](acquire|release)/.test(sent.path) && /^(invalid|missing) session/.test(body)))
  );
}

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

interface RawResult {
  sent: string;
  received: string;
}

function raw(
  port: number,
  chunks: (string | Buffer)[],
  destroyAfterMs = 1_000,
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    // The server may reset a connection it gave up on; that is an answer too.
    socket.on('error', () => {});
    const timer = setTimeout(() => socket.destroy(), destroyAfterMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({
        sent: Buffer.concat(chunks.map((c) => Buffer.from(c))).toString('latin1'),
        received: Buffer.concat(received).toString('latin1'),
      });
    });
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c);
      socket.end();
    });
    socket.once('timeout', reject);
  });
}

function randomRaw(rand: Rand): (string | Buffer)[] {
  const kind = Math.floor(rand() * 12);
  const key = `fuzz/raw${Math.floor(rand() * 50)}`;
  switch (kind) {
    case 0: // control characters in the path
      return [`GET /v1/kv/${key}\u0001\u007f\u001b HTTP/1.1\r\nHost: x\r\n\r\n`];
    case 1: // truncated body
      return [`PUT /v1/kv/${key} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc`];
    case 2: // truncated headers
      return [`GET /v1/kv/${key}?recurse HTTP/1.1\r\nHost: x\r\nX-Con`];
    case 3: // truncated request line
      return [
        pick(rand, [
          'GET /v1/k',
          'PU',
          'GET /v1/kv/fuzz/a HTTP/1.',
          'DELETE /v1/kv/fuzz/a HTTP/1.1\r',
        ]),
      ];
    case 4: // random bytes
      return [
        Buffer.from(
          Array.from({ length: 1 + Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)),
        ),
      ];
    case 5: // raw UTF-8 (unicode separators) in the path
      return [
        Buffer.from(`GET /v1/kv/${key}\u2028\u2029?separator=\u2028 HTTP/1.1\r\nHost: x\r\n\r\n`),
      ];
    case 6: // huge and overflowing Content-Length
      return [
        `PUT /v1/kv/${key} HTTP/1.1\r\nHost: x\r\nContent-Length: ${pick(rand, ['99999999999', '99999999999999999999999', '-1', 'abc', '1, 2'])}\r\n\r\nabc`,
      ];
    case 7: // both framings
      return [
        `PUT /v1/kv/${key} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
      ];
    case 8: // bad chunk sizes
      return [
        `PUT /v1/kv/${key} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${pick(rand, ['zz', 'FFFFFFFFFFFFFFFFFF', '-1', '5'])}\r\nabc`,
      ];
    case 9: // pipelined well-formed requests, then one cut short
      return [
        `GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\nPUT /v1/kv/${key} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nokGET /v1/kv/${key}?raw HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/kv/`,
      ];
    case 10: // byte by byte
      return Array.from(`GET /v1/kv/${key}?keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    default: // HTTP/2 preface, HTTP/0.9, an absolute URL
      return [
        pick(rand, [
          'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
          'GET /v1/status/leader\r\n\r\n',
          'GET http://evil/v1/kv/fuzz/a HTTP/1.1\r\nHost: x\r\n\r\n',
          'GET * HTTP/1.1\r\nHost: x\r\n\r\n',
          `GET /v1/kv/${key} HTTP/1.0\r\n\r\n`,
        ]),
      ];
  }
}

describe(`fuzz (seed ${SEED}; replay with FUZZ_SEED=${SEED})`, () => {
  it(`answers ${HTTP_REQUESTS} random node:http requests and ${RAW_REQUESTS} raw-socket ones without a crash or a lost write`, async () => {
    const rand = prng(SEED);
    const requests = Array.from({ length: HTTP_REQUESTS }, () => randomRequest(rand));
    const rawRequests = Array.from({ length: RAW_REQUESTS }, () => randomRaw(rand));
    const problems: string[] = [];
    const describeSent = (s: Sent) =>
      `${s.method} ${s.path} ${JSON.stringify(s.headers)} body=${
        s.body === undefined
          ? '-'
          : JSON.stringify(Buffer.from(s.body).subarray(0, 80).toString('latin1'))
      }`;
    const statuses = new Map<number, number>();
    const judge = (sent: Sent, answer: Answer) => {
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status < 100 || answer.status > 599)
        problems.push(`no status: ${describeSent(sent)}`);
      else if (answer.status >= 500 && !allowed5xx(sent, answer))
        problems.push(
          `${answer.status} ${answer.body.toString().slice(0, 200)} ← ${describeSent(sent)}`,
        );
    };

    // Requests that may park go over their own agent, so they never hold a pool slot.
    const parked: Promise<void>[] = [];
    let finished = false;

    const oversize = (s: Sent) =>
      Buffer.isBuffer(s.body) && s.body.length > 512 * 1024 && s.path.startsWith('/v1/kv/');

    const httpTraffic = pool(requests, 16, async (sent) => {
      if (mayPark(sent)) {
        parked.push(
          call(
            { port: dev.port, agent: parkAgent },
            { ...sent, headers: { ...sent.headers } },
            60_000,
          ).then(
            (answer) => judge(sent, answer),
            (error: Error) => {
              if (!finished) problems.push(`${error.message}: ${describeSent(sent)}`);
            },
          ),
        );
        return;
      }
      try {
        judge(sent, await call({ port: dev.port, agent }, sent));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // Uploading past the limit: the server answers 413 and closes while the client is still
        // sending, so the client may see the reset before the answer. Never for anything else.
        if (oversize(sent) && (code === 'ECONNRESET' || code === 'EPIPE')) return;
        problems.push(`${(error as Error).message}: ${describeSent(sent)}`);
      }
    });
    const rawResults: RawResult[] = [];
    const rawTraffic = pool(rawRequests, 8, async (chunks) => {
      rawResults.push(await raw(dev.port, chunks));
    });
    await Promise.all([httpTraffic, rawTraffic]);

    for (const { sent, received } of rawResults) {
      if (received === '') continue;
      if (!received.startsWith('HTTP/1.1 '))
        problems.push(
          `raw reply without a status line: ${JSON.stringify(received.slice(0, 80))} ← ${JSON.stringify(sent.slice(0, 120))}`,
        );
      for (const [, code] of received.matchAll(/HTTP\/1\.1 (\d{3}) /g))
        if (Number(code) >= 500)
          problems.push(
            `raw ${code}: ${JSON.stringify(received.slice(0, 200))} ← ${JSON.stringify(sent.slice(0, 120))}`,
          );
    }

    // Parked queries still waiting: drop them, and the server must forget every one.
    finished = true;
    parkAgent.destroy();
    await Promise.all(parked);
    await until(
      () => dev.parkedQueries === 0,
      3_000,
      () => `${dev.parkedQueries} parked queries left after their clients went away`,
    );

    expect(problems, `seed ${SEED}`).toEqual([]);
    // The traffic reached the handlers, not just the parser: every kind of answer occurred.
    for (const status of [200, 400, 404, 405, 413])
      expect(statuses.get(status), `status ${status}`).toBeGreaterThan(0);

    const base = { port: dev.port, agent };
    const leader = await call(base, { method: 'GET', path: '/v1/status/leader' });
    expect(leader.status).toBe(200);
    expect(JSON.parse(leader.body.toString())).toBe('127.0.0.1:8300');
    for (const [key, value] of known) {
      const got = await call(base, { method: 'GET', path: `/v1/kv/${key}?raw` });
      expect(got.status, key).toBe(200);
      expect(got.body.equals(value), `${key} changed (seed ${SEED})`).toBe(true);
    }
    const keys = await call(base, { method: 'GET', path: '/v1/kv/known/?keys' });
    expect(JSON.parse(keys.body.toString())).toHaveLength(known.size);
    const services = JSON.parse(
      (await call(base, { method: 'GET', path: '/v1/agent/services' })).body.toString(),
    );
    expect(services['known-svc']).toMatchObject({
      ID: 'known-svc',
      Service: 'known-svc',
      Port: 8080,
      Tags: ['a'],
    });
    const catalog = JSON.parse(
      (await call(base, { method: 'GET', path: '/v1/catalog/service/known-svc' })).body.toString(),
    );
    expect(catalog).toHaveLength(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
