// node -r @consul-watch/config-loader/register app.js   (or --import for ESM)
// Fills process.env from the Consul prefix in CONSUL_ENV_PREFIX before the app starts, as
// `dotenv/config` does with .env. A CommonJS preload must finish synchronously, so the
// HTTP part runs in a short-lived child process whose answer is applied here.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ConsulEnvResult } from './consulEnv';

const script = fileURLToPath(new URL('./fetchEnv.js', import.meta.url));
let output: string;
try {
  output = execFileSync(process.execPath, [script], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
} catch {
  // The child has said why on stderr.
  process.exit(1);
}
const { parsed } = JSON.parse(output) as ConsulEnvResult;
const override = /^(1|true|yes)$/i.test(process.env.CONSUL_ENV_OVERRIDE ?? '');
for (const [name, value] of Object.entries(parsed)) {
  if (override || process.env[name] === undefined) process.env[name] = value;
}
