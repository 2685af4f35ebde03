import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, call, type Sent } from './helpers';

// The CLI runs from the build (`pnpm test` builds first).
const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const fixtures = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const LISTENING = /consul-dev listening on (https?):\/\/127\.0\.0\.1:(\d+)/;

interface Running {
  child: ChildProcessWithoutNullStreams;
  port: number;
  scheme: string;
  output: () => string;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
}

const children = new Set<ChildProcessWithoutNullStreams>();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'consul-dev-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  // A test that failed half-way leaves its children: kill them and wait for each to go.
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  children.clear();
});

function spawnCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...process.env, CONSUL_DEV_ACL_TOKEN: '', ...env },
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c));
  child.stderr.on('data', (c: Buffer) => (stderr += c));
  const closed = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, closed, stdout: () => stdout, stderr: () => stderr };
}

/** Runs the CLI to its end (it must end by itself within 10 s). */
async function run(args: string[], env: Record<string, string> = {}) {
  const p = spawnCli(args, env);
  const code = await p.closed;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** Starts the CLI and resolves once it prints where it listens. */
async function start(args: string[], env: Record<string, string> = {}): Promise<Running> {
  const p = spawnCli(['--port', '0', ...args], env);
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const look = () => {
      const m = LISTENING.exec(p.stdout());
      if (m) {
        p.child.stdout.off('data', look);
        resolve(m);
      }
    };
    p.child.stdout.on('data', look);
    p.closed.then((code) =>
      reject(new Error(`consul-dev exited ${code} before listening:\n${p.stdout()}${p.stderr()}`)),
    );
  });
  return {
    child: p.child,
    scheme: match[1]!,
    port: Number(match[2]),
    output: () => p.stdout() + p.stderr(),
    stop: () => {
      p.child.kill('SIGTERM');
      return p.closed;
    },
  };
}

const http = (port: number, sent: Sent) => call({ port, agent: false }, sent);

describe('consul-dev CLI', () => {
  it('prints where it listens, serves, and exits 0 on SIGTERM', async () => {
    const dev = await start([]);
    expect(dev.scheme).toBe('http');
    expect(dev.port).toBeGreaterThan(0);
    expect(
      (await http(dev.port, { method: 'PUT', path: '/v1/kv/cli/a', body: 'one' })).status,
    ).toBe(200);
    const got = await http(dev.port, { method: 'GET', path: '/v1/kv/cli/a?raw' });
    expect(got.body.toString()).toBe('one');
    expect(await dev.stop()).toBe(0);
  });

  it('exits 0 on SIGTERM or SIGINT sent the moment it announces itself', async () => {
    for (let i = 0; i < 6; i++) {
      const p = spawnCli(['--port', '0']);
      const signal = i % 2 === 0 ? 'SIGTERM' : 'SIGINT';
      p.child.stdout.on('data', () => {
        if (LISTENING.test(p.stdout())) p.child.kill(signal);
      });
      expect(await p.closed, `${signal} #${i}: ${p.stderr()}`).toBe(0);
    }
  });

  it('--help prints the usage and exits 0', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: consul-dev');
    expect(result.stdout).toContain('--acl-token');
  });

  it('exits 2 naming the flag on a bad --port, an unknown flag or half a TLS pair', async () => {
    for (const [args, message] of [
      [['--port', 'abc'], /--port/],
      [['--port', '70000'], /--port/],
      [['--port', '-1'], /--port/],
      [['--bogus'], /--bogus/],
      [['--port'], /--port/],
      [['--tls-cert', join(fixtures, 'server.pem')], /--tls-key/],
      [
        ['--tls-cert', join(dir, 'none.pem'), '--tls-key', join(dir, 'none.pem')],
        /--tls-cert .*none\.pem/,
      ],
    ] as const) {
      const result = await run([...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stdout, args.join(' ')).not.toMatch(LISTENING);
    }
  });

  it('--acl-token: 403 without the token, 200 with it; status stays public', async () => {
    const token = 'cli-flag-secret-41f7';
    const dev = await start(['--acl-token', token]);
    const none = await http(dev.port, { method: 'GET', path: '/v1/agent/self' });
    expect(none.status).toBe(403);
    expect(none.body.toString()).toBe('Permission denied');
    const wrong = await http(dev.port, {
      method: 'GET',
      path: '/v1/agent/self',
      headers: { 'X-Consul-Token': 'nope' },
    });
    expect(wrong.status).toBe(403);
    expect(wrong.body.toString()).toBe('ACL not found');
    const ok = await http(dev.port, {
      method: 'GET',
      path: '/v1/agent/self',
      headers: { 'X-Consul-Token': token },
    });
    expect(ok.status).toBe(200);
    expect((await http(dev.port, { method: 'GET', path: '/v1/status/leader' })).status).toBe(200);
    expect(await dev.stop()).toBe(0);
    expect(dev.output()).not.toContain(token);
  });

  it('CONSUL_DEV_ACL_TOKEN works as well and never shows up in its output', async () => {
    const token = 'cli-env-secret-9c2e';
    const dev = await start([], { CONSUL_DEV_ACL_TOKEN: token });
    expect(dev.output()).toContain('ACL token required');
    expect((await http(dev.port, { method: 'GET', path: '/v1/kv/x' })).status).toBe(403);
    const ok = await http(dev.port, {
      method: 'PUT',
      path: '/v1/kv/x',
      headers: { Authorization: `Bearer ${token}` },
      body: 'v',
    });
    expect(ok.status).toBe(200);
    expect(await dev.stop()).toBe(0);
    expect(dev.output()).not.toContain(token);
  });

  it('--data keeps keys, services and events across a SIGTERM and a restart on the same file', async () => {
    const file = join(dir, 'state.json');
    const first = await start(['--data', file]);
    expect(first.output()).toContain(`data in ${file}`);
    const value = Buffer.from([0, 1, 2, 254, 255, 10, 13]);
    expect(
      (await http(first.port, { method: 'PUT', path: '/v1/kv/app/bin?flags=42', body: value }))
        .status,
    ).toBe(200);
    expect(
      (await http(first.port, { method: 'PUT', path: '/v1/kv/app/text', body: 'héllo' })).status,
    ).toBe(200);
    const reg = await http(first.port, {
      method: 'PUT',
      path: '/v1/agent/service/register',
      body: JSON.stringify({
        Name: 'web',
        ID: 'web-1',
        Port: 8080,
        Tags: ['v1'],
        Check: { TTL: '1h', Status: 'passing' },
      }),
    });
    expect(reg.status).toBe(200);
    const fired = await http(first.port, {
      method: 'PUT',
      path: '/v1/event/fire/deploy',
      body: 'payload',
    });
    expect(fired.status).toBe(200);
    const eventId = JSON.parse(fired.body.toString()).ID as string;
    expect(await first.stop()).toBe(0);
    JSON.parse(await readFile(file, 'utf8'));

    const second = await start(['--data', file]);
    const bin = await http(second.port, { method: 'GET', path: '/v1/kv/app/bin' });
    const [entry] = JSON.parse(bin.body.toString());
    expect(Buffer.from(entry.Value, 'base64').equals(value)).toBe(true);
    expect(entry.Flags).toBe(42);
    expect(
      (await http(second.port, { method: 'GET', path: '/v1/kv/app/text?raw' })).body.toString(),
    ).toBe('héllo');
    const services = JSON.parse(
      (await http(second.port, { method: 'GET', path: '/v1/agent/services' })).body.toString(),
    );
    expect(services['web-1']).toMatchObject({ Service: 'web', Port: 8080, Tags: ['v1'] });
    const health = JSON.parse(
      (await http(second.port, { method: 'GET', path: '/v1/health/service/web' })).body.toString(),
    );
    expect(health).toHaveLength(1);
    expect(health[0].Checks.map((c: { CheckID: string }) => c.CheckID)).toContain('service:web-1');
    const events = JSON.parse(
      (
        await http(second.port, { method: 'GET', path: '/v1/event/list?name=deploy' })
      ).body.toString(),
    );
    expect(events.map((e: { ID: string }) => e.ID)).toEqual([eventId]);
    expect(Buffer.from(events[0].Payload, 'base64').toString()).toBe('payload');
    expect(await second.stop()).toBe(0);
  });

  it('--tls-cert/--tls-key serve HTTPS that verifies against the fixture CA; --tls-ca demands a client certificate', async () => {
    const ca = await readFile(join(fixtures, 'ca.pem'));
    const cert = join(fixtures, 'server.pem');
    const key = join(fixtures, 'server-key.pem');
    const dev = await start(['--tls-cert', cert, '--tls-key', key]);
    expect(dev.scheme).toBe('https');
    const ok = await https(dev.port, { ca });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body.toString())).toBe('127.0.0.1:8300');
    // Without the CA the certificate is not trusted.
    await expect(https(dev.port, {})).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
    expect(await dev.stop()).toBe(0);

    const mutual = await start([
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--tls-ca',
      join(fixtures, 'ca.pem'),
    ]);
    expect(mutual.output()).toContain('TLS with client certificates');
    await expect(https(mutual.port, { ca })).rejects.toThrow();
    const withCert = await https(mutual.port, {
      ca,
      cert: await readFile(join(fixtures, 'client.pem')),
      key: await readFile(join(fixtures, 'client-key.pem')),
    });
    expect(withCert.status).toBe(200);
    expect(await mutual.stop()).toBe(0);
  });
});

function https(port: number, tls: { ca?: Buffer; cert?: Buffer; key?: Buffer }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/v1/status/leader', agent: false, ...tls },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error('no HTTPS answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}
