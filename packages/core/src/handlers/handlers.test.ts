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
      /\/hook failed for the change at index 42: answered 400/,
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
