import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsulWatch } from '../src/consulWatch';

// The CLI runs from the build (`pnpm test` builds first).
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const SECRET = 'cli-token-secret';

let dev: DevServer;
let dir: string;
beforeAll(async () => {
  dev = await startDevServer({ aclToken: SECRET });
  dir = await mkdtemp(join(tmpdir(), 'cw-cli-'));
  const client = createConsulWatch({ address: dev.address, token: SECRET });
  await client.kv.put('cli/a', 'one');
  await client.close();
});
afterAll(async () => {
  await dev.close();
  await rm(dir, { recursive: true, force: true });
});

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env: { ...process.env, CONSUL_HTTP_ADDR: '', CONSUL_HTTP_TOKEN: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('consul-watch CLI', () => {
  it('prints the state found at start as a JSON line with --once, reading the token from a file', async () => {
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${SECRET}\n`);
    const result = await run([
      '--type',
      'keyprefix',
      '--prefix',
      'cli/',
      '--http-addr',
      dev.address,
      '--token-file',
      tokenFile,
      '--once',
    ]);
    expect(result.code).toBe(0);
    const line = JSON.parse(result.stdout.trim().split('\n')[0]!);
    expect(line).toMatchObject({
      type: 'keyprefix',
      initial: true,
      entries: [{ key: 'cli/a', value: 'one' }],
    });
    expect(result.stdout + result.stderr).not.toContain(SECRET);
  });

  it('reports a denied token on stderr without printing it', async () => {
    const child = spawn(process.execPath, [cli, '--type', 'nodes', '--http-addr', dev.address], {
      env: { ...process.env, CONSUL_HTTP_TOKEN: 'wrong-cli-token' },
    });
    let stderr = '';
    const denied = new Promise<void>((resolve) =>
      child.stderr.on('data', (c: Buffer) => {
        stderr += c;
        if (stderr.includes('denied')) resolve();
      }),
    );
    await denied;
    const closed = new Promise((resolve) => child.on('close', resolve));
    child.kill('SIGTERM');
    expect(await closed).toBe(0);
    expect(stderr).toContain('ACL not found');
    expect(stderr).not.toContain('wrong-cli-token');
  });

  it('hands the change to a program given after --handler, with its arguments after --', async () => {
    const script = join(dir, 'echo.mjs');
    await writeFile(
      script,
      "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>console.log(process.argv[2], JSON.parse(s).type, process.env.CONSUL_INDEX));\n",
    );
    const result = await run(
      [
        '--type',
        'keyprefix',
        '--prefix',
        'cli/',
        '--http-addr',
        dev.address,
        '--once',
        '--handler',
        process.execPath,
        '--',
        script,
        'tagged',
      ],
      {
        CONSUL_HTTP_TOKEN: SECRET,
      },
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^tagged keyprefix \d+$/m);
  });

  it('hands over only what matches --filter, filtered by Consul', async () => {
    const result = await run(
      [
        '--type',
        'services',
        '--filter',
        'ServiceName == "consul"',
        '--http-addr',
        dev.address,
        '--once',
      ],
      { CONSUL_HTTP_TOKEN: SECRET },
    );
    expect(result.code).toBe(0);
    const line = JSON.parse(result.stdout.trim().split('\n')[0]!);
    expect(line).toMatchObject({ type: 'services', initial: true, current: [{ name: 'consul' }] });
    expect(line.current).toHaveLength(1);
    expect(result.stderr).toContain('watching services filter "ServiceName == \\"consul\\""');
  });

  it('reports a filter Consul cannot parse on stderr and keeps running', async () => {
    const child = spawn(
      process.execPath,
      [cli, '--type', 'nodes', '--filter', 'Node == 1.2.3', '--http-addr', dev.address],
      { env: { ...process.env, CONSUL_HTTP_TOKEN: SECRET } },
    );
    let stderr = '';
    await new Promise<void>((resolve) =>
      child.stderr.on('data', (c: Buffer) => {
        stderr += c;
        if (stderr.includes('Invalid number literal')) resolve();
      }),
    );
    const closed = new Promise((resolve) => child.on('close', resolve));
    child.kill('SIGTERM');
    expect(await closed).toBe(0);
    expect(stderr).toContain(
      'Consul cannot use the filter "Node == 1.2.3": 1:12 (11): rule "number"',
    );
  });

  it('exits 2 with a message naming the problem on bad usage', async () => {
    for (const [args, message] of [
      [[], /--type is required/],
      [
        ['--type', 'checks', '--service', 'a', '--state', 'any', '--http-addr', dev.address],
        /either a service or a state/,
      ],
      [['--type', 'key', '--bogus'], /unknown option --bogus \(see the options below\)/],
      [['--type', 'nodes', '--stale', '--consistent'], /--stale or --consistent/],
      [
        ['--type', 'key', '--key', 'a', '--filter', 'Key == a'],
        /--filter works with --type services, nodes, service or checks, not key/,
      ],
      [
        ['--type', 'nodes', '--filter', ' ', '--http-addr', dev.address],
        /nodes watch: filter must be a non-empty string/,
      ],
    ] as const) {
      const result = await run([...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
    }
  });
});
