import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Ctrl-C on `pnpm demo`, as a terminal sends it: SIGINT to the whole foreground process
// group (pnpm, any shell it runs the script in, and node).
const root = fileURLToPath(new URL('../../../', import.meta.url));

describe('pnpm demo', () => {
  it('ends with status 0 and no ELIFECYCLE on Ctrl-C', async () => {
    const { CONSUL_HTTP_ADDR: _ignored, ...env } = process.env;
    const child = spawn('pnpm', ['demo', '--no-build'], {
      cwd: root,
      env: { ...env, DEMO_CONSUL_PORT: '0', PORT: '0', NEST_PORT: '0', FASTIFY_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, as a terminal's foreground job
    });
    let out = '';
    const waiting = new Promise<void>((resolve) => {
      const look = (d: Buffer) => {
        out += d;
        if (out.includes('Ctrl-C to stop')) resolve();
      };
      child.stdout.on('data', look);
      child.stderr.on('data', look);
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await waiting;
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(0);
    expect(out).not.toContain('ELIFECYCLE');
  }, 90_000);
});
