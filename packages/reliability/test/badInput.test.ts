import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConsulEnv, watchConsulEnv } from '@consul-watch/config-loader';
import {
  ClientClosedError,
  type ConnectionOptions,
  ConsulRequestError,
  type ConsulWatch,
  type ConsulWatchError,
  type ConsulWatchOptions,
  createConsulWatch,
  DecodeError,
  HandlerError,
  httpHandler,
  InvalidFilterError,
  InvalidInputError,
  type KvClient,
  type LiveConfigOptions,
  LockConflictError,
  PermissionDeniedError,
  scriptHandler,
  TimeoutError,
  TlsCertificateError,
  type WatchRequest,
} from '@consul-watch/core';
import { resolveConnection } from '@consul-watch/core/internal';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import {
  consulConfig,
  consulHealth,
  liveConfigEvents as expressEvents,
} from '@consul-watch/express';
import {
  consulConfig as fastifyConsulConfig,
  consulHealth as fastifyHealth,
  liveConfigEvents,
} from '@consul-watch/fastify';
import { ConsulModule, ConsulValue, LeaderOnly, OnConsulChange } from '@consul-watch/nestjs';
import { ConsulFlagProvider, FlagDocumentError } from '@consul-watch/openfeature';
import { Injectable, type LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type CliRun,
  caught,
  cliRuns,
  type Expected,
  expectTyped,
  fakeChange,
  httpCall,
  killAllClis,
  looksLikeCrash,
  NOTHING,
  recordingLogger,
  runCli,
  type Sent,
  startCli,
  until,
} from './badInput.helpers';

// The bad-input table of the reliability issue: every public entry point, fed malformed and
// hostile values. Each row expects a clear typed error (class, code, a message naming what is
// wrong) or a clean rejection (an HTTP status, a CLI exit code). A row marked BUG shows a case
// that crashes, hangs, leaks a secret or accepts nonsense today: it asserts the right behaviour
// and runs with `it.fails`, so it turns red the day the bug is fixed (then drop its `bug`). Its
// id (B1…) names the bug in the reliability report; BAD_INPUT_SHOW_BUGS=1 shows why each fails.

// Every core client made in this file, including those made inside express, nestjs and
// config-loader, so a row can check that nothing it started is left running, and the file can
// close them all whatever a row did.
const tracked = vi.hoisted(() => ({
  clients: new Set<import('@consul-watch/core').ConsulWatch>(),
}));
vi.mock('@consul-watch/core', async (importOriginal) => {
  const real = await importOriginal<typeof import('@consul-watch/core')>();
  return {
    ...real,
    createConsulWatch: (options?: import('@consul-watch/core').ConsulWatchOptions) => {
      const client = real.createConsulWatch(options);
      tracked.clients.add(client);
      return client;
    },
  };
});

// The web adapters make their own clients inside core (openConfigSource): track those too.
vi.mock('@consul-watch/core/internal', async (importOriginal) => {
  const real = await importOriginal<typeof import('@consul-watch/core/internal')>();
  return {
    ...real,
    openConfigSource: <T>(
      name: string,
      options: import('@consul-watch/core/internal').ConfigSourceOptions<T>,
      takesConfig?: boolean,
    ) => {
      const source = real.openConfigSource(name, options, takesConfig);
      if (source.client && source.client !== options.client) tracked.clients.add(source.client);
      return source;
    },
  };
});

const RUN = randomUUID().slice(0, 8);
const RIGHT = `right-token-${randomUUID()}`;
const WRONG = `wrong-token-${randomUUID()}`;
const PASSWORD = `pw-${randomUUID()}`;
const PREFIX = `bad-input-${RUN}/`;
const PWNED = `/tmp/pwned-${randomUUID()}`;
/** Quick retries, so a failing watch reports within milliseconds. */
const FAST = { backoff: { baseMs: 1, maxMs: 20, slowMs: 40 } };
const TLS_DIR = fileURLToPath(new URL('../../dev-server/test/fixtures/tls/', import.meta.url));
const pem = (name: string) => readFileSync(join(TLS_DIR, name));

/** Every line core logged through the clients given `logger`. */
const lines: string[] = [];
const logger = recordingLogger(lines);
/** Every line Nest logged. */
const nestLines: string[] = [];
const nestLogger: LoggerService = Object.fromEntries(
  ['log', 'error', 'warn', 'debug', 'verbose', 'fatal'].map((level) => [
    level,
    (...args: unknown[]) => nestLines.push(`${level} ${args.map((a) => String(a)).join(' ')}`),
  ]),
) as unknown as LoggerService;
/** Messages of every error the ACL rows saw, checked for tokens at the end. */
const aclMessages: string[] = [];
/** CLI runs a BUG row expects to crash (excluded from the crash audit, reported instead). */
const knownCrashes = new Set<CliRun>();

/** Data written before the tables; it must come out of them intact. */
const KNOWN: [string, Buffer][] = [
  ['known/a', Buffer.from('alpha')],
  ['known/b.json', Buffer.from('{"x":1}')],
  ['known/bin', Buffer.from([0, 1, 2, 127, 128, 255])],
];

/** Files the CLI rows read: a damaged --data file and a --token-file holding the wrong token. */
let damaged = '';
let tokenFile = '';
/** CLI runs of the flag table, started early (see startCliJobs). */
const cliJobs: { key: object; start: () => Promise<CliRun> }[] = [];
const cliPending = new Map<object, Promise<CliRun>>();
let cliStopped = false;

/** Starts every queued CLI run, at most `limit` at once. */
function startCliJobs(limit: number): void {
  let active = 0;
  const waiting: (() => void)[] = [];
  for (const job of cliJobs) {
    cliPending.set(
      job.key,
      (async () => {
        while (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
        active += 1;
        try {
          if (cliStopped) throw new Error('the file ended before this CLI run started');
          return await job.start();
        } finally {
          active -= 1;
          waiting.shift()?.();
        }
      })(),
    );
  }
}

let dev: DevServer;
let acl: DevServer;
let root: ConsulWatch;
let client: ConsulWatch;
let aclRoot: ConsulWatch;
let dir: string;
const shared = new Set<ConsulWatch>();

beforeAll(async () => {
  // Nothing in this file may reach a real agent or borrow a token by accident.
  vi.stubEnv('CONSUL_HTTP_ADDR', '127.0.0.1:1');
  vi.stubEnv('CONSUL_HTTP_TOKEN', '');
  for (const name of ['CONSUL_CACERT', 'CONSUL_CLIENT_CERT', 'CONSUL_CLIENT_KEY'])
    vi.stubEnv(name, '');
  dir = await mkdtemp(join(tmpdir(), 'cw-bad-input-'));
  [dev, acl] = await Promise.all([startDevServer(), startDevServer({ aclToken: RIGHT })]);
  root = createConsulWatch({ address: dev.address, logger, watch: FAST });
  client = createConsulWatch({ address: dev.address, prefix: PREFIX, logger, watch: FAST });
  aclRoot = createConsulWatch({ address: acl.address, token: RIGHT, logger, watch: FAST });
  for (const c of [root, client, aclRoot]) shared.add(c);
  for (const [key, value] of KNOWN) {
    expect(await root.kv.put(key, value)).toBe(true);
    expect(await aclRoot.kv.put(key, value)).toBe(true);
  }
  damaged = join(dir, 'damaged.json');
  await writeFile(damaged, '{"version": 1, "kv": ');
  tokenFile = join(dir, 'token');
  await writeFile(tokenFile, `${WRONG}\n`);
  startCliJobs(4);
});

afterEach(async () => {
  // Whatever a row made and did not close (a failing row, a BUG row's orphan), close it now.
  const made = [...tracked.clients].filter((c) => !shared.has(c));
  for (const c of made) tracked.clients.delete(c);
  await Promise.all(made.map((c) => c.close()));
});

afterAll(async () => {
  cliStopped = true;
  await Promise.allSettled(cliPending.values());
  await killAllClis();
  await Promise.all([...tracked.clients].map((c) => c.close()));
  await Promise.all([dev?.close(), acl?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
  await rm(PWNED, { force: true });
  vi.unstubAllEnvs();
});

interface Row {
  name: string;
  /** Set on a row that shows a bug: the row asserts the right behaviour and runs as it.fails. */
  bug?: string;
}

/** One `it.each` for the rows that hold, one `it.fails.each` for the rows that show a bug. */
function table<R extends Row>(
  rows: readonly R[],
  run: (row: R) => Promise<void> | void,
  options: { concurrent?: boolean; timeout?: number } = {},
): void {
  const good = rows.filter((r) => !r.bug);
  const bad = rows.filter((r) => r.bug);
  const base = options.concurrent ? it.concurrent : it;
  const failing = process.env.BAD_INPUT_SHOW_BUGS ? base : base.fails;
  if (good.length > 0) base.each(good)('$name', async (row) => run(row), options.timeout);
  if (bad.length > 0)
    failing.each(bad)('$name  [BUG $bug]', async (row) => run(row), options.timeout);
}

const invalid = (names: string | RegExp, secrets?: string[]): Expected => ({
  cls: InvalidInputError,
  code: 'INVALID_INPUT',
  names,
  ...(secrets ? { secrets } : {}),
});

/** Clients created while `fn` ran. */
async function clientsMadeBy(fn: () => unknown): Promise<{ error: unknown; made: ConsulWatch[] }> {
  const before = new Set(tracked.clients);
  const error = await caught(fn);
  return { error, made: [...tracked.clients].filter((c) => !before.has(c)) };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ─── core: client options ────────────────────────────────────────────────────────────────

describe('core: createConsulWatch options', () => {
  interface OptionRow extends Row {
    options?: unknown;
    /** Resolve against this environment instead of options alone. */
    env?: NodeJS.ProcessEnv;
    expected: Expected;
  }
  const creds = invalid('address must not carry credentials', [PASSWORD]);
  const rows: OptionRow[] = [
    {
      name: 'address: user and password in an http URL',
      options: { address: `http://admin:${PASSWORD}@127.0.0.1:8500` },
      expected: creds,
    },
    {
      name: 'address: user:password@host:port without a scheme',
      options: { address: `admin:${PASSWORD}@127.0.0.1:8500` },
      expected: creds,
    },
    {
      name: 'address: only a password in an https URL',
      options: { address: `https://:${PASSWORD}@consul.example:8501` },
      expected: creds,
    },
    {
      // resolveConnection echoes the raw address when `new URL` cannot parse it.
      name: 'address: credentials and a host that does not parse',
      options: { address: `http://admin:${PASSWORD}@bad host:8500` },
      expected: invalid(/^address .* is not host:port or an http\(s\) URL/, [PASSWORD]),
    },
    {
      name: 'address: ftp scheme',
      options: { address: 'ftp://127.0.0.1:8500' },
      expected: invalid('address "ftp://127.0.0.1:8500" must use http or https'),
    },
    {
      name: 'address: a unix socket by a relative path',
      options: { address: 'unix://run/consul.sock' },
      expected: invalid(
        'address "unix://run/consul.sock" must name the socket by its absolute path',
      ),
    },
    {
      name: 'address: unix: with no path',
      options: { address: 'unix:' },
      expected: invalid('address "unix:" must name the socket by its absolute path'),
    },
    { name: 'address: empty string', options: { address: '' }, expected: invalid('address ""') },
    {
      name: 'address: unclosed IPv6 bracket',
      options: { address: 'http://[::1' },
      expected: invalid('address "http://[::1"'),
    },
    { name: 'address: an object', options: { address: {} }, expected: invalid(/^address /) },
    {
      // 8500 becomes "http://8500", which WHATWG URL reads as the IPv4 address 0.0.33.52.
      name: 'address: a number',
      options: { address: 8500 },
      expected: invalid(/address/),
    },
    {
      name: 'prefix: leading slash',
      options: { prefix: '/app/' },
      expected: invalid(`prefix "/app/" must not begin with '/'`),
    },
    {
      name: 'prefix: a number',
      options: { prefix: 5 },
      expected: invalid(/prefix/),
    },
    {
      name: 'consistency: unknown mode',
      options: { consistency: 'linearizable' },
      expected: invalid(`consistency "linearizable" must be 'default', 'stale' or 'consistent'`),
    },
    {
      name: 'options: null',
      options: null,
      expected: invalid(/options/),
    },
    {
      name: 'watch.waitMs: negative engine default',
      options: { address: '127.0.0.1:8500', watch: { waitMs: -1 } },
      expected: invalid(/waitMs/),
    },
    {
      name: 'watch.maxRequestsPerSecond: Infinity engine default',
      options: { address: '127.0.0.1:8500', watch: { maxRequestsPerSecond: Infinity } },
      expected: invalid(/maxRequestsPerSecond/),
    },
    {
      name: 'watch.minIntervalMs: the option this client no longer takes',
      options: { address: '127.0.0.1:8500', watch: { minIntervalMs: 10 } },
      expected: invalid(/minIntervalMs was replaced by maxRequestsPerSecond/),
    },
    {
      name: 'availability: null',
      options: { address: '127.0.0.1:8500', availability: null },
      expected: invalid(/^availability must be an object/),
    },
    ...(
      [
        ['probeMinMs 0', { probeMinMs: 0 }],
        ['probeMaxMs NaN', { probeMaxMs: Number.NaN }],
        ['probeTimeoutMs "2s" (a string)', { probeTimeoutMs: '2s' }],
        ['releaseSpreadMs -1', { releaseSpreadMs: -1 }],
      ] as const
    ).map(([label, availability]) => ({
      name: `availability.${label}`,
      options: { address: '127.0.0.1:8500', availability },
      expected: invalid(new RegExp(`^availability\\.${Object.keys(availability)[0]} must be`)),
    })),
    {
      name: 'adress: a misspelt option name, refused with the closest one',
      options: { adress: '127.0.0.1:8500' },
      expected: invalid("createConsulWatch: unknown option 'adress': did you mean 'address'?"),
    },
    {
      name: 'watch.waitMS: a misspelt engine default',
      options: { address: '127.0.0.1:8500', watch: { waitMS: 1000 } },
      expected: invalid("createConsulWatch watch: unknown option 'waitMS': did you mean 'waitMs'?"),
    },
    {
      name: 'watch.backoff.baseMS: a misspelt back-off setting',
      options: { address: '127.0.0.1:8500', watch: { backoff: { baseMS: 5 } } },
      expected: invalid("backoff: unknown option 'baseMS': did you mean 'baseMs'?"),
    },
    {
      name: 'availability.probeMaxMS: a misspelt availability setting',
      options: { address: '127.0.0.1:8500', availability: { probeMaxMS: 1000 } },
      expected: invalid(
        "createConsulWatch availability: unknown option 'probeMaxMS': did you mean 'probeMaxMs'?",
      ),
    },
    {
      name: 'availability.probeMaxMs "1000": a number in quotes is refused, quoted',
      options: { address: '127.0.0.1:8500', availability: { probeMaxMs: '1000' } },
      expected: invalid(/^availability\.probeMaxMs must be .*, got "1000"/),
    },
    {
      name: 'address: with the API path (/v1), which would turn every read into a 404',
      options: { address: 'http://127.0.0.1:8500/v1' },
      expected: invalid(
        'address "http://127.0.0.1:8500/v1" has a path (/v1): give the agent\'s scheme, host and port only, such as "http://127.0.0.1:8500"',
      ),
    },
    {
      name: 'address: with a query',
      options: { address: 'http://127.0.0.1:8500?dc=eu1' },
      expected: invalid(/^address .* has a query/),
    },
    {
      name: 'env CONSUL_HTTP_ADDR: with a path',
      env: { CONSUL_HTTP_ADDR: '127.0.0.1:8500/consul' },
      expected: invalid(/^CONSUL_HTTP_ADDR "127\.0\.0\.1:8500\/consul" has a path \(\/consul\)/),
    },
    {
      name: 'env CONSUL_CACERT: a file that does not exist',
      env: { CONSUL_CACERT: '/nonexistent/ca.pem' },
      expected: invalid(
        /^CONSUL_CACERT points at \/nonexistent\/ca\.pem, which cannot be read \(ENOENT\)/,
      ),
    },
    {
      name: 'env CONSUL_CLIENT_CERT: a directory',
      env: { CONSUL_CLIENT_CERT: '/' },
      expected: invalid(/^CONSUL_CLIENT_CERT points at \/, which cannot be read \(EISDIR\)/),
    },
    {
      name: 'env CONSUL_CLIENT_KEY: a file that does not exist',
      env: { CONSUL_CLIENT_KEY: '/nonexistent/key.pem' },
      expected: invalid(/^CONSUL_CLIENT_KEY points at \/nonexistent\/key\.pem/),
    },
    {
      name: 'env CONSUL_HTTP_SSL: not a boolean',
      env: { CONSUL_HTTP_SSL: 'maybe' },
      expected: invalid('CONSUL_HTTP_SSL="maybe" is not a boolean'),
    },
    {
      name: 'env CONSUL_HTTP_SSL_VERIFY: not a boolean',
      env: { CONSUL_HTTP_SSL_VERIFY: 'nah' },
      expected: invalid('CONSUL_HTTP_SSL_VERIFY="nah" is not a boolean'),
    },
    {
      name: 'env CONSUL_HTTP_ADDR: credentials in the URL',
      env: { CONSUL_HTTP_ADDR: `http://admin:${PASSWORD}@127.0.0.1:8500` },
      expected: creds,
    },
  ];
  table(rows, (row) => {
    const error = row.env
      ? (() => {
          try {
            resolveConnection((row.options ?? {}) as ConnectionOptions, row.env);
          } catch (e) {
            return e;
          }
          return NOTHING;
        })()
      : (() => {
          try {
            createConsulWatch(row.options as ConsulWatchOptions);
          } catch (e) {
            return e;
          }
          return NOTHING;
        })();
    expectTyped(error, row.expected);
  });

  describe('TLS material and token, against an HTTPS dev-server', () => {
    let tls: DevServer;
    beforeAll(async () => {
      tls = await startDevServer({ tls: { cert: pem('server.pem'), key: pem('server-key.pem') } });
    });
    afterAll(() => tls?.close());

    interface TlsRow extends Row {
      options: Partial<ConnectionOptions>;
      expected?: Expected;
    }
    const rows: TlsRow[] = [
      // The control: the right CA, and the server answers.
      { name: 'ca: the right PEM (control: answers)', options: { ca: pem('ca.pem') } },
      {
        name: 'ca: a file path given where PEM text belongs',
        options: { ca: join(TLS_DIR, 'ca.pem') },
        expected: invalid(/\bca\b/),
      },
      {
        name: 'cert and key: not PEM',
        options: { ca: pem('ca.pem'), cert: 'not a certificate', key: 'not a key' },
        expected: invalid(/\bcert\b/),
      },
      {
        name: 'cert and key: a pair that does not match',
        options: { ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('server-key.pem') },
        expected: invalid(/\bkey\b/),
      },
      {
        name: 'token: CR LF (header injection attempt)',
        options: { ca: pem('ca.pem'), token: `${RIGHT}\r\nX-Injected: 1` },
        expected: invalid(/\btoken\b/, [RIGHT]),
      },
      {
        name: 'ca: none, for an agent whose CA is not a system one',
        options: { token: RIGHT },
        expected: {
          cls: TlsCertificateError,
          code: 'TLS_UNTRUSTED',
          names:
            /certificate .* was not trusted \(\w+.*as the ca option .*CONSUL_CACERT.*verify: false/,
          secrets: [RIGHT],
        },
      },
      {
        name: 'ca: a CA that did not sign the agent certificate',
        options: { ca: pem('other-host.pem'), token: RIGHT },
        expected: {
          cls: TlsCertificateError,
          code: 'TLS_UNTRUSTED',
          names: /was not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE.*as the ca option/,
          secrets: [RIGHT],
        },
      },
    ];
    table(rows, async (row) => {
      const error = await caught(async () => {
        const c = createConsulWatch({ address: tls.url, ...row.options });
        await c.ping(3_000);
      });
      if (!row.expected) expect(error).toBe(NOTHING);
      else expectTyped(error, row.expected);
    });
  });

  describe('calls on a closed client', () => {
    interface ClosedRow extends Row {
      /** Gets what it needs before close(), and makes the call after it. */
      before: (c: ConsulWatch) => () => unknown;
    }
    const rows: ClosedRow[] = [
      {
        name: 'client.api kept from before close(): kv.get',
        before: (c) => {
          const api = c.api;
          return () => api.kv.get('k');
        },
      },
      { name: 'client.api read after close()', before: (c) => () => c.api },
      { name: 'kv.get after close()', before: (c) => () => c.kv.get('k') },
      { name: 'watch after close()', before: (c) => () => c.watch({ type: 'key', key: 'k' }) },
    ];
    table(rows, async (row) => {
      const c = createConsulWatch({ address: dev.address, logger });
      const call = row.before(c);
      await c.close();
      expectTyped(await caught(call), {
        cls: ClientClosedError,
        code: 'CLIENT_CLOSED',
        names: 'this consul-watch client is closed; create a new one with createConsulWatch()',
      });
    });
  });
});

// ─── core: KV calls ──────────────────────────────────────────────────────────────────────

describe('core: kv calls with bad keys', () => {
  type Kind = 'key' | 'prefix';
  interface Method {
    method: string;
    kind: Kind;
    call: (kv: KvClient, key: unknown) => Promise<unknown>;
  }
  const k = (key: unknown) => key as string;
  const METHODS: Method[] = [
    { method: 'getEntry', kind: 'key', call: (kv, key) => kv.getEntry(k(key)) },
    { method: 'get', kind: 'key', call: (kv, key) => kv.get(k(key)) },
    { method: 'getString', kind: 'key', call: (kv, key) => kv.getString(k(key)) },
    { method: 'getBuffer', kind: 'key', call: (kv, key) => kv.getBuffer(k(key)) },
    { method: 'getJson', kind: 'key', call: (kv, key) => kv.getJson(k(key)) },
    { method: 'put', kind: 'key', call: (kv, key) => kv.put(k(key), 'v') },
    { method: 'delete', kind: 'key', call: (kv, key) => kv.delete(k(key)) },
    {
      method: 'delete recurse',
      kind: 'prefix',
      call: (kv, key) => kv.delete(k(key), { recurse: true }),
    },
    { method: 'list', kind: 'prefix', call: (kv, key) => kv.list(k(key)) },
    { method: 'keys', kind: 'prefix', call: (kv, key) => kv.keys(k(key)) },
    {
      method: 'txn set',
      kind: 'key',
      call: (kv, key) => kv.txn([{ verb: 'set', key: k(key), value: 'v' }]),
    },
    {
      method: 'txn get-tree',
      kind: 'prefix',
      call: (kv, key) => kv.txn([{ verb: 'get-tree', key: k(key) }]),
    },
  ];
  interface KeyCase {
    label: string;
    key: unknown;
    /** Only for keys, not prefixes (where '' and a missing prefix are valid). */
    keysOnly?: boolean;
    names: (kind: Kind) => string | RegExp;
  }
  const control = (key: string) => () => `${JSON.stringify(key)} contains a control character`;
  const notString = (type: string) => (kind: Kind) => `${kind} must be a string, got ${type}`;
  const CASES: KeyCase[] = [
    { label: 'empty', key: '', keysOnly: true, names: () => 'key must not be empty' },
    {
      label: "leading '/'",
      key: '/etc/passwd',
      names: (kind) => `${kind} "/etc/passwd" must not begin with '/'`,
    },
    { label: 'NUL', key: 'a\u0000b', names: control('a\u0000b') },
    { label: 'SOH', key: 'a\u0001b', names: control('a\u0001b') },
    { label: 'newline', key: 'line\nbreak', names: control('line\nbreak') },
    { label: 'CR LF', key: 'x\r\nX-Injected: 1', names: control('x\r\nX-Injected: 1') },
    { label: 'DEL', key: 'del\u007f', names: control('del\u007f') },
    { label: 'ESC', key: 'esc\u001b[31m', names: control('esc\u001b[31m') },
    { label: 'a number', key: 5, names: notString('number') },
    { label: 'null', key: null, names: notString('null') },
    { label: 'undefined', key: undefined, keysOnly: true, names: notString('undefined') },
    { label: 'an object', key: { toString: () => 'a' }, names: notString('object') },
    { label: 'an array', key: ['a'], names: notString('object') },
  ];
  describe.each(METHODS)('kv.$method', ({ kind, call }) => {
    const rows = CASES.filter((c) => kind === 'key' || !c.keysOnly).map((c) => ({
      ...c,
      name: `${c.label} ${kind}`,
    }));
    table(rows, async (row) => {
      expectTyped(await caught(() => call(client.kv, row.key)), invalid(row.names(kind)));
    });
  });

  describe.each(['../escape', '../../etc/passwd', './x/../../y', '..', '%2e%2e/encoded'])(
    'traversal key %j stays a literal key under the prefix',
    (key) => {
      it('round-trips under the prefix and lands nowhere else', async () => {
        expect(await client.kv.put(key, 'contained')).toBe(true);
        expect(await client.kv.getString(key)).toBe('contained');
        expect(await root.kv.getString(`${PREFIX}${key}`)).toBe('contained');
        expect(await client.kv.delete(key)).toBe(true);
        expect(await root.kv.getEntry(`${PREFIX}${key}`)).toBeUndefined();
      });
    },
  );
});

describe('core: kv values, flags, cas and transactions', () => {
  const LIMIT = 512 * 1024;
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  interface ValueRow extends Row {
    call: (kv: KvClient) => Promise<unknown>;
    expected: Expected;
  }
  const big = (key: string) => `Value for key ${JSON.stringify(key)} is`;
  const rows: ValueRow[] = [
    {
      name: 'put: a Buffer one byte over 512 KiB',
      call: (kv) => kv.put('big', Buffer.alloc(LIMIT + 1)),
      expected: invalid(`${big('big')} 524289 bytes; Consul's limit is 524288`),
    },
    {
      name: 'put: a string one byte over 512 KiB',
      call: (kv) => kv.put('big-s', 'x'.repeat(LIMIT + 1)),
      expected: invalid(`${big('big-s')} 524289 bytes`),
    },
    {
      name: 'put: 262,145 two-byte characters (under the limit in chars, over in bytes)',
      call: (kv) => kv.put('big-u', 'é'.repeat(LIMIT / 2 + 1)),
      expected: invalid(`${big('big-u')} 524290 bytes`),
    },
    {
      name: 'put: a JSON value that serialises past 512 KiB',
      call: (kv) => kv.put('big-j', { list: Array.from({ length: 100_000 }, (_, i) => i) }),
      expected: invalid(big('big-j')),
    },
    {
      name: 'put: undefined',
      call: (kv) => kv.put('u', undefined),
      expected: invalid('Value for key "u" is undefined'),
    },
    {
      name: 'put: a function',
      call: (kv) => kv.put('f', () => 1),
      expected: invalid('Value for key "f" is function'),
    },
    {
      name: 'put: a symbol',
      call: (kv) => kv.put('s', Symbol('x')),
      expected: invalid('Value for key "s" is symbol'),
    },
    {
      name: 'put: a BigInt',
      call: (kv) => kv.put('n', 1n),
      expected: invalid('Value for key "n" cannot be serialised as JSON'),
    },
    {
      name: 'put: a circular object',
      call: (kv) => kv.put('c', circular),
      expected: invalid('Value for key "c" cannot be serialised as JSON'),
    },
    ...(
      [
        ['-1', -1],
        ['1.5', 1.5],
        ['NaN', Number.NaN],
        ['Infinity', Number.POSITIVE_INFINITY],
        ['"5" (a string)', '5'],
        ['2^53 (not a safe integer)', 2 ** 53],
      ] as const
    ).flatMap(([label, value]) => [
      {
        name: `put: flags ${label}`,
        call: (kv: KvClient) => kv.put('fl', 'v', { flags: value as number }),
        expected: invalid(/^flags for key "fl" must be a whole number ≥ 0/),
      },
      {
        name: `put: cas ${label}`,
        call: (kv: KvClient) => kv.put('ca', 'v', { cas: value as number }),
        expected: invalid(/^cas for key "ca" must be a whole number ≥ 0/),
      },
      {
        name: `delete: cas ${label}`,
        call: (kv: KvClient) => kv.delete('de', { cas: value as number }),
        expected: invalid(/^cas for key "de" must be a whole number ≥ 0/),
      },
    ]),
    {
      name: 'delete: cas together with recurse',
      call: (kv) => kv.delete('tree/', { recurse: true, cas: 1 }),
      expected: invalid('delete of "tree/": cas cannot be combined with recurse'),
    },
    {
      name: 'delete: recurse with an empty prefix on a client without prefix',
      call: () => root.kv.delete('', { recurse: true }),
      expected: invalid('delete with recurse and an empty prefix would erase the whole KV store'),
    },
    {
      name: 'get: a field path that is not a string',
      call: async (kv) => {
        await kv.put('doc.json', '{"a":{"b":1}}');
        return kv.get('doc.json', 5 as unknown as string);
      },
      expected: invalid(/path/),
    },
    {
      name: 'get: an unknown format',
      call: async (kv) => {
        await kv.put('fmt', 'a: 1');
        return kv.get('fmt', undefined, { format: 'xml' as 'json' });
      },
      expected: invalid(/format "xml"/),
    },
    {
      name: 'txn: empty',
      call: (kv) => kv.txn([]),
      expected: invalid('txn needs a non-empty array'),
    },
    {
      name: 'txn: not an array',
      call: (kv) => kv.txn('set a' as never),
      expected: invalid('txn needs a non-empty array'),
    },
    {
      name: 'txn: 129 operations',
      call: (kv) =>
        kv.txn(
          Array.from({ length: 129 }, (_, i) => ({ verb: 'set' as const, key: `t${i}`, value: i })),
        ),
      expected: invalid('txn has 129 operations; Consul applies at most 128'),
    },
    {
      name: 'txn: a value over 512 KiB',
      call: (kv) => kv.txn([{ verb: 'set', key: 'tbig', value: Buffer.alloc(LIMIT + 1) }]),
      expected: invalid(`${big('tbig')} 524289 bytes`),
    },
    {
      name: 'txn: cas index -1',
      call: (kv) => kv.txn([{ verb: 'cas', key: 'tc', value: 'v', index: -1 }]),
      expected: invalid('index for key "tc" must be a whole number ≥ 0, got -1'),
    },
    {
      name: 'txn: check-index index "3" (a string)',
      call: (kv) => kv.txn([{ verb: 'check-index', key: 'tc', index: '3' as unknown as number }]),
      expected: invalid('index for key "tc" must be a whole number ≥ 0, got "3"'),
    },
    {
      name: 'txn: set with flags NaN',
      call: (kv) => kv.txn([{ verb: 'set', key: 'tf', value: 'v', flags: Number.NaN }]),
      expected: invalid('flags for key "tf" must be a whole number ≥ 0'),
    },
    {
      name: 'txn: an unknown verb (Consul refuses with 400)',
      call: (kv) => kv.txn([{ verb: 'rename', key: 'tl' } as never]),
      expected: {
        cls: ConsulRequestError,
        code: 'CONSUL_ERROR',
        names: 'unknown KV verb "rename"',
      },
    },
    {
      name: 'get: a misspelt option (requried)',
      call: (kv) => kv.get('k', undefined, { requried: true } as never),
      expected: invalid(`get of "k": unknown option 'requried': did you mean 'required'?`),
    },
    {
      name: 'put: a misspelt option (cass)',
      call: (kv) => kv.put('k', 'v', { cass: 0 } as never),
      expected: invalid(`put of "k": unknown option 'cass': did you mean 'cas'?`),
    },
    {
      name: 'delete: a misspelt option (recursive), which would delete one key instead of a tree',
      call: (kv) => kv.delete('k/', { recursive: true } as never),
      expected: invalid(`delete of "k/": unknown option 'recursive': did you mean 'recurse'?`),
    },
    {
      name: 'keys: a misspelt option (seperator)',
      call: (kv) => kv.keys('k/', { seperator: '/' } as never),
      expected: invalid(`keys of "k/": unknown option 'seperator': did you mean 'separator'?`),
    },
    {
      name: 'txn: a field the verb does not take (flag)',
      call: (kv) => kv.txn([{ verb: 'set', key: 'tk', value: 'v', flag: 1 } as never]),
      expected: invalid(`txn operation 0 (set): unknown option 'flag': did you mean 'flags'?`),
    },
    {
      name: 'put: flags "3" (a number in quotes)',
      call: (kv) => kv.put('k', 'v', { flags: '3' as never }),
      expected: invalid('flags for key "k" must be a whole number ≥ 0, got "3"'),
    },
    {
      name: 'txn: a null operation',
      call: (kv) => kv.txn([null as never]),
      expected: invalid(/operation 0/),
    },
    {
      name: 'txn: cas without its index',
      call: (kv) => kv.txn([{ verb: 'cas', key: 'tn', value: 'v' } as never]),
      expected: invalid('index for key "tn"'),
    },
  ];
  table(rows, async (row) => {
    expectTyped(await caught(() => row.call(client.kv)), row.expected);
  });

  it('accepts a value of exactly 512 KiB (the boundary)', async () => {
    expect(await client.kv.put('max', Buffer.alloc(LIMIT, 0x61))).toBe(true);
    expect((await client.kv.getBuffer('max'))?.length).toBe(LIMIT);
    await client.kv.delete('max');
  });
});

// ─── core: watch specs ───────────────────────────────────────────────────────────────────

describe('core: watch specs', () => {
  interface WatchRow extends Row {
    spec: unknown;
    expected: Expected;
  }
  const typeList = 'is not one of key, keyprefix, services, nodes, service, checks, event';
  const rows: WatchRow[] = [
    {
      name: 'unknown type',
      spec: { type: 'kv' },
      expected: invalid(`watch type "kv" ${typeList}`),
    },
    {
      name: 'type "__proto__"',
      spec: { type: '__proto__' },
      expected: invalid(`watch type "__proto__" ${typeList}`),
    },
    {
      name: 'type "toString"',
      spec: { type: 'toString' },
      expected: invalid(`watch type "toString" ${typeList}`),
    },
    { name: 'no type', spec: {}, expected: invalid(`watch type undefined ${typeList}`) },
    {
      name: 'key: missing key',
      spec: { type: 'key' },
      expected: invalid('key must be a string, got undefined'),
    },
    {
      name: 'key: empty key',
      spec: { type: 'key', key: '' },
      expected: invalid('key must not be empty'),
    },
    {
      name: 'key: NUL in the key',
      spec: { type: 'key', key: 'a\u0000b' },
      expected: invalid('"a\\u0000b" contains a control character'),
    },
    {
      name: 'keyprefix: missing prefix',
      spec: { type: 'keyprefix' },
      expected: invalid('prefix must be a string, got undefined'),
    },
    {
      name: "keyprefix: leading '/'",
      spec: { type: 'keyprefix', prefix: '/app/' },
      expected: invalid(`prefix "/app/" must not begin with '/'`),
    },
    {
      name: 'service: missing service',
      spec: { type: 'service' },
      expected: invalid('service watch needs a service name'),
    },
    {
      name: 'service: an empty tag',
      spec: { type: 'service', service: 'web', tag: [''] },
      expected: invalid('service watch of "web": tags must be non-empty strings'),
    },
    {
      name: 'checks: both service and state',
      spec: { type: 'checks', service: 'web', state: 'passing' },
      expected: invalid('checks watch takes either a service or a state, not both'),
    },
    {
      name: 'checks: neither service nor state',
      spec: { type: 'checks' },
      expected: invalid('checks watch takes either a service or a state, not both and not neither'),
    },
    {
      name: 'checks: unknown state',
      spec: { type: 'checks', state: 'degraded' },
      expected: invalid('checks watch: state "degraded" must be any, passing, warning or critical'),
    },
    {
      name: 'checks: empty service',
      spec: { type: 'checks', service: '' },
      expected: invalid('checks watch: service must be a non-empty string'),
    },
    {
      name: 'event: empty name',
      spec: { type: 'event', name: '' },
      expected: invalid('event watch: name must be a non-empty string'),
    },
    {
      name: 'services: filter not a string',
      spec: { type: 'services', filter: { Node: 'a' } },
      expected: invalid('services watch: filter must be a non-empty string'),
    },
    {
      name: 'nodes: empty filter',
      spec: { type: 'nodes', filter: '' },
      expected: invalid('nodes watch: filter must be a non-empty string'),
    },
    {
      name: 'checks: blank filter',
      spec: { type: 'checks', state: 'any', filter: ' \n ' },
      expected: invalid('checks watch: filter must be a non-empty string'),
    },
    {
      name: 'key: a filter (Consul filters catalog and health reads only)',
      spec: { type: 'key', key: 'a', filter: 'Key == a' },
      expected: invalid('key watch: filter is not supported'),
    },
    {
      name: 'event: a filter',
      spec: { type: 'event', name: 'deploy', filter: 'Name == deploy' },
      expected: invalid('event watch: filter is not supported'),
    },
    {
      name: 'consistency: unknown mode',
      spec: { type: 'key', key: 'a', consistency: 'strong' },
      expected: invalid(
        `watch key: consistency "strong" must be 'default', 'stale' or 'consistent'`,
      ),
    },
    {
      name: 'spec: null',
      spec: null,
      expected: invalid('watch needs a spec object'),
    },
    // Unchecked engine options. Measured against a dev-server: waitMs -1 or 0 sends ~100
    // requests/s per watch (wait=1ms, throttled only by minIntervalMs), NaN or '10s' sends
    // wait=NaNms and loops on 400s, Infinity trips node's timer (ERR_OUT_OF_RANGE, reported as
    // "cannot reach Consul") in a tight retry loop, minIntervalMs NaN removes the throttle
    // (~300 requests/s), backoff.baseMs -1 retries failures with no delay at all.
    ...(
      [
        ['waitMs -1', { waitMs: -1 }],
        ['waitMs 0', { waitMs: 0 }],
        ['waitMs NaN', { waitMs: Number.NaN }],
        ['waitMs Infinity', { waitMs: Number.POSITIVE_INFINITY }],
        ['waitMs "10s" (a string)', { waitMs: '10s' }],
        ['minIntervalMs 10 (replaced by maxRequestsPerSecond and burst)', { minIntervalMs: 10 }],
        ['maxRequestsPerSecond 0', { maxRequestsPerSecond: 0 }],
        ['maxRequestsPerSecond NaN', { maxRequestsPerSecond: Number.NaN }],
        ['maxRequestsPerSecond "100" (a string)', { maxRequestsPerSecond: '100' }],
        ['burst 0', { burst: 0 }],
        ['burst 2.5', { burst: 2.5 }],
        ['backoff.baseMs -1', { backoff: { baseMs: -1 } }],
      ] as const
    ).map(([label, engine]) => ({
      name: `engine: ${label}`,
      spec: { type: 'key', key: 'a', ...engine },
      expected: invalid(new RegExp(Object.keys(engine)[0] as string)),
    })),
    {
      name: 'key: a misspelt engine option (waitMS)',
      spec: { type: 'key', key: 'a', waitMS: 1000 },
      expected: invalid("watch key: unknown option 'waitMS': did you mean 'waitMs'?"),
    },
    {
      name: 'keyprefix: prefx instead of prefix',
      spec: { type: 'keyprefix', prefx: 'app/' },
      expected: invalid("watch keyprefix: unknown option 'prefx': did you mean 'prefix'?"),
    },
    {
      name: 'service: a parameter another type takes (state)',
      spec: { type: 'service', service: 'web', state: 'passing' },
      expected: invalid(/^watch service: unknown option 'state': known options: .*passingOnly/),
    },
    {
      name: 'event: a misspelt setting (datacentre)',
      spec: { type: 'event', datacentre: 'eu1' },
      expected: invalid("watch event: unknown option 'datacentre': did you mean 'datacenter'?"),
    },
  ];
  table(rows, async (row) => {
    const error = await caught(async () => {
      const watch = client.watch(row.spec as WatchRequest);
      await watch.stop(); // accepted: release it at once
    });
    expectTyped(error, row.expected);
  });
});

describe('core: filters Consul refuses', () => {
  interface FilterRow extends Row {
    spec: WatchRequest;
    filter: string;
    /** Consul's reason, quoted in the message. */
    reason: string;
  }
  const rows: FilterRow[] = [
    ['services', 'ServiceName ==', 'no match found, expected:'],
    ['nodes', 'Address == 10.10.10.10', '1:17 (16): rule "number": Invalid number literal'],
    ['service', 'Service.Nope == x', 'Selector "Service.Nope" is not valid'],
    ['checks', 'Status matches "("', 'Failed to compile regular expression "("'],
  ].map(([type, filter, reason]) => ({
    name: `${type}: ${filter}`,
    spec: (type === 'service'
      ? { type, service: 'web', filter }
      : type === 'checks'
        ? { type, state: 'any', filter }
        : { type, filter }) as WatchRequest,
    filter: filter as string,
    reason: reason as string,
  }));
  table(rows, async (row) => {
    const w = root.watch(row.spec);
    const errors: ConsulWatchError[] = [];
    w.on('error', (e) => errors.push(e));
    try {
      await until(
        () => errors.length > 0,
        3_000,
        () => 'no error event',
      );
      const error = expectTyped(errors[0], {
        cls: InvalidFilterError,
        code: 'INVALID_INPUT',
        names: `Consul cannot use the filter ${JSON.stringify(row.filter)}: `,
      });
      expect(error.message).toContain(row.reason);
      expect(error).toMatchObject({ filter: row.filter, status: 500 });
      // A user error, retried slowly: the watch fails, the client still sees Consul.
      expect(w.status.state).toBe('failing');
      expect(root.availability.available).toBe(true);
    } finally {
      await w.stop();
    }
  });
});

describe('core: sessions, locks, semaphores and leader election', () => {
  interface LockRow extends Row {
    call: (c: ConsulWatch) => unknown;
    expected: Expected;
  }
  const conflict = (names: string | RegExp): Expected => ({
    cls: LockConflictError,
    code: 'LOCK_CONFLICT',
    names,
  });
  const rows: LockRow[] = [
    { name: 'lock of an empty key', call: (c) => c.lock(''), expected: invalid('key') },
    { name: 'lock of a key starting with /', call: (c) => c.lock('/x'), expected: invalid('/') },
    {
      name: 'lock with ttlMs 5',
      call: (c) => c.lock('bad/lock', { ttlMs: 5 }),
      expected: invalid('ttlMs must be a number of milliseconds from 10 to 86400000'),
    },
    {
      name: 'lock with ttlMs "15s"',
      call: (c) => c.lock('bad/lock', { ttlMs: '15s' as never }),
      expected: invalid('ttlMs'),
    },
    {
      name: 'lock with ttlMs "15000" (a string)',
      call: (c) => c.lock('bad/lock', { ttlMs: '15000' as never }),
      expected: invalid('got "15000"'),
    },
    {
      name: 'session with ttlMs 15, meant as seconds (Consul refuses it)',
      call: (c) => c.session({ ttlMs: 15 }),
      expected: invalid(
        "session: Consul refused the session's ttlMs of 15: ttlMs is in milliseconds, and this Consul takes 10s to 24h0m0s",
      ),
    },
    {
      name: 'lock acquire with ttlMs 15: rejects at once, not at its timeout',
      call: (c) => c.lock('bad/ttl15', { ttlMs: 15 }).acquire({ timeoutMs: 60_000 }),
      expected: invalid(/^lock "bad\/ttl15": .*If you meant 15 s, set ttlMs: 15000\.$/),
    },
    {
      name: 'lock with lockDelayMs above Consul 60 s cap',
      call: (c) => c.lock('bad/lock', { lockDelayMs: 90_000 }),
      expected: invalid('lockDelayMs must be a number of milliseconds from 0 to 60000'),
    },
    {
      name: 'lock with sessionName 5',
      call: (c) => c.lock('bad/lock', { sessionName: 5 as never }),
      expected: invalid('lock "bad/lock": sessionName must be a string'),
    },
    {
      name: 'session with name 5',
      call: (c) => c.session({ name: 5 as never }),
      expected: invalid('session: name must be a string'),
    },
    {
      name: 'lock with retryMs 0',
      call: (c) => c.lock('bad/lock', { retryMs: 0 }),
      expected: invalid('retryMs must be a number of milliseconds from 1 to 600000'),
    },
    {
      name: 'lock with waitMs 0',
      call: (c) => c.lock('bad/lock', { waitMs: 0 }),
      expected: invalid('waitMs'),
    },
    {
      name: 'lock with a session that is not one',
      call: (c) => c.lock('bad/lock', { session: { id: 'x' } as never }),
      expected: invalid('session must be one returned by client.session()'),
    },
    {
      name: 'lock options not an object',
      call: (c) => c.lock('bad/lock', 'fast' as never),
      expected: invalid('options must be an object'),
    },
    {
      name: 'acquire with a negative timeoutMs',
      call: (c) => c.lock('bad/timeout').acquire({ timeoutMs: -1 }),
      expected: invalid('timeoutMs'),
    },
    {
      name: 'acquire of a key that holds something else than a lock',
      call: async (c) => {
        await c.kv.put('bad/plain', 'not a lock');
        return c.lock('bad/plain', { ttlMs: 10_000 }).acquire({ timeoutMs: 2_000 });
      },
      expected: conflict('so it is not a lock'),
    },
    {
      name: 'semaphore with limit 0',
      call: (c) => c.semaphore('bad/sem', 0),
      expected: invalid('limit must be a whole number of holders, 1 or more, got 0'),
    },
    {
      name: 'semaphore with limit 1.5',
      call: (c) => c.semaphore('bad/sem', 1.5),
      expected: invalid('limit'),
    },
    {
      name: 'semaphore on the empty prefix',
      call: (c) => c.semaphore('', 2),
      expected: invalid('needs a prefix of its own'),
    },
    {
      name: 'semaphore joined with another limit than its holders agreed',
      call: async (c) => {
        const first = c.semaphore('bad/agreed', 3, { ttlMs: 10_000 });
        await first.acquire();
        try {
          return await c.semaphore('bad/agreed', 2, { ttlMs: 10_000 }).acquire();
        } finally {
          await first.close();
        }
      },
      expected: conflict('semaphore limit conflict (lock: 3, local: 2)'),
    },
    {
      name: 'lock with ttlMs "15000" (a number in quotes)',
      call: (c) => c.lock('bad/lock', { ttlMs: '15000' as never }),
      expected: invalid(
        'lock "bad/lock": ttlMs must be a number of milliseconds, got "15000" (a string: write 15000 without quotes)',
      ),
    },
    {
      name: 'session with lockDelayMs "0" (a number in quotes)',
      call: (c) => c.session({ lockDelayMs: '0' as never }),
      expected: invalid('session: lockDelayMs must be a number of milliseconds, got "0"'),
    },
    {
      name: 'lock with a misspelt option (lockDelayMS)',
      call: (c) => c.lock('bad/lock', { lockDelayMS: 0 } as never),
      expected: invalid(
        `lock "bad/lock": unknown option 'lockDelayMS': did you mean 'lockDelayMs'?`,
      ),
    },
    {
      name: 'session with a misspelt option (behaviour)',
      call: (c) => c.session({ behaviour: 'delete' } as never),
      expected: invalid("session: unknown option 'behaviour': did you mean 'behavior'?"),
    },
    {
      name: 'semaphore with a misspelt option (sessionNmae)',
      call: (c) => c.semaphore('bad/sem', 2, { sessionNmae: 'x' } as never),
      expected: invalid(
        `semaphore "bad/sem": unknown option 'sessionNmae': did you mean 'sessionName'?`,
      ),
    },
    {
      name: 'semaphore with limit "3" (a number in quotes)',
      call: (c) => c.semaphore('bad/sem', '3' as never),
      expected: invalid('limit must be a whole number of holders, 1 or more, got "3"'),
    },
    {
      name: 'leader with a misspelt callback (onelected)',
      call: (c) => c.leader('bad/leader', { onelected: () => {} } as never),
      expected: invalid(
        `leader "bad/leader": unknown option 'onelected': did you mean 'onElected'?`,
      ),
    },
    {
      name: 'register with a misspelt option (tag)',
      call: (c) => c.register({ name: 'bad-svc', tag: ['v1'] } as never),
      expected: invalid("register: unknown option 'tag': did you mean 'tags'?"),
    },
    {
      name: 'ping("5000") (a number in quotes)',
      call: (c) => c.ping('5000' as never),
      expected: invalid('ping: timeoutMs must be a number of milliseconds, got "5000"'),
    },
    {
      name: 'leader with onElected not a function',
      call: (c) => c.leader('bad/leader', { onElected: 'yes' as never }),
      expected: invalid('onElected must be a function'),
    },
    {
      name: 'session with behavior "keep"',
      call: (c) => c.session({ behavior: 'keep' as never }),
      expected: invalid("behavior must be 'release' or 'delete'"),
    },
    {
      name: 'session with checks not a list',
      call: (c) => c.session({ checks: 'serfHealth' as never }),
      expected: invalid('checks must be an array of check IDs'),
    },
    {
      name: 'kv.put with acquire and cas',
      call: (c) => c.kv.put('bad/put', 'v', { acquire: 'abc', cas: 0 }),
      expected: invalid('cas and acquire cannot be combined'),
    },
    {
      name: 'kv.put with an empty acquire',
      call: (c) => c.kv.put('bad/put', 'v', { acquire: '' }),
      expected: invalid('acquire must be a session ID'),
    },
    {
      name: '@LeaderOnly with no key',
      call: () => LeaderOnly(''),
      expected: invalid('@LeaderOnly needs a lock key'),
    },
    {
      name: '@LeaderOnly({})',
      call: () => LeaderOnly({} as never),
      expected: invalid('@LeaderOnly needs a lock key'),
    },
  ];
  table(rows, async (row) => {
    expectTyped(await caught(() => row.call(root)), row.expected);
  });
});

// ─── core: liveConfig ────────────────────────────────────────────────────────────────────

describe('core: liveConfig options', () => {
  interface LiveRow extends Row {
    options: unknown;
    expected: Expected;
    /** After the error: no blocking query of the failed config may be left running. */
    checkOrphans?: boolean;
  }
  const needsLayer = invalid('liveConfig needs at least one layer');
  const rows: LiveRow[] = [
    { name: 'no options', options: {}, expected: needsLayer },
    { name: 'layers: empty', options: { layers: [] }, expected: needsLayer },
    { name: 'layers: a string, not a list', options: { layers: 'app/' }, expected: needsLayer },
    {
      name: 'layers: [5]',
      options: { layers: [5] },
      expected: invalid(/layer/),
    },
    {
      name: 'layers: [null]',
      options: { layers: [null] },
      expected: invalid(/layer/),
    },
    {
      name: 'layers: [{ prefix: 5 }]',
      options: { layers: [{ prefix: 5 }] },
      expected: invalid('prefix must be a string, got number'),
    },
    {
      name: "layers: a prefix with a leading '/'",
      options: { layers: ['/config/app/'] },
      expected: invalid(`prefix "/config/app/" must not begin with '/'`),
    },
    {
      name: 'layers: an empty document key',
      options: { layers: [{ key: '' }] },
      expected: invalid('key must not be empty'),
    },
    {
      name: 'consistency: unknown mode',
      options: { layers: ['app/'], consistency: 'strong' },
      expected: invalid(`consistency "strong" must be 'default', 'stale' or 'consistent'`),
    },
    {
      name: 'format: unknown',
      options: { layers: ['app/'], format: 'xml' },
      expected: invalid(/format "xml"/),
    },
    {
      name: 'an unknown option name (fromat)',
      options: { layers: ['app/'], fromat: 'json' },
      expected: invalid("liveConfig: unknown option 'fromat': did you mean 'format'?"),
    },
    {
      name: 'a layer with an unknown option name (requried)',
      options: { layers: [{ prefix: 'app/', requried: true }] },
      expected: invalid("liveConfig layer 0: unknown option 'requried': did you mean 'required'?"),
    },
    {
      name: "layers: required: 'yes'",
      options: { layers: [{ key: 'app.json', required: 'yes' }] },
      expected: invalid('liveConfig layer 0: required must be true or false, got "yes"'),
    },
    {
      name: 'layers: both prefix and key',
      options: { layers: [{ key: 'app.json', prefix: 'app/' }] },
      expected: invalid('needs either prefix (a folder of keys) or key'),
    },
    // settle (issue 24): checked before any layer's watch starts.
    {
      name: 'settle: 500 (a number, not an object)',
      options: { layers: ['ok/'], settle: 500 },
      expected: invalid(
        'liveConfig settle must be an object such as { minMs: 500, maxMs: 2000 }, got 500',
      ),
      checkOrphans: true,
    },
    {
      name: 'settle: null',
      options: { layers: ['ok/'], settle: null },
      expected: invalid(
        'liveConfig settle must be an object such as { minMs: 500, maxMs: 2000 }, got null',
      ),
    },
    {
      name: 'settle: {} (no minMs)',
      options: { layers: ['ok/'], settle: {} },
      expected: invalid(
        'liveConfig settle.minMs must be a whole number of milliseconds from 1 to 3600000, got undefined',
      ),
    },
    {
      name: "settle: { minMs: '500' }",
      options: { layers: ['ok/'], settle: { minMs: '500' } },
      expected: invalid(
        'liveConfig settle.minMs must be a whole number of milliseconds from 1 to 3600000, got "500"',
      ),
    },
    {
      name: 'settle: { minMs: 0.5 }',
      options: { layers: ['ok/'], settle: { minMs: 0.5 } },
      expected: invalid('got 0.5'),
    },
    {
      name: 'settle: { minMs: 500, maxMs: 100 } (max below min)',
      options: { layers: ['ok/'], settle: { minMs: 500, maxMs: 100 } },
      expected: invalid(
        'liveConfig settle.maxMs must be a whole number of milliseconds from minMs (500) to 3600000, got 100',
      ),
    },
    {
      name: 'settle: { minMs: 500, maxMS: 900 } (a misspelt name)',
      options: { layers: ['ok/'], settle: { minMs: 500, maxMS: 900 } },
      expected: invalid("liveConfig settle: unknown option 'maxMS': did you mean 'maxMs'?"),
    },
    {
      name: 'setle (a misspelt option)',
      options: { layers: ['ok/'], setle: { minMs: 500 } },
      expected: invalid("liveConfig: unknown option 'setle': did you mean 'settle'?"),
    },
    {
      name: "a bad second layer leaves the first layer's watch running",
      options: { layers: ['ok/', '/bad/'] },
      expected: invalid(`prefix "/bad/" must not begin with '/'`),
      checkOrphans: true,
    },
  ];
  table(rows, async (row) => {
    const c = createConsulWatch({ address: dev.address, logger, watch: FAST });
    const error = await caught(() =>
      c.liveConfig(row.options as LiveConfigOptions<Record<string, unknown>>),
    );
    expectTyped(error, row.expected);
    if (row.checkOrphans) expect(c.activeQueries, 'blocking queries left running').toBe(0);
  });

  it.each([
    ['a string', '3000', 'got "3000"'],
    ['negative', -1, 'got -1'],
    ['NaN', Number.NaN, 'got NaN'],
  ])('ready(timeoutMs): %s → InvalidInputError naming timeoutMs', async (_, timeoutMs, got) => {
    const c = createConsulWatch({ address: dev.address, logger, watch: FAST });
    const config = c.liveConfig({ layers: ['app/'] });
    const error = await caught(() => config.ready(timeoutMs as number));
    expectTyped(
      error,
      invalid(`ready(timeoutMs): timeoutMs must be a number of milliseconds, 0 or more, ${got}`),
    );
    await config.close();
  });
});

describe('core: liveConfig with invalid values in Consul (the last good snapshot stays)', () => {
  const BOMB = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
`;
  interface ValueRow extends Row {
    /** 'tree': the layer is the row's prefix; otherwise the layer is this key (a document). */
    layer: 'tree' | { key: string };
    format?: 'json' | 'yaml';
    good: [string, string];
    bad: [string, string];
    names: string | RegExp;
  }
  const rows: ValueRow[] = [
    {
      name: 'tree: a .json key with invalid JSON',
      layer: 'tree',
      good: ['db.json', '{"port":5432}'],
      bad: ['db.json', '{"port":'],
      names: 'is not valid JSON',
    },
    {
      name: 'tree: a .yaml key with invalid YAML',
      layer: 'tree',
      good: ['db.yaml', 'port: 5432'],
      bad: ['db.yaml', 'port: [5432'],
      names: 'is not valid YAML',
    },
    {
      name: 'tree: a .yml key with a tab-indented mapping',
      layer: 'tree',
      good: ['db.yml', 'pool:\n  size: 1'],
      bad: ['db.yml', 'pool:\n\tsize: 1'],
      names: 'is not valid YAML',
    },
    {
      name: 'tree: a YAML alias bomb ("billion laughs")',
      layer: 'tree',
      good: ['bomb.yaml', 'a: 1'],
      bad: ['bomb.yaml', BOMB],
      names: 'is not valid YAML',
    },
    {
      name: "tree with format 'json': a plain-text value",
      layer: 'tree',
      format: 'json',
      good: ['port', '5432'],
      bad: ['port', 'five thousand'],
      names: 'is not valid JSON',
    },
    {
      name: 'document .json: invalid JSON',
      layer: { key: 'app.json' },
      good: ['app.json', '{"a":1}'],
      bad: ['app.json', '{"a":'],
      names: 'is not valid JSON',
    },
    {
      name: 'document .yaml: invalid YAML',
      layer: { key: 'app.yaml' },
      good: ['app.yaml', 'a: 1'],
      bad: ['app.yaml', 'a: "unclosed'],
      names: 'is not valid YAML',
    },
    {
      name: 'document .json: an array, not an object',
      layer: { key: 'arr.json' },
      good: ['arr.json', '{"a":1}'],
      bad: ['arr.json', '[1,2,3]'],
      names: 'must hold a JSON object to be a config layer; it holds an array',
    },
    {
      name: 'document .json: a bare number',
      layer: { key: 'num.json' },
      good: ['num.json', '{"a":1}'],
      bad: ['num.json', '5'],
      names: 'must hold a JSON object to be a config layer; it holds number',
    },
    {
      name: 'document without extension: text, not JSON',
      layer: { key: 'plain' },
      good: ['plain', '{"a":1}'],
      bad: ['plain', 'hello'],
      names: 'is not valid JSON',
    },
    {
      name: 'document .json: invalid UTF-8 bytes',
      layer: { key: 'bytes.json' },
      good: ['bytes.json', '{"a":1}'],
      bad: ['bytes.json', '\u0000\u0001{'],
      names: 'is not valid JSON',
    },
  ];
  table(rows, async (row) => {
    const p = `lc-${RUN}-${rows.indexOf(row)}/`;
    const c = createConsulWatch({ address: dev.address, prefix: p, logger, watch: FAST });
    await c.kv.put(row.good[0], row.good[1]);
    const live = c.liveConfig({
      layers: [row.layer === 'tree' ? { prefix: '', format: row.format } : row.layer],
    } as LiveConfigOptions);
    const errors: ConsulWatchError[] = [];
    live.on('error', (e) => errors.push(e));
    const first = await live.ready(3_000);
    expect(errors).toEqual([]);
    await c.kv.put(row.bad[0], row.bad[1]);
    await until(
      () => errors.length > 0,
      3_000,
      () => `no error reported for ${row.bad[0]}`,
    );
    const error = expectTyped(errors[0], {
      cls: DecodeError,
      code: 'DECODE_FAILED',
      names: row.names,
    });
    expect(error.message).toContain(JSON.stringify(row.bad[0]));
    expect((error as DecodeError).key).toBe(row.bad[0]);
    expect(live.snapshot, 'the last good snapshot stays').toBe(first);
    await live.close();
  });

  it('a "__proto__" field in a JSON document does not reach the snapshot through its prototype', async () => {
    const c = createConsulWatch({ address: dev.address, prefix: `lc-proto-${RUN}/`, logger });
    await c.kv.put('app.json', '{"a":1,"__proto__":{"isAdmin":true}}');
    const live = c.liveConfig({ layers: [{ key: 'app.json' }] });
    const snapshot = (await live.ready(3_000)) as Record<string, unknown>;
    await live.close();
    expect(({} as Record<string, unknown>).isAdmin, 'Object.prototype polluted').toBeUndefined();
    expect(snapshot.isAdmin).toBeUndefined();
    expect(live.get('isAdmin')).toBeUndefined();
  });

  // B17 (fixed): a schema whose validate() throws made LiveConfig's build promise reject with
  // nobody listening, an unhandled rejection that ends a Node process run with defaults.
  it('a schema that throws is reported as an error, not an unhandled rejection', async () => {
    const c = createConsulWatch({ address: dev.address, prefix: `lc-schema-${RUN}/`, logger });
    await c.kv.put('a', '1');
    const schema = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: () => {
          throw new Error('schema exploded');
        },
      },
    } as never;
    const live = c.liveConfig({ layers: [''], schema });
    const errors: ConsulWatchError[] = [];
    live.on('error', (e) => errors.push(e));
    await until(
      () => errors.length > 0,
      1_000,
      () => 'no error event',
    );
    await live.close();
  });
});

// ─── core: handlers ──────────────────────────────────────────────────────────────────────

describe('core: scriptHandler never runs a shell', () => {
  // coreutils echo prints its arguments as they are (no escapes without -e) and starts in a
  // millisecond; node, the fallback, takes a tenth of a second.
  const ECHO = existsSync('/bin/echo')
    ? { command: '/bin/echo', args: [] as string[], parse: (out: string) => [out.slice(0, -1)] }
    : {
        command: process.execPath,
        args: ['-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))'],
        parse: (out: string) => JSON.parse(out) as string[],
      };
  const HOSTILE = [
    `; touch ${PWNED}`,
    `$(touch ${PWNED})`,
    `\`touch ${PWNED}\``,
    `| touch ${PWNED}`,
    `&& touch ${PWNED}`,
    `'; touch ${PWNED}; '`,
    `"; touch ${PWNED}; "`,
    `\n touch ${PWNED}`,
    `> ${PWNED}`,
    `\${IFS}touch\${IFS}${PWNED}`,
  ];
  it.each(HOSTILE)('argument %j arrives verbatim and runs nothing', async (arg) => {
    let out = '';
    const handler = scriptHandler({
      command: ECHO.command,
      args: [...ECHO.args, arg],
      onStdout: (chunk) => (out += chunk),
    });
    await handler(fakeChange());
    expect(ECHO.parse(out)).toEqual([arg]);
    expect(existsSync(PWNED), `${PWNED} was created`).toBe(false);
  });

  it.each([`touch ${PWNED}`, `sh -c "touch ${PWNED}"`, `true; touch ${PWNED}`])(
    'command %j is a program name, not a shell line: HandlerError, nothing runs',
    async (command) => {
      const error = await caught(() => scriptHandler({ command })(fakeChange()));
      expectTyped(error, {
        cls: HandlerError,
        code: 'HANDLER_FAILED',
        names: `handler ${command} could not start`,
      });
      expect(existsSync(PWNED)).toBe(false);
    },
  );
});

describe('core: handler options', () => {
  const SECRET_VALUE = `s3cret-${RUN}`;
  interface HandlerRow extends Row {
    make: () => (change: ReturnType<typeof fakeChange>) => Promise<void>;
    expected: Expected;
  }
  const quick = { command: process.execPath, args: ['-e', ''] };
  const rows: HandlerRow[] = [
    {
      name: 'scriptHandler: no options',
      make: () => scriptHandler(undefined as never),
      expected: invalid('scriptHandler needs a command'),
    },
    {
      name: 'scriptHandler: empty command',
      make: () => scriptHandler({ command: '' }),
      expected: invalid('scriptHandler needs a command'),
    },
    {
      name: 'scriptHandler: blank command',
      make: () => scriptHandler({ command: '   ' }),
      expected: invalid('scriptHandler needs a command'),
    },
    {
      name: 'scriptHandler: command a number',
      make: () => scriptHandler({ command: 5 as never }),
      expected: invalid('scriptHandler needs a command'),
    },
    {
      name: 'scriptHandler: args a string',
      make: () => scriptHandler({ command: 'true', args: '--force' as never }),
      expected: invalid('scriptHandler true: args must be an array of strings'),
    },
    {
      name: 'scriptHandler: args holding a number',
      make: () => scriptHandler({ command: 'true', args: [5 as never] }),
      expected: invalid('scriptHandler true: args must be an array of strings'),
    },
    {
      name: 'scriptHandler: a program that does not exist',
      make: () => scriptHandler({ command: `/nonexistent/handler-${RUN}` }),
      expected: {
        cls: HandlerError,
        code: 'HANDLER_FAILED',
        names: `handler /nonexistent/handler-${RUN} could not start`,
      },
    },
    {
      name: 'scriptHandler: NUL in an argument',
      make: () => scriptHandler({ ...quick, args: ['-e', '', 'a\u0000b'] }),
      expected: invalid(/args/),
    },
    {
      name: 'scriptHandler: NUL in an env value',
      make: () => scriptHandler({ ...quick, env: { API_KEY: `${SECRET_VALUE}\u0000` } }),
      expected: invalid(/API_KEY/, [SECRET_VALUE]),
    },
    {
      name: 'scriptHandler: timeoutMs -1',
      make: () => scriptHandler({ ...quick, timeoutMs: -1 }),
      expected: invalid(/timeoutMs/),
    },
    {
      name: 'scriptHandler: timeoutMs NaN',
      make: () => scriptHandler({ ...quick, timeoutMs: Number.NaN }),
      expected: invalid(/timeoutMs/),
    },
    {
      name: 'scriptHandler: cwd that does not exist',
      make: () => scriptHandler({ ...quick, cwd: `/nonexistent-cwd-${RUN}` }),
      expected: { cls: HandlerError, names: `/nonexistent-cwd-${RUN}` },
    },
    {
      name: 'httpHandler: no options',
      make: () => httpHandler(undefined as never),
      expected: invalid('httpHandler url undefined is not a valid URL'),
    },
    {
      name: 'httpHandler: not a URL',
      make: () => httpHandler({ url: 'not a url' }),
      expected: invalid('httpHandler url "not a url" is not a valid URL'),
    },
    {
      name: 'httpHandler: file: URL',
      make: () => httpHandler({ url: 'file:///etc/passwd' }),
      expected: invalid('httpHandler url must be http or https, not file:'),
    },
    {
      name: 'httpHandler: credentials in the URL and a host that does not parse',
      make: () => httpHandler({ url: `http://hook:${PASSWORD}@bad host/` }),
      expected: invalid(/httpHandler url .* is not a valid URL/, [PASSWORD]),
    },
    {
      name: 'httpHandler: credentials in the URL and an Authorization header, nothing listening',
      make: () =>
        httpHandler({
          url: `http://hook:${PASSWORD}@127.0.0.1:1/hook`,
          headers: { Authorization: `Bearer ${SECRET_VALUE}` },
          retries: 0,
        }),
      expected: {
        cls: HandlerError,
        code: 'HANDLER_FAILED',
        names: 'HTTP handler http://127.0.0.1:1 failed for the change at index 7',
        secrets: [PASSWORD, SECRET_VALUE],
      },
    },
    {
      name: 'scriptHandler: a misspelt option (timeOutMs)',
      make: () => scriptHandler({ ...quick, timeOutMs: 5 } as never),
      expected: invalid("scriptHandler: unknown option 'timeOutMs': did you mean 'timeoutMs'?"),
    },
    {
      name: 'scriptHandler: timeoutMs "15000" (a number in quotes)',
      make: () => scriptHandler({ ...quick, timeoutMs: '15000' as never }),
      expected: invalid(
        /timeoutMs must be a positive number of milliseconds .*, got "15000" \(a string: write 15000 without quotes\)/,
      ),
    },
    {
      name: 'httpHandler: a misspelt option (header)',
      make: () => httpHandler({ url: 'http://127.0.0.1:1/hook', header: {} } as never),
      expected: invalid("httpHandler: unknown option 'header': did you mean 'headers'?"),
    },
    {
      name: 'httpHandler: a misspelt tls option (rejectUnauthorised)',
      make: () =>
        httpHandler({
          url: 'https://127.0.0.1:1/hook',
          tls: { rejectUnauthorised: false },
        } as never),
      expected: invalid(
        "tls: unknown option 'rejectUnauthorised': did you mean 'rejectUnauthorized'?",
      ),
    },
    {
      name: 'httpHandler: retries -1',
      make: () => httpHandler({ url: 'http://127.0.0.1:1/hook', retries: -1 }),
      expected: invalid(/retries/),
    },
  ];
  table(rows, async (row) => {
    const error = await caught(async () => {
      const handler = row.make();
      await handler(fakeChange());
    });
    expectTyped(error, row.expected);
  });
});

// ─── nestjs: decorators and module options ───────────────────────────────────────────────

describe('nestjs: decorator options', () => {
  const SECRET_TOKEN = `decorator-token-${RUN}`;
  interface DecoratorRow extends Row {
    apply: () => unknown;
    expected: Expected;
  }
  const onChange = invalid(/^@OnConsulChange\(.*\) names no watch/);
  const rows: DecoratorRow[] = [
    { name: '@OnConsulChange({})', apply: () => OnConsulChange({} as never), expected: onChange },
    {
      name: '@OnConsulChange({ initial: true }) (settings, no form)',
      apply: () => OnConsulChange({ initial: true } as never),
      expected: onChange,
    },
    {
      name: '@OnConsulChange({ services: false })',
      apply: () => OnConsulChange({ services: false } as never),
      expected: onChange,
    },
    {
      name: '@OnConsulChange({ checks: "web" })',
      apply: () => OnConsulChange({ checks: 'web' } as never),
      expected: onChange,
    },
    {
      name: '@OnConsulChange({ event: 5 })',
      apply: () => OnConsulChange({ event: 5 } as never),
      expected: onChange,
    },
    {
      name: '@OnConsulChange() with no argument',
      apply: () => OnConsulChange(undefined as never),
      expected: invalid(/@OnConsulChange/),
    },
    {
      name: '@OnConsulChange(null)',
      apply: () => OnConsulChange(null as never),
      expected: invalid(/@OnConsulChange/),
    },
    {
      name: '@OnConsulChange({ token }) with no form',
      apply: () => OnConsulChange({ token: SECRET_TOKEN, datacenter: 'dc1' } as never),
      expected: invalid(/names no watch/, [SECRET_TOKEN]),
    },
    {
      name: "@ConsulValue('')",
      apply: () => ConsulValue(''),
      expected: invalid(`@ConsulValue needs a dot path such as 'db.pool.size', got ""`),
    },
    {
      name: "@ConsulValue('   ')",
      apply: () => ConsulValue('   '),
      expected: invalid('@ConsulValue needs a dot path'),
    },
    {
      name: '@ConsulValue(undefined)',
      apply: () => ConsulValue(undefined as never),
      expected: invalid('@ConsulValue needs a dot path'),
    },
    {
      name: '@ConsulValue(5)',
      apply: () => ConsulValue(5 as never),
      expected: invalid("@ConsulValue needs a dot path such as 'db.pool.size', got 5"),
    },
    {
      name: '@OnConsulChange({ kye }) (misspelt)',
      apply: () => OnConsulChange({ kye: 'app/flag' } as never),
      expected: invalid("@OnConsulChange: unknown option 'kye': did you mean 'key'?"),
    },
    {
      name: '@OnConsulChange({ key, passingOnly }) (an option of another form)',
      apply: () => OnConsulChange({ key: 'app/flag', passingOnly: true } as never),
      expected: invalid("@OnConsulChange({ key }): option 'passingOnly' does not go with 'key'"),
    },
    {
      name: '@OnConsulChange({ checks: { servce } })',
      apply: () => OnConsulChange({ checks: { servce: 'web' } } as never),
      expected: invalid("@OnConsulChange checks: unknown option 'servce': did you mean 'service'?"),
    },
    {
      name: '@OnConsulChange({ key, tokn }) names the option, never a value',
      apply: () => OnConsulChange({ key: 'app/flag', tokn: SECRET_TOKEN } as never),
      expected: invalid("unknown option 'tokn': did you mean 'token'?", [SECRET_TOKEN]),
    },
    {
      name: '@LeaderOnly({ key, ttlMS }) (misspelt)',
      apply: () => LeaderOnly({ key: 'jobs/a', ttlMS: 10_000 } as never),
      expected: invalid(`@LeaderOnly("jobs/a"): unknown option 'ttlMS': did you mean 'ttlMs'?`),
    },
    {
      name: '@LeaderOnly({ key, lockdelay }) (misspelt)',
      apply: () => LeaderOnly({ key: 'jobs/a', lockdelay: 0 } as never),
      expected: invalid("unknown option 'lockdelay': did you mean 'lockDelayMs'?"),
    },
  ];
  table(rows, async (row) => {
    expectTyped(await caught(row.apply), row.expected);
  });
});

/** Boots a Nest application context; resolves with the error, or the app to close. */
async function bootNest(imports: unknown[], providers: unknown[] = []) {
  @Module({ imports: imports as never[], providers: providers as never[] })
  class AppModule {}
  try {
    const app = await NestFactory.createApplicationContext(AppModule, {
      logger: nestLogger,
      abortOnError: false,
    });
    return { error: NOTHING as unknown, app };
  } catch (error) {
    return { error, app: undefined };
  }
}

describe('nestjs: ConsulModule bootstrap with bad options', () => {
  interface NestRow extends Row {
    options: () => Parameters<typeof ConsulModule.forRoot>[0];
    providers?: () => unknown[];
    expected: Expected;
    checkOrphans?: boolean;
  }
  const rows: NestRow[] = [
    {
      name: 'forRoot: address with credentials',
      options: () => ({ address: `http://nest:${PASSWORD}@127.0.0.1:8500` }),
      expected: invalid('address must not carry credentials', [PASSWORD]),
    },
    {
      name: 'forRoot: config section with no prefix or layers',
      options: () => ({ address: dev.address, config: {} }),
      expected: invalid(
        "ConsulModule config names nothing to read: give config.prefix (a folder of keys, such as 'config/my-app/') or config.layers",
      ),
    },
    {
      name: 'forRoot: config: { prefix: [] }',
      options: () => ({ address: dev.address, config: { prefix: [] } }),
      expected: invalid('ConsulModule config names nothing to read'),
    },
    {
      name: 'forRoot: config.layers a string',
      options: () => ({ address: dev.address, config: { layers: 'config/app/' as never } }),
      expected: invalid(`ConsulModule config.layers must be a list`),
    },
    {
      name: 'forRoot: config.prefix a number',
      options: () => ({ address: dev.address, config: { prefix: 5 as never } }),
      expected: invalid('ConsulModule config.prefix must be a folder of keys'),
    },
    {
      name: 'forRoot: config.settle { minMs: 0 } (issue 24)',
      options: () => ({ address: dev.address, config: { prefix: 'a/', settle: { minMs: 0 } } }),
      expected: invalid(
        'ConsulModule config.settle.minMs must be a whole number of milliseconds from 1 to 3600000, got 0',
      ),
    },
    {
      name: "forRoot: config.settle '500' (issue 24)",
      options: () => ({ address: dev.address, config: { prefix: 'a/', settle: '500' as never } }),
      expected: invalid(
        'ConsulModule config.settle must be an object such as { minMs: 500, maxMs: 2000 }, got "500"',
      ),
    },
    {
      name: 'forRoot: adress (misspelt)',
      options: () => ({ adress: dev.address }) as never,
      expected: invalid("ConsulModule: unknown option 'adress': did you mean 'address'?"),
    },
    {
      name: 'forRoot: config: { prefx } (misspelt)',
      options: () => ({ address: dev.address, config: { prefx: 'config/app/' } }) as never,
      expected: invalid("ConsulModule config: unknown option 'prefx': did you mean 'prefix'?"),
    },
    {
      name: 'forRoot: watch: { waitMS } (misspelt)',
      options: () => ({ address: dev.address, watch: { waitMS: 1000 } }) as never,
      expected: invalid("ConsulModule watch: unknown option 'waitMS': did you mean 'waitMs'?"),
    },
    {
      name: 'forRoot: availability: { probeMaxMS } (misspelt)',
      options: () => ({ address: dev.address, availability: { probeMaxMS: 10 } }) as never,
      expected: invalid(
        "ConsulModule availability: unknown option 'probeMaxMS': did you mean 'probeMaxMs'?",
      ),
    },
    {
      name: 'forRoot: register: { nmae } (misspelt)',
      options: () => ({ address: dev.address, register: { nmae: 'web' } }) as never,
      expected: invalid("ConsulModule register: unknown option 'nmae': did you mean 'name'?"),
    },
    {
      name: 'forRoot: config.readyTimeoutMs "3000" (a string)',
      options: () =>
        ({ address: dev.address, config: { prefix: 'a/', readyTimeoutMs: '3000' } }) as never,
      expected: invalid(
        'ConsulModule config.readyTimeoutMs must be a number of milliseconds, 0 or more (default 10000), got "3000"',
      ),
    },
    {
      name: 'forRoot: config.readyTimeoutMs -1',
      options: () => ({ address: dev.address, config: { prefix: 'a/', readyTimeoutMs: -1 } }),
      expected: invalid(
        'ConsulModule config.readyTimeoutMs must be a number of milliseconds, 0 or more (default 10000), got -1',
      ),
    },
    {
      name: 'forRoot: watchReadyTimeoutMs "3000" (a string)',
      options: () => ({ address: dev.address, watchReadyTimeoutMs: '3000' }) as never,
      expected: invalid(
        'ConsulModule watchReadyTimeoutMs must be a number of milliseconds, 0 or more (default 10000), got "3000"',
      ),
    },
    {
      name: "forRoot: config.onUnavailable 'Start'",
      options: () =>
        ({ address: dev.address, config: { prefix: 'a/', onUnavailable: 'Start' } }) as never,
      expected: invalid(`ConsulModule config.onUnavailable must be 'fail' or 'start', got "Start"`),
    },
    {
      name: "forRoot: config prefix with a leading '/'",
      options: () => ({ address: dev.address, config: { prefix: '/config/app/' } }),
      expected: invalid(`prefix "/config/app/" must not begin with '/'`),
    },
    {
      name: '@OnConsulChange({ key: "" }) on a provider',
      options: () => ({ address: dev.address }),
      providers: () => {
        @Injectable()
        class EmptyKeyListener {
          @OnConsulChange({ key: '' })
          onChange() {}
        }
        return [EmptyKeyListener];
      },
      expected: invalid('key must not be empty'),
    },
    {
      name: '@OnConsulChange({ checks: { service, state } }) on a provider',
      options: () => ({ address: dev.address }),
      providers: () => {
        @Injectable()
        class BothListener {
          @OnConsulChange({ checks: { service: 'web', state: 'passing' } as never })
          onChange() {}
        }
        return [BothListener];
      },
      expected: invalid('checks watch takes either a service or a state, not both'),
    },
    {
      name: "@OnConsulChange({ prefix: '/abs/' }) on a provider",
      options: () => ({ address: dev.address }),
      providers: () => {
        @Injectable()
        class AbsListener {
          @OnConsulChange({ prefix: '/abs/' })
          onChange() {}
        }
        return [AbsListener];
      },
      expected: invalid(`prefix "/abs/" must not begin with '/'`),
    },
    {
      name: '@LeaderOnly on two methods giving one key different options',
      options: () => ({ address: dev.address }),
      providers: () => {
        const key = `bad-input-${RUN}/leader-two`;
        @Injectable()
        class TwoLeaders {
          @LeaderOnly({ key, ttlMs: 10_000 })
          one() {}
          @LeaderOnly({ key, ttlMs: 20_000 })
          two() {}
        }
        return [TwoLeaders];
      },
      expected: invalid(
        /is given two different option sets: \{ ttlMs: 10000 \} by @LeaderOnly on TwoLeaders\.one, and \{ ttlMs: 20000 \} by @LeaderOnly on TwoLeaders\.two/,
      ),
    },
    {
      name: "forRoot: config prefix ['ok/', '/bad/'] leaves no watch running",
      options: () => ({ address: dev.address, config: { prefix: [`ok-${RUN}/`, '/bad/'] } }),
      expected: invalid(`prefix "/bad/" must not begin with '/'`),
      checkOrphans: true,
    },
  ];
  table(rows, async (row) => {
    const before = nestLines.length;
    const { made, error } = await clientsMadeBy(async () => {
      const { error, app } = await bootNest(
        [ConsulModule.forRoot(row.options())],
        row.providers?.() ?? [],
      );
      await app?.close();
      if (error !== NOTHING) throw error;
    });
    expectTyped(error, row.expected);
    for (const line of nestLines.slice(before))
      for (const secret of row.expected.secrets ?? []) expect(line).not.toContain(secret);
    if (row.checkOrphans)
      expect(
        made.map((c) => c.activeQueries),
        'blocking queries left running',
      ).toEqual(made.map(() => 0));
  });
});

// ─── express: consulConfig options ───────────────────────────────────────────────────────

describe('express: consulConfig options', () => {
  interface ExpressRow extends Row {
    options: () => unknown;
    expected: Expected;
    checkOrphans?: boolean;
  }
  const layersNeeded = invalid('consulConfig needs either config (a LiveConfig) or layers');
  const waitMs = invalid(/^consulConfig waitForReadyMs must be 0 or more milliseconds/);
  const rows: ExpressRow[] = [
    { name: 'nothing: {}', options: () => ({}), expected: layersNeeded },
    { name: 'layers: []', options: () => ({ layers: [] }), expected: layersNeeded },
    {
      name: 'layers: a string',
      options: () => ({ layers: 'config/app/', connection: { address: dev.address } }),
      expected: invalid(
        'consulConfig layers must be an array of layers, such as { layers: ["config/my-app/"] }, got "config/app/"',
      ),
      checkOrphans: true,
    },
    {
      name: 'a misspelt option (waitForReadyMS)',
      options: () => ({ layers: ['a/'], waitForReadyMS: 100 }),
      expected: invalid(
        "consulConfig: unknown option 'waitForReadyMS': did you mean 'waitForReadyMs'?",
      ),
    },
    {
      name: 'connection: a misspelt option (adress), named as the middleware option',
      options: () => ({ layers: ['a/'], connection: { adress: dev.address } }),
      expected: invalid(
        "consulConfig connection: unknown option 'adress': did you mean 'address'?",
      ),
    },
    {
      name: 'waitForReadyMs: "1000" (a number in quotes)',
      options: () => ({ layers: ['a/'], waitForReadyMs: '1000' }),
      expected: invalid(
        'consulConfig: waitForReadyMs must be a number of milliseconds, got "1000" (a string: write 1000 without quotes)',
      ),
    },
    {
      name: "layers: a prefix with a leading '/'",
      options: () => ({ layers: ['/config/'], connection: { address: dev.address } }),
      expected: invalid(`prefix "/config/" must not begin with '/'`),
    },
    {
      name: 'waitForReadyMs: -1',
      options: () => ({ layers: ['a/'], waitForReadyMs: -1 }),
      expected: waitMs,
    },
    {
      name: 'waitForReadyMs: NaN',
      options: () => ({ layers: ['a/'], waitForReadyMs: Number.NaN }),
      expected: waitMs,
    },
    {
      name: 'waitForReadyMs: Infinity',
      options: () => ({ layers: ['a/'], waitForReadyMs: Number.POSITIVE_INFINITY }),
      expected: waitMs,
    },
    {
      name: 'settle: { minMs: 500, maxMs: 10 } (issue 24)',
      options: () => ({ layers: ['a/'], settle: { minMs: 500, maxMs: 10 } }),
      expected: invalid(
        'consulConfig settle.maxMs must be a whole number of milliseconds from minMs (500) to 3600000, got 10',
      ),
    },
    {
      name: 'connection: address with credentials',
      options: () => ({ layers: ['a/'], connection: { address: `http://x:${PASSWORD}@h:1` } }),
      expected: invalid('address must not carry credentials', [PASSWORD]),
    },
    {
      name: "connection: prefix with a leading '/'",
      options: () => ({ layers: ['a/'], connection: { address: dev.address, prefix: '/x/' } }),
      expected: invalid(`prefix "/x/" must not begin with '/'`),
    },
    {
      name: 'no options at all',
      options: () => undefined,
      expected: layersNeeded,
    },
    {
      name: 'client: not a ConsulWatch',
      options: () => ({ layers: ['a/'], client: {} }),
      expected: invalid(/client/),
    },
    {
      name: 'config: not a LiveConfig',
      options: () => ({ config: {} }),
      expected: invalid(/config/),
    },
    {
      name: "layers ['ok/', '/bad/'] on its own connection leaves nothing running",
      options: () => ({ layers: [`ok-${RUN}/`, '/bad/'], connection: { address: dev.address } }),
      expected: invalid(`prefix "/bad/" must not begin with '/'`),
      checkOrphans: true,
    },
  ];
  table(rows, async (row) => {
    const { error, made } = await clientsMadeBy(() => consulConfig(row.options() as never));
    expectTyped(error, row.expected);
    if (row.checkOrphans)
      expect(
        made.map((c) => c.activeQueries),
        'blocking queries left running',
      ).toEqual(made.map(() => 0));
  });
});

// ─── fastify: the consulConfig plugin and liveConfigEvents ──────────────────────────────

describe('fastify: consulConfig plugin options', () => {
  interface FastifyRow extends Row {
    options: () => unknown;
    expected: Expected;
    /** Done to the app before the plugin is registered. */
    before?: (app: FastifyInstance) => Promise<unknown> | unknown;
    checkOrphans?: boolean;
  }
  const layersNeeded = invalid('consulConfig needs layers, such as { layers: [');
  const waitMs = invalid(/^consulConfig waitForReadyMs must be 0 or more milliseconds/);
  // The option checks are core's (openConfigSource), shared with the Express middleware, whose
  // rows above go through each of them; these check that every kind of refusal comes out of
  // app.register() as the same typed error, and the refusals only the plugin makes.
  const rows: FastifyRow[] = [
    { name: 'nothing: {}', options: () => ({}), expected: layersNeeded },
    { name: 'no options at all', options: () => undefined, expected: layersNeeded },
    {
      name: 'layers: a string (InvalidInputError, as the README says)',
      options: () => ({ layers: 'config/app/', connection: { address: dev.address } }),
      expected: invalid('consulConfig layers must be an array of layers'),
      checkOrphans: true,
    },
    {
      name: 'a misspelt option (connnection)',
      options: () => ({ layers: ['a/'], connnection: { address: dev.address } }),
      expected: invalid("consulConfig: unknown option 'connnection': did you mean 'connection'?"),
      checkOrphans: true,
    },
    {
      name: "prefix: Fastify's route prefix, not a folder of keys",
      options: () => ({ prefix: 'fx/my-app/', client: root }),
      expected: invalid(
        `for a folder of keys in Consul give layers, such as { layers: ["fx/my-app/"] }`,
      ),
    },
    {
      name: 'waitForReadyMs: "1000" (a number in quotes)',
      options: () => ({ layers: ['a/'], client: root, waitForReadyMs: '1000' }),
      expected: invalid(
        'consulConfig: waitForReadyMs must be a number of milliseconds, got "1000"',
      ),
    },
    {
      name: 'settle: { minMs: 500, maxMS: 900 } (a misspelt name, issue 24)',
      options: () => ({ layers: ['a/'], settle: { minMs: 500, maxMS: 900 } }),
      expected: invalid("consulConfig settle: unknown option 'maxMS': did you mean 'maxMs'?"),
    },
    {
      name: 'waitForReadyMs: NaN',
      options: () => ({ layers: ['a/'], waitForReadyMs: Number.NaN }),
      expected: waitMs,
    },
    {
      name: 'connection: address with credentials (not in the message)',
      options: () => ({ layers: ['a/'], connection: { address: `http://x:${PASSWORD}@h:1` } }),
      expected: invalid('address must not carry credentials', [PASSWORD]),
    },
    {
      name: 'client: not a ConsulWatch',
      options: () => ({ layers: ['a/'], client: { kv: {} } }),
      expected: invalid(/^consulConfig client must be a ConsulWatch/),
    },
    {
      name: 'config: given (the plugin makes its own live config)',
      options: () => ({ config: { snapshot: {} }, layers: ['a/'] }),
      expected: invalid('give layers, and client or connection, instead of config'),
    },
    {
      name: 'registered twice on one app',
      before: (app) => app.register(fastifyConsulConfig, { client: root, layers: [`one-${RUN}/`] }),
      options: () => ({ connection: { address: dev.address }, layers: [`two-${RUN}/`] }),
      expected: invalid('consulConfig cannot decorate app.consul: it is there already'),
      checkOrphans: true,
    },
    {
      name: 'app.liveConfig taken by another plugin',
      before: (app) => app.decorate('liveConfig', 'something else' as never),
      options: () => ({ connection: { address: dev.address }, layers: [`taken-${RUN}/`] }),
      expected: invalid('cannot decorate app.liveConfig: it is there already'),
      checkOrphans: true,
    },
    {
      name: "layers ['ok/', '/bad/'] on its own connection leaves nothing running",
      options: () => ({ layers: [`ok-${RUN}/`, '/bad/'], connection: { address: dev.address } }),
      expected: invalid(`prefix "/bad/" must not begin with '/'`),
      checkOrphans: true,
    },
  ];
  table(rows, async (row) => {
    const app = Fastify();
    try {
      await row.before?.(app);
      const { error, made } = await clientsMadeBy(() =>
        app.register(fastifyConsulConfig, row.options() as never),
      );
      expectTyped(error, row.expected);
      if (row.checkOrphans)
        expect(
          made.map((c) => c.activeQueries),
          'blocking queries left running',
        ).toEqual(made.map(() => 0));
    } finally {
      await app.close().catch(() => {});
    }
  });

  interface EventsRow extends Row {
    options: () => unknown;
  }
  const exposeNeeded = invalid('liveConfigEvents needs expose: a non-empty list of dot paths');
  const eventRows: EventsRow[] = [
    { name: 'liveConfigEvents: no options', options: () => undefined },
    { name: 'liveConfigEvents: expose []', options: () => ({ expose: [] }) },
    { name: 'liveConfigEvents: expose a string', options: () => ({ expose: 'features' }) },
    { name: "liveConfigEvents: expose ['']", options: () => ({ expose: [''] }) },
    { name: "liveConfigEvents: expose ['.features']", options: () => ({ expose: ['.features'] }) },
    { name: "liveConfigEvents: expose ['ui.']", options: () => ({ expose: ['ui.'] }) },
    { name: 'liveConfigEvents: expose [42]', options: () => ({ expose: [42] }) },
  ];
  table(eventRows, async (row) => {
    expectTyped(await caught(() => liveConfigEvents(row.options() as never)), exposeNeeded);
  });
  const otherEventRows: (Row & { options: unknown; expected: Expected })[] = [
    {
      name: 'liveConfigEvents: a misspelt option (heartbeatMS)',
      options: { expose: ['features'], heartbeatMS: 1000 },
      expected: invalid(
        "liveConfigEvents: unknown option 'heartbeatMS': did you mean 'heartbeatMs'?",
      ),
    },
    {
      name: 'liveConfigEvents: retryMs "2000" (a number in quotes)',
      options: { expose: ['features'], retryMs: '2000' },
      expected: invalid(
        /^liveConfigEvents: retryMs must be a positive number of milliseconds .*got "2000"/,
      ),
    },
    {
      name: 'liveConfigEvents: heartbeatMs 0 (a heartbeat in a tight loop)',
      options: { expose: ['features'], heartbeatMs: 0 },
      expected: invalid(/^liveConfigEvents: heartbeatMs must be a positive number/),
    },
  ];
  table(otherEventRows, async (row) => {
    // The same core check behind both adapters' routes.
    expectTyped(await caught(() => liveConfigEvents(row.options as never)), row.expected);
    expectTyped(
      await caught(() => expressEvents({ config: {} as never }, row.options as never)),
      row.expected,
    );
  });

  it('liveConfigEvents on an app without the plugin: 500 naming the fix, no stream left open', async () => {
    const app = Fastify();
    const events = liveConfigEvents({ expose: ['features'] });
    app.get('/events', events);
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const res = await httpCall((app.server.address() as AddressInfo).port, {
        method: 'GET',
        path: '/events',
      });
      expect(res.status).toBe(500);
      expect(res.body).toContain('register it on this app first');
      expect(events.connections).toBe(0);
    } finally {
      await app.close();
    }
  });
});

// ─── config-loader: options and collisions ───────────────────────────────────────────────

describe('express and fastify: consulHealth options', () => {
  interface HealthRow extends Row {
    options: unknown;
    expected: Expected;
  }
  const needs = invalid('consulHealth needs a client, a config or both');
  const rows: HealthRow[] = [
    { name: 'no options', options: undefined, expected: needs },
    { name: 'null', options: null, expected: needs },
    { name: '{}', options: {}, expected: needs },
    {
      name: 'maxStalenessMs: -5',
      options: { client: {}, maxStalenessMs: -5 },
      expected: invalid('consulHealth: maxStalenessMs must be 0 or more milliseconds, got -5'),
    },
    {
      name: 'maxStalenessMs: "300000" (a number in quotes)',
      options: { client: {}, maxStalenessMs: '300000' },
      expected: invalid(
        'consulHealth: maxStalenessMs must be a number of milliseconds, got "300000" (a string: write 300000 without quotes)',
      ),
    },
    {
      name: 'a misspelt option (maxStaleMs)',
      options: { client: {}, maxStaleMs: 1000 },
      expected: invalid(
        "consulHealth: unknown option 'maxStaleMs': known options: client, config, maxAgeMs, maxStalenessMs",
      ),
    },
    {
      name: 'maxAgeMs: "1m"',
      options: { client: {}, maxAgeMs: '1m' },
      expected: invalid('consulHealth: maxAgeMs must be a number of milliseconds, got "1m"'),
    },
  ];
  table(rows, async (row) => {
    expectTyped(await caught(() => consulHealth(row.options as never)), row.expected);
    // Fastify's probe checks its options in the same place (core's healthProbe).
    expectTyped(await caught(() => fastifyHealth(row.options as never)), row.expected);
  });
});

describe('config-loader: loadConsulEnv and watchConsulEnv', () => {
  const prefixRequired = { cls: TypeError, names: 'a prefix is required' };
  interface LoaderRow extends Row {
    options: () => unknown;
    /** Keys to write first (relative to the row's prefix). */
    keys?: [string, string][];
    expected: Expected;
  }
  const rowPrefix = (row: Row) => `env-${RUN}-${row.name.replace(/[^a-z0-9]+/gi, '-')}/`;
  const rows: LoaderRow[] = [
    { name: 'prefix: empty', options: () => ({ prefix: '' }), expected: prefixRequired },
    { name: 'prefix: blank', options: () => ({ prefix: '   ' }), expected: prefixRequired },
    { name: 'prefix: a number', options: () => ({ prefix: 5 }), expected: prefixRequired },
    { name: 'prefix: missing', options: () => ({ prefix: undefined }), expected: prefixRequired },
    { name: 'prefix: null', options: () => ({ prefix: null }), expected: prefixRequired },
    {
      name: "prefix: leading '/'",
      options: () => ({ prefix: '/app/env' }),
      expected: invalid(`prefix "/app/env/" must not begin with '/'`),
    },
    {
      name: 'prefix: NUL',
      options: () => ({ prefix: 'app\u0000env' }),
      expected: invalid('contains a control character'),
    },
    {
      name: 'collision: db/host and db-host',
      keys: [
        ['db/host', 'a'],
        ['db-host', 'b'],
      ],
      options: () => ({}),
      expected: invalid(
        /Keys ".*db-host" and ".*db\/host" both map to the environment variable DB_HOST/,
      ),
    },
    {
      name: 'collision: Db/Host and db/host (case)',
      keys: [
        ['Db/Host', 'a'],
        ['db/host', 'b'],
      ],
      options: () => ({}),
      expected: invalid(/both map to the environment variable DB_HOST/),
    },
    {
      name: 'collision: db.host and db_host (sanitised)',
      keys: [
        ['db.host', 'a'],
        ['db_host', 'b'],
      ],
      options: () => ({}),
      expected: invalid(/both map to the environment variable DB_HOST/),
    },
    {
      name: 'collision: a transform that maps every key to one name',
      keys: [
        ['one', 'a'],
        ['two', 'b'],
      ],
      options: () => ({ transform: () => 'SAME' }),
      expected: invalid(/both map to the environment variable SAME/),
    },
    {
      name: 'options: undefined',
      options: () => undefined,
      expected: prefixRequired,
    },
    {
      name: 'dotenvFile: a directory',
      options: () => ({ dotenvFile: tmpdir() }),
      expected: { names: tmpdir() },
    },
    {
      name: 'a misspelt option (overide)',
      options: () => ({ overide: true }),
      expected: invalid("loadConsulEnv: unknown option 'overide': did you mean 'override'?"),
    },
    {
      name: 'connection: a misspelt option (adress), named as the loader option',
      options: () => ({ client: undefined, connection: { adress: dev.address } }),
      expected: invalid(
        "loadConsulEnv connection: unknown option 'adress': did you mean 'address'?",
      ),
    },
  ];
  table(rows, async (row) => {
    const p = rowPrefix(row);
    for (const [key, value] of row.keys ?? []) await root.kv.put(`${p}${key}`, value);
    const env: Record<string, string | undefined> = { KEEP: 'me' };
    const options = row.options();
    const error = await caught(() =>
      loadConsulEnv(
        options === undefined ? (undefined as never) : { prefix: p, client: root, env, ...options },
      ),
    );
    expectTyped(error, row.expected);
    expect(env, 'the environment is left as it was').toEqual({ KEEP: 'me' });
  });

  it.each([
    ['empty', ''],
    ['a number', 5],
  ])('watchConsulEnv: prefix %s → TypeError naming the prefix', async (_label, prefix) => {
    expectTyped(
      await caught(() => watchConsulEnv({ prefix: prefix as string, client: root, env: {} })),
      prefixRequired,
    );
  });

  it('watchConsulEnv: a misspelt option (lastKnownGoodfile) → InvalidInputError naming the closest', async () => {
    expectTyped(
      await caught(() =>
        watchConsulEnv({ prefix: 'app/', client: root, env: {}, lastKnownGoodfile: 'x' } as never),
      ),
      invalid(
        "watchConsulEnv: unknown option 'lastKnownGoodfile': did you mean 'lastKnownGoodFile'?",
      ),
    );
  });

  it('watchConsulEnv: ready("1000") (a number in quotes) → InvalidInputError', async () => {
    const watch = watchConsulEnv({ prefix: `envr-${RUN}/`, client: root, env: {} });
    try {
      expectTyped(
        await caught(() => watch.ready('1000' as never)),
        invalid('watchConsulEnv ready(): timeoutMs must be a number of milliseconds, got "1000"'),
      );
    } finally {
      await watch.stop();
    }
  });

  describe('watchConsulEnv: roll-out options (issue 24)', () => {
    const opts: [string, Record<string, unknown>, Expected][] = [
      ['prefix: []', { prefix: [] }, prefixRequired],
      ["prefix: ['app/', '']", { prefix: ['app/', ''] }, prefixRequired],
      [
        'an unknown option (setle)',
        { setle: { minMs: 1 } },
        invalid("watchConsulEnv: unknown option 'setle': did you mean 'settle'?"),
      ],
      [
        "settle: '500'",
        { settle: '500' },
        invalid(
          'watchConsulEnv settle must be an object such as { minMs: 500, maxMs: 2000 }, got "500"',
        ),
      ],
      [
        'settle: { minMs: 0 }',
        { settle: { minMs: 0 } },
        invalid(
          'watchConsulEnv settle.minMs must be a whole number of milliseconds from 1 to 3600000, got 0',
        ),
      ],
      [
        'settle: { minMs: 500, maxMs: 100 }',
        { settle: { minMs: 500, maxMs: 100 } },
        invalid(
          'watchConsulEnv settle.maxMs must be a whole number of milliseconds from minMs (500) to 3600000, got 100',
        ),
      ],
      [
        'settle: { minMS: 500 } (a misspelt name)',
        { settle: { minMS: 500 } },
        invalid("watchConsulEnv settle: unknown option 'minMS': did you mean 'minMs'?"),
      ],
      [
        'splayMs: -1',
        { splayMs: -1 },
        invalid(
          'watchConsulEnv splayMs must be a whole number of milliseconds from 0 to 3600000, got -1',
        ),
      ],
      [
        "splayMs: '100'",
        { splayMs: '100' },
        invalid(
          'watchConsulEnv splayMs must be a whole number of milliseconds from 0 to 3600000, got "100"',
        ),
      ],
      [
        "rolling: 'r/app'",
        { rolling: 'r/app' },
        invalid(
          "watchConsulEnv rolling must be an object such as { key: 'rollout/my-app', maxRestarting: 2 }",
        ),
      ],
      [
        "rolling: { key: '' }",
        { rolling: { key: '', maxRestarting: 1 } },
        invalid('watchConsulEnv rolling.key must be the KV prefix of the roll-out semaphore'),
      ],
      [
        'rolling: { maxRestarting: 0 }',
        { rolling: { key: 'r/app', maxRestarting: 0 } },
        invalid(
          "watchConsulEnv rolling.maxRestarting must be a whole number of instances, 1 or more (2), or a percentage of the instances from 1% to 100% ('25%'), got 0",
        ),
      ],
      [
        "rolling: { maxRestarting: '101%' }",
        { rolling: { key: 'r/app', maxRestarting: '101%' } },
        invalid('got "101%"'),
      ],
      [
        'rolling: no maxRestarting',
        { rolling: { key: 'r/app' } },
        invalid('watchConsulEnv rolling.maxRestarting must be'),
      ],
      [
        'rolling: { maxRestaring } (a misspelt name)',
        { rolling: { key: 'r/app', maxRestaring: 2 } },
        invalid(
          "watchConsulEnv rolling: unknown option 'maxRestaring': did you mean 'maxRestarting'?",
        ),
      ],
      [
        'rolling: { sessionTtlMs: 5 }',
        { rolling: { key: 'r/app', maxRestarting: 1, sessionTtlMs: 5 } },
        invalid(
          'watchConsulEnv rolling.sessionTtlMs must be a whole number of milliseconds from 10 to 3600000, got 5',
        ),
      ],
      [
        "readyUrl: 'ftp://x'",
        { readyUrl: 'ftp://x' },
        invalid(
          'watchConsulEnv readyUrl must be an http:// or https:// URL that answers 2xx once the program is ready, such as "http://127.0.0.1:3000/health", got "ftp://x"',
        ),
      ],
      [
        'readyAfterMs: 1.5',
        { readyAfterMs: 1.5 },
        invalid(
          'watchConsulEnv readyAfterMs must be a whole number of milliseconds from 0 to 3600000, got 1.5',
        ),
      ],
      [
        'readyTimeoutMs: 0',
        { readyTimeoutMs: 0 },
        invalid(
          'watchConsulEnv readyTimeoutMs must be a whole number of milliseconds from 1 to 3600000, got 0',
        ),
      ],
    ];
    it.each(opts)('%s → refused before anything starts', async (_label, options, expected) => {
      const env: Record<string, string | undefined> = { KEEP: 'me' };
      expectTyped(
        await caught(() =>
          watchConsulEnv({ prefix: `envr-${RUN}/`, client: root, env, ...options } as never),
        ),
        expected,
      );
      expect(env).toEqual({ KEEP: 'me' });
    });
  });

  it("watchConsulEnv: prefix with a leading '/' → InvalidInputError", async () => {
    expectTyped(
      await caught(() => watchConsulEnv({ prefix: '/app/', client: root, env: {} })),
      invalid(`prefix "/app/" must not begin with '/'`),
    );
  });

  it('watchConsulEnv: a collision is reported as an error event and the environment is untouched', async () => {
    const p = `envw-${RUN}/`;
    await root.kv.put(`${p}db/host`, 'a');
    await root.kv.put(`${p}db-host`, 'b');
    const env: Record<string, string | undefined> = { KEEP: 'me' };
    const watch = watchConsulEnv({ prefix: p, client: root, env });
    const errors: ConsulWatchError[] = [];
    watch.on('error', (e) => errors.push(e));
    try {
      await until(
        () => errors.length > 0,
        3_000,
        () => 'no error event',
      );
      expectTyped(errors[0], invalid(/both map to the environment variable DB_HOST/));
      expectTyped(await caught(() => watch.ready(50)), {
        cls: TimeoutError,
        code: 'TIMEOUT',
        names: `environment from Consul prefix "${p}" not loaded within 50 ms`,
      });
      expect(env).toEqual({ KEEP: 'me' });
    } finally {
      await watch.stop();
    }
  });
});

// ─── CLIs: consul-watch, consul-env, consul-dev ──────────────────────────────────────────

describe('CLIs: flags', () => {
  interface CliRow extends Row {
    cli: 'consul-watch' | 'consul-env' | 'consul-dev';
    args: () => string[];
    code: number;
    stderr: RegExp;
    usage?: boolean;
    secrets?: string[];
    /** Kill a run that goes on when its output matches this (BUG rows: it should have stopped). */
    killOn?: RegExp;
  }
  const w = (...args: string[]) => ['--http-addr', '127.0.0.1:1', ...args];
  const USAGE = {
    'consul-watch': /Usage: consul-watch --type TYPE/,
    'consul-env': /Usage: consul-env --prefix PREFIX/,
    'consul-dev': /Usage: consul-dev \[--port 8500\]/,
  } as const;
  const rows: CliRow[] = [
    // consul-watch
    {
      name: 'consul-watch: unknown flag',
      cli: 'consul-watch',
      args: () => ['--bogus'],
      code: 2,
      stderr: /unknown option --bogus \(see the options below\)/,
      usage: true,
    },
    {
      name: 'consul-watch: a misspelt flag names the closest one',
      cli: 'consul-watch',
      args: () => w('--type', 'keyprefix', '--prefx', 'app/'),
      code: 2,
      stderr: /consul-watch: unknown option --prefx \(did you mean --prefix\?\)/,
      usage: true,
    },
    {
      name: 'consul-watch: no --type',
      cli: 'consul-watch',
      args: () => [],
      code: 2,
      stderr: /--type is required/,
      usage: true,
    },
    {
      name: 'consul-watch: unknown --type',
      cli: 'consul-watch',
      args: () => w('--type', 'kv'),
      code: 2,
      stderr: /watch type "kv" is not one of/,
      usage: true,
    },
    {
      name: 'consul-watch: key type without --key',
      cli: 'consul-watch',
      args: () => w('--type', 'key'),
      code: 2,
      stderr: /--type key needs --key KEY/,
      usage: true,
    },
    {
      name: 'consul-watch: keyprefix type without --prefix names the flag',
      cli: 'consul-watch',
      args: () => w('--type', 'keyprefix'),
      code: 2,
      stderr: /--type keyprefix needs --prefix PREFIX/,
      usage: true,
    },
    {
      name: 'consul-watch: checks type without --service or --state',
      cli: 'consul-watch',
      args: () => w('--type', 'checks'),
      code: 2,
      stderr: /--type checks needs --service SERVICE or --state STATE/,
      usage: true,
    },
    {
      name: 'consul-watch: --key with a leading /',
      cli: 'consul-watch',
      args: () => w('--type', 'key', '--key', '/etc/passwd'),
      code: 2,
      stderr: /key "\/etc\/passwd" must not begin with '\/'/,
      usage: true,
    },
    {
      name: 'consul-watch: --key with a control character',
      cli: 'consul-watch',
      args: () => w('--type', 'key', '--key', 'a\u0001b'),
      code: 2,
      stderr: /contains a control character/,
      usage: true,
    },
    {
      name: 'consul-watch: --key without its value',
      cli: 'consul-watch',
      args: () => ['--type', 'key', '--key'],
      code: 2,
      stderr: /Option '--key <value>' argument missing/,
      usage: true,
    },
    {
      name: 'consul-watch: checks with --service and --state',
      cli: 'consul-watch',
      args: () => w('--type', 'checks', '--service', 'web', '--state', 'passing'),
      code: 2,
      stderr: /checks watch takes either a service or a state/,
      usage: true,
    },
    {
      name: 'consul-watch: --filter on a key watch',
      cli: 'consul-watch',
      args: () => w('--type', 'key', '--key', 'a', '--filter', 'Key == a'),
      code: 2,
      stderr: /--filter works with --type services, nodes, service or checks, not key/,
      usage: true,
    },
    {
      name: 'consul-watch: an empty --filter',
      cli: 'consul-watch',
      args: () => w('--type', 'nodes', '--filter', ''),
      code: 2,
      stderr: /nodes watch: filter must be a non-empty string/,
      usage: true,
    },
    {
      name: 'consul-watch: checks with an unknown --state',
      cli: 'consul-watch',
      args: () => w('--type', 'checks', '--state', 'degraded'),
      code: 2,
      stderr: /state "degraded" must be any, passing, warning or critical/,
      usage: true,
    },
    {
      name: 'consul-watch: --stale and --consistent',
      cli: 'consul-watch',
      args: () => w('--type', 'key', '--key', 'a', '--stale', '--consistent'),
      code: 2,
      stderr: /give --stale or --consistent, not both/,
      usage: true,
    },
    {
      name: 'consul-watch: --handler and --http',
      cli: 'consul-watch',
      args: () => w('--type', 'key', '--key', 'a', '--handler', 'true', '--http', 'http://x/'),
      code: 2,
      stderr: /give --handler or --http, not both/,
      usage: true,
    },
    {
      name: 'consul-watch: a stray argument',
      cli: 'consul-watch',
      args: () => w('--type', 'key', '--key', 'a', 'stray'),
      code: 2,
      stderr: /unexpected arguments stray/,
      usage: true,
    },
    {
      name: 'consul-watch: a value for a boolean flag',
      cli: 'consul-watch',
      args: () => w('--type', 'key', '--key', 'a', '--once=yes'),
      code: 2,
      stderr: /Option '--once' does not take an argument/,
      usage: true,
    },
    {
      name: 'consul-watch: --token-file that does not exist',
      cli: 'consul-watch',
      args: () => w('--type', 'key', '--key', 'a', '--token-file', '/nonexistent/token'),
      code: 2,
      stderr: /--token-file \/nonexistent\/token cannot be read \(ENOENT\)/,
      usage: true,
    },
    {
      name: 'consul-watch: --http-addr ftp:// (exit 1, no usage)',
      cli: 'consul-watch',
      args: () => ['--type', 'key', '--key', 'a', '--http-addr', 'ftp://127.0.0.1'],
      code: 1,
      stderr: /address "ftp:\/\/127\.0\.0\.1" must use http or https/,
    },
    {
      name: 'consul-watch: --http-addr with credentials',
      cli: 'consul-watch',
      args: () => [
        '--type',
        'key',
        '--key',
        'a',
        '--http-addr',
        `http://u:${PASSWORD}@127.0.0.1:1`,
      ],
      code: 1,
      stderr: /address must not carry credentials/,
      secrets: [PASSWORD],
    },
    {
      name: 'consul-watch: --http-addr with credentials and a host that does not parse',
      cli: 'consul-watch',
      args: () => ['--type', 'key', '--key', 'a', '--http-addr', `http://u:${PASSWORD}@bad host`],
      code: 1,
      stderr: /is not host:port or an http\(s\) URL/,
      secrets: [PASSWORD],
    },
    {
      name: 'consul-watch: --http file:// (exit 1, no usage)',
      cli: 'consul-watch',
      args: () => w('--type', 'key', '--key', 'a', '--http', 'file:///etc/passwd'),
      code: 1,
      stderr: /httpHandler url must be http or https, not file:/,
    },
    // consul-env
    {
      name: 'consul-env: unknown flag',
      cli: 'consul-env',
      args: () => ['--bogus'],
      code: 2,
      stderr: /unknown option --bogus \(see the options below\)/,
      usage: true,
    },
    {
      name: 'consul-env: a misspelt flag names the closest one',
      cli: 'consul-env',
      args: () => ['--prefx', 'app/', '--', 'true'],
      code: 2,
      stderr: /consul-env: unknown option --prefx \(did you mean --prefix\?\)/,
      usage: true,
    },
    {
      name: 'consul-env: no --prefix',
      cli: 'consul-env',
      args: () => [],
      code: 2,
      stderr: /--prefix is required/,
      usage: true,
    },
    {
      name: 'consul-env: empty --prefix',
      cli: 'consul-env',
      args: () => ['--prefix', '', '--', 'true'],
      code: 2,
      stderr: /--prefix is required/,
      usage: true,
    },
    {
      name: 'consul-env: no program',
      cli: 'consul-env',
      args: () => ['--prefix', 'app/'],
      code: 2,
      stderr: /name the program to run after --/,
      usage: true,
    },
    {
      name: 'consul-env: unknown --signal',
      cli: 'consul-env',
      args: () => ['--prefix', 'app/', '--signal', 'SIGFOO', '--', 'true'],
      code: 2,
      stderr: /--signal SIGFOO is not a signal name/,
      usage: true,
    },
    {
      name: 'consul-env: --signal __proto__',
      cli: 'consul-env',
      args: () => ['--prefix', 'app/', '--signal', '__proto__', '--', 'true'],
      code: 2,
      stderr: /--signal __proto__ is not a signal name/,
      usage: true,
    },
    {
      name: 'consul-env: --signal with --restart-on-change',
      cli: 'consul-env',
      args: () => ['--prefix', 'app/', '--signal', 'SIGHUP', '--restart-on-change', '--', 'true'],
      code: 2,
      stderr: /give --signal or --restart-on-change, not both/,
      usage: true,
    },
    {
      name: 'consul-env: --kill-timeout abc',
      cli: 'consul-env',
      args: () => ['--prefix', 'app/', '--kill-timeout', 'abc', '--', 'true'],
      code: 2,
      stderr: /--kill-timeout must be milliseconds, not abc/,
      usage: true,
    },
    {
      name: 'consul-env: --kill-timeout=-5',
      cli: 'consul-env',
      args: () => ['--prefix', 'app/', '--kill-timeout=-5', '--', 'true'],
      code: 2,
      stderr: /--kill-timeout must be milliseconds, not -5/,
      usage: true,
    },
    {
      name: 'consul-env: --kill-timeout 1.5',
      cli: 'consul-env',
      args: () => ['--prefix', 'app/', '--kill-timeout', '1.5', '--', 'true'],
      code: 2,
      stderr: /--kill-timeout must be milliseconds, not 1\.5/,
      usage: true,
    },
    {
      name: "consul-env: --kill-timeout ''",
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--once', '--kill-timeout', '', '--', 'true'),
      code: 2,
      stderr: /--kill-timeout must be milliseconds/,
      usage: true,
    },
    {
      name: "consul-env: --prefix with a leading '/' (exit 1, no usage)",
      cli: 'consul-env',
      args: () => w('--prefix', '/app/', '--once', '--', 'true'),
      code: 1,
      stderr: /prefix "\/app\/" must not begin with '\/'/,
    },
    {
      name: 'consul-env: --token-file that does not exist',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--once', '--token-file', '/nonexistent/t', '--', 'true'),
      code: 2,
      stderr: /--token-file \/nonexistent\/t cannot be read \(ENOENT\)/,
      usage: true,
    },
    {
      name: 'consul-env: --http-addr ftp://',
      cli: 'consul-env',
      args: () => ['--prefix', 'app/', '--once', '--http-addr', 'ftp://x', '--', 'true'],
      code: 1,
      stderr: /address "ftp:\/\/x" must use http or https/,
    },
    {
      name: 'consul-env: Consul unreachable, no fallback',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--once', '--', 'true'),
      code: 1,
      stderr: /Cannot load the environment from Consul prefix "app\/".*ECONNREFUSED/,
    },
    // consul-env: roll-out flags (issue 24)
    {
      name: 'consul-env: --wait abc',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--wait', 'abc', '--', 'true'),
      code: 2,
      stderr: /--wait takes MIN\[:MAX\] in milliseconds.*not "abc"/,
      usage: true,
    },
    {
      name: 'consul-env: --wait 0',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--wait', '0', '--', 'true'),
      code: 2,
      stderr: /--wait takes MIN\[:MAX\].*MIN 1 or more.*not "0"/,
      usage: true,
    },
    {
      name: 'consul-env: --wait 500:100 (MAX below MIN)',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--wait', '500:100', '--', 'true'),
      code: 2,
      stderr: /--wait takes MIN\[:MAX\].*MAX at least MIN.*not "500:100"/,
      usage: true,
    },
    {
      name: 'consul-env: --wait 5s (a duration, not ms)',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--wait', '5s', '--', 'true'),
      code: 2,
      stderr: /--wait takes MIN\[:MAX\] in milliseconds, .*such as 500 or 500:2000; not "5s"/,
      usage: true,
    },
    {
      name: 'consul-env: --splay -1',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--splay=-1', '--', 'true'),
      code: 2,
      stderr: /--splay must be milliseconds, not -1: a whole number from 0 to 3600000/,
      usage: true,
    },
    {
      name: 'consul-env: --splay (empty)',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--splay', '', '--', 'true'),
      code: 2,
      stderr: /--splay must be milliseconds, not an empty value/,
      usage: true,
    },
    {
      name: 'consul-env: --max-restarting without --rolling',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--max-restarting', '2', '--', 'true'),
      code: 2,
      stderr: /--max-restarting goes with --rolling KEY/,
      usage: true,
    },
    {
      name: 'consul-env: --session-ttl without --rolling',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--session-ttl', '10000', '--', 'true'),
      code: 2,
      stderr: /--session-ttl goes with --rolling KEY/,
      usage: true,
    },
    {
      name: 'consul-env: --rolling (empty)',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--rolling', '', '--', 'true'),
      code: 2,
      stderr: /--rolling must name the KV prefix of the roll-out semaphore/,
      usage: true,
    },
    {
      name: 'consul-env: --rolling /',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--rolling', '/', '--', 'true'),
      code: 2,
      stderr: /--rolling must name the KV prefix of the roll-out semaphore/,
      usage: true,
    },
    {
      name: 'consul-env: --max-restarting 0',
      cli: 'consul-env',
      args: () =>
        w('--prefix', 'app/', '--rolling', 'r/app', '--max-restarting', '0', '--', 'true'),
      code: 2,
      stderr: /--max-restarting must be a whole number of instances, 1 or more .*got "0"/,
      usage: true,
    },
    {
      name: 'consul-env: --max-restarting 150%',
      cli: 'consul-env',
      args: () =>
        w('--prefix', 'app/', '--rolling', 'r/app', '--max-restarting', '150%', '--', 'true'),
      code: 2,
      stderr:
        /--max-restarting must be .* a percentage of the instances from 1% to 100% .*got "150%"/,
      usage: true,
    },
    {
      name: 'consul-env: --max-restarting 0%',
      cli: 'consul-env',
      args: () =>
        w('--prefix', 'app/', '--rolling', 'r/app', '--max-restarting', '0%', '--', 'true'),
      code: 2,
      stderr: /--max-restarting must be .*got "0%"/,
      usage: true,
    },
    {
      name: 'consul-env: --max-restarting two',
      cli: 'consul-env',
      args: () =>
        w('--prefix', 'app/', '--rolling', 'r/app', '--max-restarting', 'two', '--', 'true'),
      code: 2,
      stderr: /--max-restarting must be .*got "two"/,
      usage: true,
    },
    {
      name: 'consul-env: --session-ttl 5 (below 10)',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--rolling', 'r/app', '--session-ttl', '5', '--', 'true'),
      code: 2,
      stderr: /--session-ttl must be milliseconds, not 5: a whole number from 10/,
      usage: true,
    },
    {
      name: 'consul-env: --ready-url ftp://x',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--ready-url', 'ftp://x', '--', 'true'),
      code: 2,
      stderr: /--ready-url must be an http:\/\/ or https:\/\/ URL .*got "ftp:\/\/x"/,
      usage: true,
    },
    {
      name: 'consul-env: --ready-url without a scheme',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--ready-url', 'localhost:3000/health', '--', 'true'),
      code: 2,
      stderr: /--ready-url must be an http:\/\/ or https:\/\/ URL/,
      usage: true,
    },
    {
      name: 'consul-env: --ready-timeout without --ready-url',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--ready-timeout', '5000', '--', 'true'),
      code: 2,
      stderr: /--ready-timeout goes with --ready-url URL/,
      usage: true,
    },
    {
      name: 'consul-env: --ready-url with --ready-after',
      cli: 'consul-env',
      args: () =>
        w(
          '--prefix',
          'app/',
          '--ready-url',
          'http://127.0.0.1:3000/',
          '--ready-after',
          '100',
          '--',
          'true',
        ),
      code: 2,
      stderr: /give --ready-url or --ready-after, not both/,
      usage: true,
    },
    {
      name: 'consul-env: --ready-after 1.5',
      cli: 'consul-env',
      args: () => w('--prefix', 'app/', '--ready-after', '1.5', '--', 'true'),
      code: 2,
      stderr: /--ready-after must be milliseconds, not 1\.5/,
      usage: true,
    },
    {
      name: 'consul-env: --ready-timeout 0',
      cli: 'consul-env',
      args: () =>
        w(
          '--prefix',
          'app/',
          '--ready-url',
          'http://127.0.0.1:3000/',
          '--ready-timeout',
          '0',
          '--',
          'true',
        ),
      code: 2,
      stderr: /--ready-timeout must be milliseconds, not 0: a whole number from 1/,
      usage: true,
    },
    {
      name: 'consul-env: --once with --wait and --rolling',
      cli: 'consul-env',
      args: () =>
        w('--prefix', 'app/', '--once', '--wait', '500', '--rolling', 'r/app', '--', 'true'),
      code: 2,
      stderr: /--once reads once and never restarts; leave out --wait, --rolling/,
      usage: true,
    },
    // consul-dev
    {
      name: 'consul-dev: unknown flag',
      cli: 'consul-dev',
      args: () => ['--bogus'],
      code: 2,
      stderr: /Unknown option '--bogus'/,
      usage: true,
    },
    {
      name: 'consul-dev: a positional argument',
      cli: 'consul-dev',
      args: () => ['stray'],
      code: 2,
      stderr: /Unexpected argument 'stray'/,
      usage: true,
    },
    {
      name: 'consul-dev: --port abc',
      cli: 'consul-dev',
      args: () => ['--port', 'abc'],
      code: 2,
      stderr: /--port must be a whole number from 0 to 65535, not "abc"/,
    },
    {
      name: 'consul-dev: --port 70000',
      cli: 'consul-dev',
      args: () => ['--port', '70000'],
      code: 2,
      stderr: /--port must be a whole number from 0 to 65535, not "70000"/,
    },
    {
      name: 'consul-dev: --port=-1',
      cli: 'consul-dev',
      args: () => ['--port=-1'],
      code: 2,
      stderr: /--port must be a whole number from 0 to 65535, not "-1"/,
    },
    {
      name: 'consul-dev: --port 1.5',
      cli: 'consul-dev',
      args: () => ['--port', '1.5'],
      code: 2,
      stderr: /--port must be a whole number from 0 to 65535, not "1\.5"/,
    },
    {
      name: 'consul-dev: --tls-cert without --tls-key',
      cli: 'consul-dev',
      args: () => ['--tls-cert', 'cert.pem'],
      code: 2,
      stderr: /--tls-cert and --tls-key go together/,
    },
    {
      name: 'consul-dev: --tls-ca alone',
      cli: 'consul-dev',
      args: () => ['--tls-ca', 'ca.pem'],
      code: 2,
      stderr: /--tls-cert and --tls-key go together/,
    },
    {
      name: 'consul-dev: --tls-cert and --tls-key that do not exist',
      cli: 'consul-dev',
      args: () => ['--tls-cert', '/nonexistent/c.pem', '--tls-key', '/nonexistent/k.pem'],
      code: 2,
      stderr: /--tls-cert \/nonexistent\/c\.pem cannot be read \(ENOENT\)/,
    },
    {
      name: 'consul-dev: --data holding a damaged file',
      cli: 'consul-dev',
      args: () => ['--port', '0', '--data', damaged],
      code: 1,
      stderr: /damaged\.json is not a consul-dev data file: it is not valid JSON/,
    },
    {
      name: 'consul-dev: --host that does not resolve',
      cli: 'consul-dev',
      args: () => ['--port', '0', '--host', 'no such host.invalid'],
      code: 1,
      stderr: /no such host\.invalid/,
    },
    {
      name: "consul-dev: --port ''",
      cli: 'consul-dev',
      args: () => ['--port', ''],
      code: 2,
      stderr: /--port must be a whole number/,
      killOn: /consul-dev listening on/,
    },
    {
      name: 'consul-dev: --data in a directory that does not exist',
      cli: 'consul-dev',
      args: () => ['--port', '0', '--data', `/nonexistent-${RUN}/data.json`],
      code: 2,
      stderr: new RegExp(`/nonexistent-${RUN}/data\\.json`),
      killOn: /ENOENT/,
    },
    // Tokens from a file with the wrong content, against the ACL dev-server.
    {
      name: 'consul-env: a wrong token from --token-file (exit 1, no token printed)',
      cli: 'consul-env',
      args: () => [
        '--http-addr',
        acl.address,
        '--token-file',
        tokenFile,
        '--prefix',
        'known/',
        '--once',
        '--',
        'true',
      ],
      code: 1,
      stderr: /list "known\/": Consul at .* denied the request \(403 ACL not found\)/,
      secrets: [WRONG, RIGHT],
    },
  ];
  // The runs start in the file's beforeAll, a few at a time, so their start-up (about 0.3 s
  // of CPU each) overlaps the in-process tables; each row here judges its run.
  for (const row of rows)
    cliJobs.push({ key: row, start: () => runCli(row.cli, row.args(), {}, 8_000, row.killOn) });
  table(
    rows,
    async (row) => {
      const run = await cliPending.get(row)!;
      expect(run.timedOut, `${row.cli} did not end by itself`).toBe(false);
      expect(run.code, run.stderr).toBe(row.code);
      expect(run.stderr).toMatch(row.stderr);
      if (row.usage) expect(run.stderr).toMatch(USAGE[row.cli]);
      expect(looksLikeCrash(run), run.stderr).toBe(false);
      for (const secret of row.secrets ?? []) {
        expect(run.stderr).not.toContain(secret);
        expect(run.stdout).not.toContain(secret);
      }
    },
    { timeout: 30_000 },
  );
});

describe('CLIs: hostile values at run time', () => {
  it('consul-watch --handler passes shell metacharacters as plain arguments', async () => {
    const hostile = [
      `; touch ${PWNED}`,
      `$(touch ${PWNED})`,
      `| touch ${PWNED}`,
      `\`touch ${PWNED}\``,
    ];
    const run = await runCli('consul-watch', [
      '--http-addr',
      dev.address,
      '--type',
      'key',
      '--key',
      'known/a',
      '--once',
      '--handler',
      process.execPath,
      '--',
      '-e',
      'process.stdout.write(JSON.stringify(process.argv.slice(1)) + "\\n")',
      ...hostile,
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n')[0]!)).toEqual(hostile);
    expect(existsSync(PWNED)).toBe(false);
  });

  it('consul-watch --handler "true; touch …" is a program name: it reports "could not start" and runs nothing', async () => {
    const p = startCli('consul-watch', [
      '--http-addr',
      dev.address,
      '--type',
      'key',
      '--key',
      'known/a',
      '--handler',
      `true; touch ${PWNED}`,
    ]);
    await p.waitFor(/could not start/);
    const run = await p.stop('SIGTERM');
    expect(run.code).toBe(0);
    expect(existsSync(PWNED)).toBe(false);
  });

  it('consul-watch with a wrong token reports 403 and never prints either token', async () => {
    const tokenFile = join(dir, 'watch-token');
    await writeFile(tokenFile, WRONG);
    const p = startCli('consul-watch', [
      '--http-addr',
      acl.address,
      '--token-file',
      tokenFile,
      '--type',
      'keyprefix',
      '--prefix',
      'known/',
    ]);
    await p.waitFor(/denied the request \(403 ACL not found\)/);
    const run = await p.stop('SIGTERM');
    expect(run.code).toBe(0);
    for (const secret of [WRONG, RIGHT]) expect(run.stderr + run.stdout).not.toContain(secret);
  });

  it('consul-dev --acl-token never prints the token', async () => {
    const p = startCli('consul-dev', ['--port', '0', '--acl-token', RIGHT]);
    await p.waitFor(/consul-dev listening on http:\/\/127\.0\.0\.1:\d+ \(.*ACL token required\)/);
    const run = await p.stop('SIGTERM');
    expect(run.code).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(RIGHT);
  });

  it('consul-env survives a value that gains a NUL byte, keeping the program running on the last good environment', async () => {
    const p = `envnul-${RUN}/`;
    const app = join(dir, 'app.mjs');
    await writeFile(
      app,
      `process.on('SIGTERM', () => process.exit(0));
console.log('start ' + JSON.stringify(process.env.PASSWORD));
setInterval(() => {}, 1000);
`,
    );
    await root.kv.put(`${p}password`, 'good');
    const cli = startCli('consul-env', [
      '--http-addr',
      dev.address,
      '--prefix',
      p,
      '--kill-timeout',
      '500',
      '--',
      process.execPath,
      app,
    ]);
    try {
      await cli.waitFor(/start "good"/);
      await root.kv.put(`${p}password`, `bad\u0000${PASSWORD}`);
      const ended = await Promise.race([cli.ended, sleep(1_500).then(() => undefined)]);
      if (ended && looksLikeCrash(ended)) knownCrashes.add(ended);
      expect(ended, `consul-env exited: ${ended?.stderr}`).toBeUndefined();
      expect(cli.stderr).not.toContain(PASSWORD);
    } finally {
      const run = await cli.stop('SIGTERM');
      if (looksLikeCrash(run)) knownCrashes.add(run);
    }
  });
});

// ─── dev-server: HTTP ────────────────────────────────────────────────────────────────────

describe('dev-server: malformed HTTP', () => {
  interface HttpRow extends Row {
    sent: Sent;
    status: number;
    body?: RegExp;
  }
  const json = (value: unknown) => JSON.stringify(value);
  const rows: HttpRow[] = [
    {
      name: 'index=-1',
      sent: { method: 'GET', path: '/v1/kv/known/a?index=-1' },
      status: 400,
      body: /Invalid index: "-1"/,
    },
    {
      name: 'index=abc',
      sent: { method: 'GET', path: '/v1/kv/known/a?index=abc' },
      status: 400,
      body: /Invalid index/,
    },
    {
      name: 'index=""',
      sent: { method: 'GET', path: '/v1/kv/known/a?index=' },
      status: 400,
      body: /Invalid index/,
    },
    {
      name: 'index past 2^64-1',
      sent: { method: 'GET', path: '/v1/kv/known/a?index=18446744073709551616' },
      status: 400,
      body: /is not an unsigned 64-bit integer/,
    },
    {
      name: 'wait=10 (no unit)',
      sent: { method: 'GET', path: '/v1/kv/known/a?wait=10' },
      status: 400,
      body: /Invalid wait time: "10"/,
    },
    {
      name: 'wait=NaNms',
      sent: { method: 'GET', path: '/v1/kv/known/a?wait=NaNms' },
      status: 400,
      body: /Invalid wait time/,
    },
    {
      name: 'wait=.s',
      sent: { method: 'GET', path: '/v1/kv/known/a?wait=.s' },
      status: 400,
      body: /Invalid wait time/,
    },
    {
      name: 'wait far past the cap, no index: answers at once',
      sent: { method: 'GET', path: '/v1/kv/known/a?wait=99999999h' },
      status: 200,
    },
    {
      name: 'stale and consistent',
      sent: { method: 'GET', path: '/v1/kv/known/a?stale&consistent' },
      status: 400,
      body: /conflicting semantics/,
    },
    {
      name: 'put cas=-1',
      sent: { method: 'PUT', path: '/v1/kv/http/cas?cas=-1', body: 'v' },
      status: 400,
      body: /Invalid cas/,
    },
    {
      name: 'put flags=1.5',
      sent: { method: 'PUT', path: '/v1/kv/http/fl?flags=1.5', body: 'v' },
      status: 400,
      body: /Invalid flags/,
    },
    {
      name: 'put flags past 2^64-1',
      sent: { method: 'PUT', path: '/v1/kv/http/fl?flags=18446744073709551616', body: 'v' },
      status: 400,
      body: /Invalid flags/,
    },
    {
      name: 'put cas with acquire',
      sent: { method: 'PUT', path: '/v1/kv/http/c?cas=0&acquire=x', body: 'v' },
      status: 400,
      body: /Conflicting flags/,
    },
    {
      name: 'put Content-Length far past 512 KiB',
      sent: {
        method: 'PUT',
        path: '/v1/kv/http/huge',
        headers: { 'Content-Length': '99999999999', Connection: 'close' },
        body: 'abc',
      },
      status: 413,
      body: /too large, max size: 524288 bytes/,
    },
    {
      name: 'delete cas with recurse',
      sent: { method: 'DELETE', path: '/v1/kv/http/?recurse&cas=1' },
      status: 400,
      body: /cas cannot be used with recurse/,
    },
    {
      name: 'txn: not JSON',
      sent: { method: 'PUT', path: '/v1/txn', body: '{' },
      status: 400,
      body: /Request decode failed/,
    },
    {
      name: 'txn: an object, not a list',
      sent: { method: 'PUT', path: '/v1/txn', body: '{"KV":{}}' },
      status: 400,
      body: /must be a JSON array/,
    },
    {
      name: 'txn: [null]',
      sent: { method: 'PUT', path: '/v1/txn', body: '[null]' },
      status: 400,
      body: /operation 0 must be a JSON object/,
    },
    {
      name: 'txn: unknown verb',
      sent: { method: 'PUT', path: '/v1/txn', body: json([{ KV: { Verb: 'rename', Key: 'a' } }]) },
      status: 400,
      body: /unknown KV verb "rename"/,
    },
    {
      name: "txn: key with a leading '/'",
      sent: {
        method: 'PUT',
        path: '/v1/txn',
        body: json([{ KV: { Verb: 'set', Key: '/etc/passwd' } }]),
      },
      status: 400,
      body: /must not begin with a '\/'/,
    },
    {
      name: 'txn: Key a number',
      sent: { method: 'PUT', path: '/v1/txn', body: json([{ KV: { Verb: 'set', Key: 5 } }]) },
      status: 400,
      body: /Key must be a string/,
    },
    {
      name: 'txn: 129 operations',
      sent: {
        method: 'PUT',
        path: '/v1/txn',
        body: json(
          Array.from({ length: 129 }, (_, i) => ({ KV: { Verb: 'set', Key: `http/t${i}` } })),
        ),
      },
      status: 413,
      body: /too many operations \(129 > 128\)/,
    },
    {
      name: 'txn: a value over 512 KiB',
      sent: {
        method: 'PUT',
        path: '/v1/txn',
        body: json([
          {
            KV: {
              Verb: 'set',
              Key: 'http/big',
              Value: Buffer.alloc(512 * 1024 + 1).toString('base64'),
            },
          },
        ]),
      },
      status: 413,
      body: /over the limit of 524288 bytes/,
    },
    {
      name: 'txn: 20,000 nested arrays',
      sent: { method: 'PUT', path: '/v1/txn', body: '['.repeat(20_000) + ']'.repeat(20_000) },
      status: 400,
    },
    {
      name: 'service register: not JSON',
      sent: { method: 'PUT', path: '/v1/agent/service/register', body: '{' },
      status: 400,
      body: /Request decode failed/,
    },
    {
      name: 'service register: Name a number',
      sent: { method: 'PUT', path: '/v1/agent/service/register', body: '{"Name":5}' },
      status: 400,
    },
    {
      name: 'catalog register: Address a number',
      sent: { method: 'PUT', path: '/v1/catalog/register', body: '{"Node":"n1","Address":5}' },
      status: 400,
    },
    // Traversal: the path is sent exactly as written (node does not normalise it).
    {
      name: 'traversal: /v1/kv/../../etc/passwd',
      sent: { method: 'GET', path: '/v1/kv/../../etc/passwd' },
      status: 404,
    },
    {
      name: 'traversal: encoded ..%2f..%2fetc%2fpasswd',
      sent: { method: 'GET', path: '/v1/kv/%2e%2e%2f%2e%2e%2fetc%2fpasswd' },
      status: 404,
    },
    {
      name: 'traversal: /v1/../v1/kv/known/a',
      sent: { method: 'GET', path: '/v1/../v1/kv/known/a' },
      status: 404,
      body: /Unknown endpoint/,
    },
    {
      name: 'traversal: a PUT to /v1/kv/../escape-http stores that literal key, nothing else',
      sent: { method: 'PUT', path: '/v1/kv/../escape-http', body: 'x' },
      status: 200,
    },
    {
      name: "double slash: /v1/kv//known/a (leading '/')",
      sent: { method: 'GET', path: '/v1/kv//known/a' },
      status: 400,
      body: /must not begin with a '\/'/,
    },
    {
      name: 'bad escape: /v1/kv/%zz',
      sent: { method: 'GET', path: '/v1/kv/%zz' },
      status: 400,
      body: /Invalid URL escape/,
    },
    {
      name: 'truncated escape: /v1/kv/%E0%A4%A',
      sent: { method: 'GET', path: '/v1/kv/%E0%A4%A' },
      status: 400,
      body: /Invalid URL escape/,
    },
    {
      name: 'method: POST /v1/kv/known/a',
      sent: { method: 'POST', path: '/v1/kv/known/a', body: 'x' },
      status: 405,
    },
    { name: 'method: DELETE /v1/txn', sent: { method: 'DELETE', path: '/v1/txn' }, status: 405 },
    {
      name: 'unknown endpoint /v2/kv/x',
      sent: { method: 'GET', path: '/v2/kv/x' },
      status: 404,
      body: /Unknown endpoint/,
    },
    // The one 5xx Consul documents for a request: a datacenter it has no path to.
    {
      name: 'dc=elsewhere',
      sent: { method: 'GET', path: '/v1/kv/known/a?dc=elsewhere' },
      status: 500,
      body: /No path to datacenter "elsewhere"/,
    },
  ];
  table(rows, async (row) => {
    const answer = await httpCall(dev.port, row.sent);
    expect(answer.status, answer.body).toBe(row.status);
    if (row.body) expect(answer.body).toMatch(row.body);
  });
});

// ─── ACL: wrong tokens, typed errors, no token anywhere ──────────────────────────────────

describe('ACL: a dev-server with aclToken', () => {
  interface AclHttpRow extends Row {
    sent: Sent;
    status: number;
    body?: RegExp;
  }
  const rows: AclHttpRow[] = [
    {
      name: 'no token',
      sent: { method: 'GET', path: '/v1/kv/known/a' },
      status: 403,
      body: /^Permission denied$/,
    },
    {
      name: 'wrong X-Consul-Token',
      sent: { method: 'GET', path: '/v1/kv/known/a', headers: { 'X-Consul-Token': WRONG } },
      status: 403,
      body: /^ACL not found$/,
    },
    {
      name: 'wrong Bearer token',
      sent: {
        method: 'GET',
        path: '/v1/kv/known/a',
        headers: { Authorization: `Bearer ${WRONG}` },
      },
      status: 403,
      body: /^ACL not found$/,
    },
    {
      name: 'wrong ?token=',
      sent: { method: 'GET', path: `/v1/kv/known/a?token=${WRONG}` },
      status: 403,
      body: /^ACL not found$/,
    },
    {
      name: 'token "anonymous"',
      sent: { method: 'GET', path: '/v1/kv/known/a', headers: { 'X-Consul-Token': 'anonymous' } },
      status: 403,
    },
    {
      name: 'right token with a prefix of it appended',
      sent: { method: 'GET', path: '/v1/kv/known/a', headers: { 'X-Consul-Token': `${RIGHT}x` } },
      status: 403,
    },
    {
      name: 'right token minus its last character',
      sent: {
        method: 'GET',
        path: '/v1/kv/known/a',
        headers: { 'X-Consul-Token': RIGHT.slice(0, -1) },
      },
      status: 403,
    },
    {
      name: 'traversal to KV from the public status path',
      sent: { method: 'GET', path: '/v1/status/leader/../../kv/known/a' },
      status: 404,
    },
    {
      name: 'traversal to the public status path from KV',
      sent: { method: 'GET', path: '/v1/kv/../status/leader' },
      status: 403,
    },
    {
      name: 'wrong token on a write',
      sent: {
        method: 'PUT',
        path: '/v1/kv/known/a',
        headers: { 'X-Consul-Token': WRONG },
        body: 'overwritten',
      },
      status: 403,
    },
    {
      name: 'wrong token on a txn',
      sent: {
        method: 'PUT',
        path: '/v1/txn',
        headers: { 'X-Consul-Token': WRONG },
        body: '[{"KV":{"Verb":"delete-tree","Key":"known/"}}]',
      },
      status: 403,
    },
    {
      name: 'control: status/leader needs no token',
      sent: { method: 'GET', path: '/v1/status/leader' },
      status: 200,
    },
    {
      name: 'control: the right token reads',
      sent: { method: 'GET', path: '/v1/kv/known/a?raw', headers: { 'X-Consul-Token': RIGHT } },
      status: 200,
      body: /^alpha$/,
    },
  ];
  table(rows, async (row) => {
    const answer = await httpCall(acl.port, row.sent);
    expect(answer.status, answer.body).toBe(row.status);
    if (row.body) expect(answer.body).toMatch(row.body);
    expect(answer.body).not.toContain(WRONG);
    expect(answer.body).not.toContain(RIGHT);
  });

  interface AclCallRow extends Row {
    call: (c: ConsulWatch) => Promise<unknown>;
    names: string;
  }
  const calls: AclCallRow[] = [
    { name: 'kv.getEntry', call: (c) => c.kv.getEntry('known/a'), names: 'get "known/a"' },
    { name: 'kv.get', call: (c) => c.kv.get('known/b.json'), names: 'get "known/b.json"' },
    { name: 'kv.put', call: (c) => c.kv.put('known/a', 'overwritten'), names: 'put "known/a"' },
    {
      name: 'kv.put with cas',
      call: (c) => c.kv.put('known/a', 'x', { cas: 0 }),
      names: 'put "known/a"',
    },
    { name: 'kv.delete', call: (c) => c.kv.delete('known/a'), names: 'delete "known/a"' },
    {
      name: 'kv.delete recurse',
      call: (c) => c.kv.delete('known/', { recurse: true }),
      names: 'delete "known/"',
    },
    { name: 'kv.list', call: (c) => c.kv.list('known/'), names: 'list "known/"' },
    { name: 'kv.keys', call: (c) => c.kv.keys('known/'), names: 'keys "known/"' },
    {
      name: 'kv.txn',
      call: (c) => c.kv.txn([{ verb: 'delete-tree', key: 'known/' }]),
      names: 'txn',
    },
    {
      name: 'register',
      call: (c) => c.register({ name: 'acl-svc', ttlMs: 5_000 }),
      names: 'register service "acl-svc-',
    },
  ];
  describe.each([
    { who: 'a wrong token', token: WRONG },
    { who: 'no token', token: undefined },
  ])('core calls with $who', ({ token }) => {
    table(calls, async (row) => {
      const c = createConsulWatch({ address: acl.address, token, logger, watch: FAST });
      const error = expectTyped(await caught(() => row.call(c)), {
        cls: PermissionDeniedError,
        code: 'PERMISSION_DENIED',
        names: row.names,
        secrets: [WRONG, RIGHT],
      });
      expect(error.message).toMatch(/denied the request \(403 (ACL not found|Permission denied)\)/);
      aclMessages.push(error.message);
    });
  });

  interface AclWatchRow extends Row {
    start: (c: ConsulWatch) => {
      on(event: 'error', listener: (e: ConsulWatchError) => void): unknown;
      ready(timeoutMs: number): Promise<unknown>;
      stop(): Promise<void>;
    };
  }
  const watches: AclWatchRow[] = [
    { name: 'watch key', start: (c) => c.watch({ type: 'key', key: 'known/a' }) },
    { name: 'watch keyprefix', start: (c) => c.watch({ type: 'keyprefix', prefix: 'known/' }) },
    { name: 'watch services', start: (c) => c.watch({ type: 'services' }) },
    { name: 'watch event', start: (c) => c.watch({ type: 'event' }) },
    {
      name: 'watch with the wrong token in its spec, on a right-token client',
      start: () => aclRoot.watch({ type: 'key', key: 'known/a', token: WRONG }),
    },
    {
      name: 'liveConfig',
      start: (c) => {
        const live = c.liveConfig({ layers: ['known/'] });
        return Object.assign(live, { stop: () => live.close() });
      },
    },
  ];
  table(watches, async (row) => {
    const c = createConsulWatch({ address: acl.address, token: WRONG, logger, watch: FAST });
    const w = row.start(c);
    const errors: ConsulWatchError[] = [];
    w.on('error', (e) => errors.push(e));
    try {
      await until(
        () => errors.length > 0,
        3_000,
        () => 'no error event',
      );
      const error = expectTyped(errors[0], {
        cls: PermissionDeniedError,
        code: 'PERMISSION_DENIED',
        names: '403 ACL not found',
        secrets: [WRONG, RIGHT],
      });
      const timeout = expectTyped(await caught(() => w.ready(60)), {
        cls: TimeoutError,
        code: 'TIMEOUT',
        names: '403 ACL not found',
        secrets: [WRONG, RIGHT],
      });
      aclMessages.push(error.message, timeout.message);
    } finally {
      await w.stop();
    }
  });

  it('config-loader: loadConsulEnv with a wrong token → PermissionDeniedError, environment untouched', async () => {
    const env: Record<string, string | undefined> = {};
    const error = expectTyped(
      await caught(() =>
        loadConsulEnv({
          prefix: 'known/',
          connection: { address: acl.address, token: WRONG, logger },
          env,
        }),
      ),
      {
        cls: PermissionDeniedError,
        code: 'PERMISSION_DENIED',
        names: 'list "known/"',
        secrets: [WRONG, RIGHT],
      },
    );
    aclMessages.push(error.message);
    expect(env).toEqual({});
  });

  it('config-loader: watchConsulEnv with a wrong token → error events and a TimeoutError from ready()', async () => {
    const env: Record<string, string | undefined> = {};
    const watch = watchConsulEnv({
      prefix: 'known/',
      connection: { address: acl.address, token: WRONG, logger },
      env,
    });
    const errors: ConsulWatchError[] = [];
    watch.on('error', (e) => errors.push(e));
    try {
      await until(
        () => errors.length > 0,
        3_000,
        () => 'no error event',
      );
      expectTyped(errors[0], { cls: PermissionDeniedError, secrets: [WRONG, RIGHT] });
      const timeout = expectTyped(await caught(() => watch.ready(60)), {
        cls: TimeoutError,
        names: '403 ACL not found',
        secrets: [WRONG, RIGHT],
      });
      aclMessages.push(errors[0]!.message, timeout.message);
      expect(env).toEqual({});
    } finally {
      await watch.stop();
    }
  });

  it('express: consulConfig with a wrong token answers 503 without either token', async () => {
    const middleware = consulConfig({
      connection: { address: acl.address, token: WRONG, logger },
      layers: ['known/'],
      waitForReadyMs: 50,
    });
    const errors: ConsulWatchError[] = [];
    middleware.config.on('error', (e) => errors.push(e));
    const app = express();
    app.use(middleware);
    app.get('/', (req, res) => {
      res.json(req.config);
    });
    const server: Server = app.listen(0, '127.0.0.1');
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const { port } = server.address() as AddressInfo;
      const answer = await httpCall(port, { method: 'GET', path: '/' });
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'config_not_ready' });
      for (const secret of [WRONG, RIGHT]) expect(answer.body).not.toContain(secret);
      await until(
        () => errors.length > 0,
        3_000,
        () => 'no error event',
      );
      expectTyped(errors[0], { cls: PermissionDeniedError, secrets: [WRONG, RIGHT] });
      aclMessages.push(...errors.map((e) => e.message));
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await middleware.close();
    }
  });

  it('nestjs: ConsulModule with a wrong token fails bootstrap with TimeoutError; no token in any Nest log line', async () => {
    const before = nestLines.length;
    const { error, app } = await bootNest([
      ConsulModule.forRoot({
        address: acl.address,
        token: WRONG,
        logger,
        // Long enough for the 403 to be logged before the wait ends, on a loaded machine too.
        config: { prefix: 'known/', readyTimeoutMs: 1_000 },
      }),
    ]);
    await app?.close();
    const e = expectTyped(error, {
      cls: TimeoutError,
      code: 'TIMEOUT',
      names: 'config from known/ not ready within 1000 ms',
      secrets: [WRONG, RIGHT],
    });
    aclMessages.push(e.message);
    const logged = nestLines.slice(before);
    expect(logged.some((l) => l.includes('403 ACL not found'))).toBe(true);
    aclMessages.push(...logged);
  });

  it('control: the right token reads and writes', async () => {
    expect(await aclRoot.kv.getString('known/a')).toBe('alpha');
    expect(await aclRoot.kv.put(`acl-${RUN}/ok`, 'v')).toBe(true);
    expect(await aclRoot.kv.delete(`acl-${RUN}/ok`)).toBe(true);
  });
});

// ─── openfeature: ConsulFlagProvider ─────────────────────────────────────────────────────

describe('openfeature: ConsulFlagProvider options', () => {
  interface FlagRow extends Row {
    options: () => unknown;
    expected: Expected;
  }
  const sourcesNeeded = invalid(/^ConsulFlagProvider sources must be a non-empty array/);
  const timeout = invalid(/^ConsulFlagProvider readyTimeoutMs must be a positive number/);
  const rows: FlagRow[] = [
    {
      name: 'no options at all',
      options: () => undefined,
      expected: invalid('ConsulFlagProvider needs an options object'),
    },
    { name: 'nothing: {}', options: () => ({}), expected: sourcesNeeded },
    { name: 'sources: []', options: () => ({ sources: [] }), expected: sourcesNeeded },
    { name: 'sources: a string', options: () => ({ sources: 'flags/' }), expected: sourcesNeeded },
    {
      name: "sources: ['']",
      options: () => ({ sources: [''] }),
      expected: invalid(/sources\[0\] must be a Consul key .* got ""/),
    },
    {
      name: 'sources: [42]',
      options: () => ({ sources: [42] }),
      expected: invalid(/sources\[0\] must be a Consul key .* got 42/),
    },
    {
      name: "sources: a prefix with a leading '/'",
      options: () => ({ sources: ['/flags/'] }),
      expected: invalid(`sources[0]: prefix "/flags/" must not begin with '/'`),
    },
    {
      name: 'sources: a key with a control character',
      options: () => ({ sources: ['flags/a\u0000.json'] }),
      expected: invalid(/sources\[0\]: key .* contains a control character/),
    },
    {
      name: 'sources: a key of another format (.toml)',
      options: () => ({ sources: ['flags/app.toml'] }),
      expected: invalid(
        /sources\[0\] "flags\/app.toml": .* not .toml; for a prefix end it with '\/'/,
      ),
    },
    {
      name: 'sources: the same key twice',
      options: () => ({ sources: ['flags/a.json', 'flags/a.json'] }),
      expected: invalid('sources lists "flags/a.json" twice'),
    },
    {
      name: "unknown option 'source'",
      options: () => ({ source: ['flags/'] }),
      expected: invalid("ConsulFlagProvider: unknown option 'source': did you mean 'sources'?"),
    },
    {
      name: "unknown option 'readyTimeout'",
      options: () => ({ sources: ['flags/'], readyTimeout: 5 }),
      expected: invalid("unknown option 'readyTimeout': did you mean 'readyTimeoutMs'?"),
    },
    {
      name: 'client: not a ConsulWatch',
      options: () => ({ sources: ['flags/'], client: {} }),
      expected: invalid(/ConsulFlagProvider client must be a ConsulWatch/),
    },
    {
      name: 'client and connection both',
      options: () => ({ sources: ['flags/'], client: root, connection: { address: dev.address } }),
      expected: invalid('ConsulFlagProvider takes client or connection, not both'),
    },
    {
      name: 'connection: a string',
      options: () => ({ sources: ['flags/'], connection: dev.address }),
      expected: invalid(/ConsulFlagProvider connection must be an object/),
    },
    {
      name: 'connection: address with credentials',
      options: () => ({ sources: ['flags/'], connection: { address: `http://x:${PASSWORD}@h:1` } }),
      expected: invalid('address must not carry credentials', [PASSWORD]),
    },
    {
      name: "lastKnownGoodFile: ''",
      options: () => ({ sources: ['flags/'], lastKnownGoodFile: '' }),
      expected: invalid('ConsulFlagProvider lastKnownGoodFile must be a file path, got ""'),
    },
    {
      name: 'lastKnownGoodFile: 5',
      options: () => ({ sources: ['flags/'], lastKnownGoodFile: 5 }),
      expected: invalid('ConsulFlagProvider lastKnownGoodFile must be a file path, got 5'),
    },
    {
      name: 'logger: without methods',
      options: () => ({ sources: ['flags/'], logger: {} }),
      expected: invalid(/ConsulFlagProvider logger must have debug, info, warn and error/),
    },
    {
      name: 'readyTimeoutMs: 0',
      options: () => ({ sources: ['f/'], readyTimeoutMs: 0 }),
      expected: timeout,
    },
    {
      name: 'readyTimeoutMs: -1',
      options: () => ({ sources: ['f/'], readyTimeoutMs: -1 }),
      expected: timeout,
    },
    {
      name: 'readyTimeoutMs: NaN',
      options: () => ({ sources: ['f/'], readyTimeoutMs: Number.NaN }),
      expected: timeout,
    },
    {
      name: 'readyTimeoutMs: "500" (a string)',
      options: () => ({ sources: ['f/'], readyTimeoutMs: '500' }),
      expected: invalid(
        'readyTimeoutMs must be a positive number of milliseconds (default 5000), got "500"',
      ),
    },
  ];
  table(rows, async (row) => {
    const { error, made } = await clientsMadeBy(
      () => new ConsulFlagProvider(row.options() as never),
    );
    expectTyped(error, row.expected);
    expect(made, 'a refused provider starts no client').toEqual([]);
  });
});

describe('openfeature: flag documents in Consul (the last good flags stay)', () => {
  interface DocRow extends Row {
    key: string;
    value: string;
    names: RegExp;
    flag?: string;
  }
  const good = JSON.stringify({
    state: 'ENABLED',
    variants: { on: true, off: false },
    defaultVariant: 'on',
  });
  const rows: DocRow[] = [
    { name: 'a key source: not JSON', key: 'doc.json', value: '{', names: /is not valid JSON/ },
    {
      name: 'a key source: a JSON array',
      key: 'doc.json',
      value: '[]',
      names: /must hold a flagd flag-definition object .* not an array/,
    },
    {
      name: 'a key source: YAML text in a .json key',
      key: 'doc.json',
      value: 'flags: {}',
      names: /is not valid JSON/,
    },
    {
      name: 'a key source: "flags" a string',
      key: 'doc.json',
      value: '{"flags":"x"}',
      names: /"flags" must be an object/,
    },
    {
      name: 'a key source: a flag without variants',
      key: 'doc.json',
      value: '{"flags":{"d":{"state":"ENABLED","defaultVariant":"on"}}}',
      names: /flag "d" .* does not match flagd's flag schema/,
      flag: 'd',
    },
    {
      name: 'a key source: state "ON"',
      key: 'doc.json',
      value: '{"flags":{"d":{"state":"ON","variants":{"on":true},"defaultVariant":"on"}}}',
      names: /flag "d" .* does not match flagd's flag schema at \/state/,
      flag: 'd',
    },
    {
      name: 'a prefix key: a number',
      key: 'app/a',
      value: '42',
      names: /must hold the definition of flag "a" .* not a number/,
      flag: 'a',
    },
    {
      name: 'a prefix $evaluators: an array',
      key: 'app/$evaluators',
      value: '[]',
      names: /must hold an object of evaluators/,
    },
    {
      name: 'a prefix key: a targeting rule with an unknown operator',
      key: 'app/a',
      value: JSON.stringify({ ...JSON.parse(good), targeting: { nope: [1] } }),
      names: /flag "a" .* does not match flagd's flag schema at \/targeting/,
      flag: 'a',
    },
  ];
  table(rows, async (row) => {
    const base = `flags-${RUN}-${randomUUID().slice(0, 8)}/`;
    await root.kv.put(`${base}doc.json`, `{"flags":{"d":${good}}}`);
    await root.kv.put(`${base}app/a`, good);
    const provider = new ConsulFlagProvider({
      sources: [`${base}doc.json`, `${base}app/`],
      client: root,
    });
    try {
      await provider.initialize();
      const reported = new Promise<ConsulWatchError>((resolve) => provider.on('error', resolve));
      await root.kv.put(`${base}${row.key}`, row.value);
      const error = expectTyped(await reported, {
        cls: FlagDocumentError,
        code: 'DECODE_FAILED',
        names: row.names,
      }) as FlagDocumentError;
      expect(error.key).toBe(`${base}${row.key}`);
      expect(error.flag).toBe(row.flag);
      expect((await provider.resolveBooleanEvaluation('d', false, {})).value).toBe(true);
      expect((await provider.resolveBooleanEvaluation('a', false, {})).value).toBe(true);
    } finally {
      await provider.onClose();
    }
  });
});

// ─── afterwards ──────────────────────────────────────────────────────────────────────────

describe('afterwards', () => {
  it('both dev-servers still answer, with nothing left parked by the tables', async () => {
    for (const server of [dev, acl]) {
      const leader = await httpCall(server.port, { method: 'GET', path: '/v1/status/leader' });
      expect(leader.status).toBe(200);
      expect(JSON.parse(leader.body)).toBe('127.0.0.1:8300');
    }
    expect(await root.ping(2_000)).toMatchObject({ leader: '127.0.0.1:8300' });
    expect(await aclRoot.ping(2_000)).toMatchObject({ leader: '127.0.0.1:8300' });
  });

  it('the data written before the tables is intact on both', async () => {
    for (const c of [root, aclRoot]) {
      for (const [key, value] of KNOWN)
        expect((await c.kv.getBuffer(key))?.equals(value), key).toBe(true);
      expect(await c.kv.keys('known/')).toEqual(KNOWN.map(([key]) => key).sort());
    }
  });

  it('no traversal wrote outside its literal key', async () => {
    for (const key of ['escape', 'etc/passwd', 'y', 'encoded', 'escape-http'])
      expect(await root.kv.getEntry(key), key).toBeUndefined();
    expect(await root.kv.getString('../escape-http')).toBe('x');
    expect(existsSync(PWNED)).toBe(false);
  });

  it('no CLI crashed: each ended by itself with 0, 1 or 2, or was stopped by the test', () => {
    expect(cliRuns.length).toBeGreaterThan(40);
    const crashed = cliRuns.filter(
      (r) =>
        !knownCrashes.has(r) &&
        (looksLikeCrash(r) || (!r.timedOut && ![0, 1, 2].includes(r.code ?? -1))),
    );
    expect(
      crashed.map((r) => `${r.name} ${r.args.join(' ')} → ${r.code ?? r.signal}: ${r.stderr}`),
    ).toEqual([]);
  });

  it('no token appeared in any error message, core log line, Nest log line or CLI output', () => {
    expect(aclMessages.length).toBeGreaterThan(20);
    expect(lines.some((l) => l.includes('403 ACL not found'))).toBe(true);
    const everything = [
      ...aclMessages,
      ...lines,
      ...nestLines,
      ...cliRuns.flatMap((r) => [r.stdout, r.stderr]),
    ];
    for (const secret of [RIGHT, WRONG])
      expect(everything.filter((text) => text.includes(secret))).toEqual([]);
  });

  it('Object.prototype was not polluted', () => {
    const probe = {} as Record<string, unknown>;
    expect(probe.isAdmin).toBeUndefined();
    expect(probe.polluted).toBeUndefined();
  });
});
