// Starts the plain app through consul-env against Consul (the embedded dev-server unless
// CONSUL_HTTP_ADDR is set). consul-env restarts it whenever a key under demo/env/ changes.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConsulWatch } from '@consul-watch/core';
import { startDevServer } from '@consul-watch/dev-server';

export const PREFIX = 'demo/env/';
const SEED = {
  greeting: 'hello from Consul',
  accent_color: 'teal',
  'database/host': 'db.internal',
  database_url: 'postgres://${DATABASE_HOST}:5432/app',
};
const cli = join(
  dirname(createRequire(import.meta.url).resolve('@consul-watch/config-loader/package.json')),
  'dist/cli.js',
);
/** The plain app, run by consul-env. */
export const app = fileURLToPath(new URL('./app.mjs', import.meta.url));

/**
 * Runs `consul-env args…`; `onLine` gets each line it and its program print. Returns the child
 * and a promise of its exit.
 */
export function spawnConsulEnv(args, onLine, env = process.env) {
  const child = spawn(process.execPath, [cli, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const line of lines) if (line) onLine(line);
    });
  }
  return { child, exited: new Promise((resolve) => child.once('exit', resolve)) };
}

/** Starts consul-env with the app; `onLine` gets each line the app and consul-env print. */
export async function startConfigLoaderDemo({
  consulAddress = process.env.CONSUL_HTTP_ADDR,
  onLine = console.log,
} = {}) {
  let dev;
  if (!consulAddress) {
    dev = await startDevServer();
    consulAddress = dev.address;
    onLine(
      `config-loader-demo: no CONSUL_HTTP_ADDR set; started the embedded dev-server at ${dev.url}`,
    );
  }
  const client = createConsulWatch({ address: consulAddress });
  const existing = new Set(await client.kv.keys(PREFIX));
  for (const [key, value] of Object.entries(SEED))
    if (!existing.has(PREFIX + key)) await client.kv.put(PREFIX + key, value);
  await client.close();

  const { child, exited } = spawnConsulEnv(
    [
      '--http-addr',
      consulAddress,
      '--prefix',
      PREFIX,
      '--restart-on-change',
      '--',
      process.execPath,
      app,
    ],
    onLine,
  );
  return {
    consulAddress,
    async close() {
      child.kill('SIGTERM');
      await exited;
      await dev?.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const demo = await startConfigLoaderDemo();
  console.log(`config-loader-demo: change a key and watch the app restart with it, for example:
  curl -X PUT -d 'hi again' http://${demo.consulAddress}/v1/kv/${PREFIX}greeting`);
  const stop = () => void demo.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
