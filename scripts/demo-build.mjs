// `pnpm demo`, first step: build what the demo runs (not the test-only packages), saying so,
// with turbo's cache making every later start quick.
import { spawnSync } from 'node:child_process';

const started = performance.now();
console.log(
  'demo: building the packages the demo runs (a few seconds; cached after the first time)…',
);
const apps = ['express-demo', 'fastify-demo', 'nestjs-demo', 'config-loader-demo'];
const result = spawnSync(
  'pnpm',
  [
    'exec',
    'turbo',
    'run',
    'build',
    '--output-logs=errors-only',
    ...apps.map((a) => `--filter=@consul-watch/${a}...`),
  ],
  { stdio: 'inherit', env: { ...process.env, CONSUL_WATCH_DEMO_BUILD: '1' } },
);
if (result.status !== 0) {
  console.error(
    `demo: the build failed (exit ${result.status ?? result.signal}); run pnpm build to see why`,
  );
  process.exit(result.status ?? 1);
}
console.log(`demo: built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
