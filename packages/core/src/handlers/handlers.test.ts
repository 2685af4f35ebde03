import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, fixture, record, uniquePrefix } from '../../test/helpers';
import { HandlerError, InvalidInputError } from '../errors';
import type { WatchChange } from '../watchTypes';
import { httpHandler } from './http';
import { scriptHandler } from './script';

let f: Fixture;
let dir: string;
beforeAll(async () => {
  f = await fixture();
  dir = await mkdtemp(join(tmpdir(), 'cw-handlers-'));
  await writeFile(
    join(dir, 'record.mjs'),
    `import { writeFileSync } from 'node:fs';
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  writeFileSync(process.env.OUT, JSON.stringify({ stdin: JSON.parse(input), index: process.env.CONSUL_INDEX, args: process.argv.slice(2) }));
  if (process.env.FAIL) { process.stderr.write('cannot apply config'); process.exit(3); }
});
`,
  );
  await writeFile(join(dir, 'sleep.mjs'), 'setTimeout(() => {}, 30_000);\n');
});
afterAll(async () => {
  await f.close();
  await rm(dir, { recursive: true, force: true });
});

describe('scriptHandler', () => {
  it('runs the program without a shell, with the change on stdin and CONSUL_INDEX set', async () => {
    const prefix = uniquePrefix('script');
    const out = join(dir, 'out-1.json');
    await f.client.kv.put(`${prefix}a`, 'hello');
    const hostile = ['$(touch pwned)', '; rm -rf /', '`id`', '&& echo hi'];
    const handler = scriptHandler({
      command: process.execPath,
      args: [join(dir, 'record.mjs'), ...hostile],
      env: { OUT: out },
    });
    const r = record(f.client.watch({ type: 'keyprefix', prefix }, handler));
    const first = await r.until((c) => c.initial);
    // The handler has returned by the time the next change is delivered; wait for its file.
    await handler(first);
    const got = JSON.parse(await readFile(out, 'utf8'));
    expect(got.args).toEqual(hostile);
    expect(got.index).toBe(first.index);
    expect(got.stdin).toMatchObject({
      type: 'keyprefix',
      initial: true,
      entries: [{ key: `${prefix}a`, value: 'hello' }],
    });
    await expect(readFile(join(process.cwd(), 'pwned'))).rejects.toThrow();
  });

  it('reports a failing program with its exit code and stderr, and the watch goes on', async () => {
    const prefix = uniquePrefix('fail');
    const handler = scriptHandler({
      command: process.execPath,
      args: [join(dir, 'record.mjs')],
      env: { OUT: join(dir, 'out-2.json'), FAIL: '1' },
    });
    const errors: Error[] = [];
    const watch = f.client.watch({ type: 'keyprefix', prefix }, handler);
    const failedTwice = new Promise<void>((resolve) =>
      watch.on('error', (e) => {
        errors.push(e);
        if (errors.length === 2) resolve();
      }),
    );
    await watch.ready(5_000);
    await f.client.kv.put(`${prefix}x`, '1');
    await failedTwice;
    expect(errors[0]).toBeInstanceOf(HandlerError);
    expect(errors[0]?.message).toMatch(/exited with code 3; stderr: cannot apply config/);
    await watch.stop();
  });

  it('kills a program that runs past its timeout', async () => {
    const handler = scriptHandler({
      command: process.execPath,
      args: [join(dir, 'sleep.mjs')],
      timeoutMs: 200,
    });
    const change: WatchChange = {
      type: 'services',
      index: '1',
      initial: true,
      added: [],
      removed: [],
      changed: [],
      current: [],
    };
    await expect(handler(change)).rejects.toThrow(/killed after 200 ms/);
  });

  it('reports a program that does not exist', async () => {
    const handler = scriptHandler({ command: join(dir, 'missing.sh') });
    const change: WatchChange = {
      type: 'nodes',
      index: '1',
      initial: true,
      added: [],
      removed: [],
      changed: [],
      current: [],
    };
    await expect(handler(change)).rejects.toThrow(/could not start: spawn .*ENOENT/);
    expect(() => scriptHandler({ command: '' })).toThrow(InvalidInputError);
  });
});

describe('httpHandler', () => {
  let server: Server;
  let url: string;
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];
  let answers: number[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(answers.shift() ?? 200, { connection: 'close' });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const change: WatchChange = {
    type: 'services',
    index: '42',
    initial: false,
    added: [{ name: 'web', tags: [] }],
    removed: [],
    changed: [],
    current: [{ name: 'web', tags: [] }],
  };

  it('POSTs the change as JSON with the given headers, retrying 5xx and 429', async () => {
    received.length = 0;
    answers = [503, 429, 200];
    await httpHandler({
      url,
      headers: { authorization: 'Bearer hook-secret' },
      backoff: { baseMs: 1, maxMs: 5 },
    })(change);
    expect(received).toHaveLength(3);
    expect(received[2]?.headers.authorization).toBe('Bearer hook-secret');
    expect(received[2]?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(received[2]!.body)).toMatchObject({
      type: 'services',
      index: '42',
      added: [{ name: 'web' }],
    });
  });

  it('does not retry a 4xx, and its error names the URL but no header', async () => {
    received.length = 0;
    answers = [400];
    const error = await httpHandler({
      url,
      headers: { authorization: 'Bearer hook-secret' },
      backoff: { baseMs: 1 },
    })(change).catch((e: Error) => e);
    expect(received).toHaveLength(1);
    expect(error).toBeInstanceOf(HandlerError);
    expect((error as Error).message).toMatch(
      /^HTTP handler http:\/\/127\.0\.0\.1:\d+ failed for the change at index 42: answered 400/,
    );
    expect((error as Error).message).not.toContain('hook-secret');
  });

  it('gives up after its retries when nothing listens', async () => {
    const error = await httpHandler({
      url: 'http://127.0.0.1:1/x',
      retries: 2,
      backoff: { baseMs: 1, maxMs: 2 },
    })(change).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
    expect(() => httpHandler({ url: 'ftp://x' })).toThrow(InvalidInputError);
  });
});

describe('handler options are checked when the handler is made', () => {
  const SECRET = 'hush-7f3a';
  const change: WatchChange = {
    type: 'nodes',
    index: '5',
    initial: true,
    added: [],
    removed: [],
    changed: [],
    current: [],
  };
  /** The InvalidInputError `make` throws; its message names `names` and holds no secret. */
  function refused(make: () => unknown, names: RegExp): InvalidInputError {
    let error: unknown;
    try {
      make();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    const e = error as InvalidInputError;
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toMatch(names);
    expect(e.message).not.toContain(SECRET);
    return e;
  }
  const node = { command: process.execPath, args: ['-e', ''] };

  it('scriptHandler: a NUL byte in the command, an argument or env, naming where but not the value', () => {
    refused(() => scriptHandler({ command: 'a\0b' }), /command holds a NUL byte/);
    refused(() => scriptHandler({ ...node, args: ['-e', `${SECRET}\0`] }), /args\[1\] holds a NUL/);
    refused(
      () => scriptHandler({ ...node, env: { API_KEY: `${SECRET}\0` } }),
      /env API_KEY holds a NUL byte/,
    );
    refused(() => scriptHandler({ ...node, env: { [`TOKEN=${SECRET}`]: 'x' } }), /"TOKEN"…/);
    refused(() => scriptHandler({ ...node, env: { [`A\0${SECRET}`]: 'x' } }), /variable name/);
    refused(
      () => scriptHandler({ ...node, env: { PORT: 8080 as never } }),
      /env PORT must be a string/,
    );
    refused(() => scriptHandler({ ...node, env: 'A=1' as never }), /env must be an object/);
  });

  it('scriptHandler: timeoutMs, cwd and onStdout', () => {
    for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '5' as never]) {
      refused(() => scriptHandler({ ...node, timeoutMs }), /timeoutMs must be a positive number/);
    }
    refused(() => scriptHandler({ ...node, cwd: '' }), /cwd must be the path of a directory/);
    refused(() => scriptHandler({ ...node, cwd: 5 as never }), /cwd must be the path/);
    refused(() => scriptHandler({ ...node, cwd: 'a\0b' }), /cwd must be the path/);
    refused(
      () => scriptHandler({ ...node, onStdout: 'log' as never }),
      /onStdout must be a function/,
    );
    expect(() =>
      scriptHandler({ ...node, timeoutMs: 1, env: { GONE: undefined as never } }),
    ).not.toThrow();
  });

  it('scriptHandler: a cwd that is missing or a file is named in the HandlerError of each run', async () => {
    const missing = join(dir, 'no-such-dir');
    const handler = scriptHandler({ ...node, cwd: missing });
    const error = await handler(change).catch((e: Error) => e);
    expect(error).toBeInstanceOf(HandlerError);
    expect((error as Error).message).toContain(`its cwd ${missing} does not exist`);
    const file = join(dir, 'sleep.mjs');
    const second = await scriptHandler({ ...node, cwd: file })(change).catch((e: Error) => e);
    expect(second).toBeInstanceOf(HandlerError);
    expect((second as Error).message).toContain(`its cwd ${file} is not a directory`);
    await expect(scriptHandler({ ...node, cwd: dir })(change)).resolves.toBeUndefined();
  });

  it('scriptHandler: an onStdout that throws fails the run instead of crashing the process', async () => {
    const handler = scriptHandler({
      command: process.execPath,
      args: ['-e', 'process.stdout.write("hi")'],
      onStdout: () => {
        throw new Error('sink is full');
      },
    });
    await expect(handler(change)).rejects.toThrow(/onStdout threw: sink is full/);
  });

  it('httpHandler: retries, timeoutMs, method, backoff and tls', () => {
    const url = 'http://127.0.0.1:1/hook';
    for (const retries of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '3' as never]) {
      refused(() => httpHandler({ url, retries }), /retries must be a whole number, 0 or more/);
    }
    for (const timeoutMs of [0, -5, Number.NaN, 2 ** 31]) {
      refused(() => httpHandler({ url, timeoutMs }), /timeoutMs must be a positive number/);
    }
    refused(() => httpHandler({ url, method: 'GET' as never }), /method must be "POST" or "PUT"/);
    refused(() => httpHandler({ url, method: 5 as never }), /method must be/);
    refused(() => httpHandler({ url, backoff: { baseMs: -1 } }), /backoff\.baseMs must be/);
    refused(() => httpHandler({ url, backoff: 5 as never }), /backoff must be an object/);
    refused(() => httpHandler({ url, tls: 'yes' as never }), /tls must be an object/);
    expect(() => httpHandler({ url, retries: 0, method: 'put' as never })).not.toThrow();
  });

  it('httpHandler: headers must be valid names with string values free of CR, LF and control bytes', () => {
    const url = 'http://127.0.0.1:1/hook';
    refused(
      () => httpHandler({ url, headers: { authorization: `Bearer ${SECRET}\r\nX-Evil: 1` } }),
      /header authorization holds a line break/,
    );
    refused(
      () => httpHandler({ url, headers: { authorization: `Bearer ${SECRET}\0` } }),
      /header authorization holds a character not allowed/,
    );
    refused(
      () => httpHandler({ url, headers: { 'x-n': 5 as never } }),
      /header x-n must be a string/,
    );
    refused(
      () => httpHandler({ url, headers: { [`Authorization: Bearer ${SECRET}`]: 'x' } }),
      /not a valid HTTP header name \("Authorization"…\)/,
    );
    refused(() => httpHandler({ url, headers: ['a'] as never }), /headers must be an object/);
  });

  it('httpHandler: a URL never shows its password', () => {
    const e = refused(
      () => httpHandler({ url: `https://hook:${SECRET}@bad host/x?token=${SECRET}` }),
      /httpHandler url "https:\/\/\*\*\*@bad host\/x\?…" is not a valid URL; give/,
    );
    expect(e.message).not.toContain('hook:');
    refused(() => httpHandler({ url: `http://a:${SECRET}/b@bad host` }), /is not a valid URL/);
    refused(() => httpHandler({ url: 5 as never }), /httpHandler url 5 is not a valid URL/);
  });
});

describe('httpHandler sends as configured', () => {
  let server: Server;
  let url: string;
  const seen: { method?: string }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ method: req.method });
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { connection: 'close' });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('retries: 0 makes one attempt, and a lower-case method is sent upper-case', async () => {
    seen.length = 0;
    const change: WatchChange = {
      type: 'nodes',
      index: '9',
      initial: true,
      added: [],
      removed: [],
      changed: [],
      current: [],
    };
    const error = await httpHandler({ url, retries: 0, method: 'put' as never })(change).catch(
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(HandlerError);
    expect((error as Error).message).toMatch(/failed for the change at index 9: answered 503/);
    expect(seen).toEqual([{ method: 'PUT' }]);
  });
});
