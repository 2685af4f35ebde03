import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// `pnpm demo`'s script, as a new user runs it (on the built packages: `pnpm test` builds first).
const script = fileURLToPath(new URL('../../../scripts/demo.mjs', import.meta.url));

function runDemo(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const { CONSUL_HTTP_ADDR: _ignored, ...rest } = process.env;
    const child = spawn(process.execPath, [script, '--once', '--no-build'], {
      env: { ...rest, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('pnpm demo', () => {
  it('lists every URL in one block before it waits', async () => {
    const { code, out } = await runDemo({
      DEMO_CONSUL_PORT: '0',
      PORT: '0',
      NEST_PORT: '0',
      FASTIFY_PORT: '0',
    });
    expect(code).toBe(0);
    const block = out.slice(out.indexOf('demo: everything that runs now:'));
    for (const path of [
      '/api/settings',
      '/flags',
      '/config',
      '/changes',
      '/health',
      '/v1/kv/demo/',
    ])
      expect(block).toContain(path);
    expect(block).toContain('the same page on Fastify');
    // The scripted change on the Fastify page, seen in its request.config.
    expect(out).toContain('"banner":"Hello from Consul, on Fastify"');
    // The scripted change of the NestJS demo's flag document, announced by OpenFeature.
    expect(out).toContain('changed; OpenFeature says: new-checkout');
    expect(out).toMatch(/x-user: demo now answers \{"user":"demo","newCheckout":true/);
    expect(block.indexOf('everything that runs now')).toBeLessThan(block.indexOf('Ctrl-C to stop'));
  }, 60_000);

  it('says in one line which variable to set when a port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const { code, out } = await runDemo({
        DEMO_CONSUL_PORT: '0',
        PORT: String(port),
        NEST_PORT: '0',
        FASTIFY_PORT: '0',
      });
      expect(code).toBe(1);
      expect(out).toContain(
        `demo: port ${port} for the Express demo is taken; set PORT to a free port`,
      );
      expect(out).not.toMatch(/EADDRINUSE|\n\s+at /);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 60_000);
});
