import { spawn } from 'node:child_process';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import { afterEach, describe, expect, it } from 'vitest';

let dev: DevServer | undefined;
afterEach(async () => {
  await dev?.close();
  dev = undefined;
});

/** Runs `body` in a fresh node process on the built package; resolves with the lines it printed. */
function inFreshProcess(body: string): Promise<string[]> {
  const script = `
    const { createRequire } = await import('node:module');
    const { createConsulWatch } = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)});
    // Which of the two optional-at-start-up libraries the process has loaded so far.
    const loaded = () =>
      [...new Set(Object.keys(createRequire(import.meta.url).cache)
        .map((path) => /[\\\\/]node_modules[\\\\/](consul|yaml)[\\\\/]/.exec(path)?.[1])
        .filter(Boolean))].sort().join(',') || 'none';
    ${body}
  `;
  // Another process: the test runner's own module cache holds whatever other tests loaded.
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`exited with ${code}`)),
    );
  });
}

describe('what core loads', () => {
  it('loads neither yaml nor the consul client for JSON and text keys; each on its first use', async () => {
    dev = await startDevServer({ port: 0, host: '127.0.0.1' });
    const lines = await inFreshProcess(`
      const client = createConsulWatch({ address: ${JSON.stringify(dev.address)} });
      await client.kv.put('load/app/a.json', { on: true });
      await client.kv.put('load/app/b', 'text');
      await client.kv.put('load/c.yaml', 'on: true');
      const config = client.liveConfig({ layers: ['load/app/'] });
      await config.ready(5000);
      console.log('config', loaded());
      console.log('yaml value', JSON.stringify(await client.kv.get('load/c.yaml')), loaded());
      client.api;
      console.log('client.api', loaded());
      await client.close();
    `);
    expect(lines).toEqual(['config none', 'yaml value {"on":true} yaml', 'client.api consul,yaml']);
  });
});
