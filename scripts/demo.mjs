// `pnpm demo`: consul-watch on the embedded dev-server (or the agent at CONSUL_HTTP_ADDR).
// It starts the sample apps on one agent — Express (a page that updates live), a NestJS API
// with feature flags, and a plain Node program run through consul-env — logs every change under demo/ through a core watch,
// makes a few changes so you see them arrive, then waits for yours. `node scripts/demo.mjs --once` exits after the scripted part (used to check it).
import { startConfigLoaderDemo } from '../apps/config-loader-demo/src/demo.mjs';
import { startExpressDemo } from '../apps/express-demo/dist/app.js';
import { startNestDemo } from '../apps/nestjs-demo/dist/app.js';
import { consoleLogger, createConsulWatch } from '../packages/core/dist/index.js';
import { startDevServer } from '../packages/dev-server/dist/index.js';

const once = process.argv.includes('--once');
let dev;
let address = process.env.CONSUL_HTTP_ADDR;
if (address) console.log(`demo: using the Consul agent at ${address}`);
else {
  dev = await startDevServer({ port: Number(process.env.DEMO_CONSUL_PORT ?? 0) });
  address = dev.address;
  console.log(`demo: no CONSUL_HTTP_ADDR set; started the embedded dev-server at ${dev.url}`);
}

const consul = createConsulWatch({ address, logger: consoleLogger('demo') });
const watch = consul.watch({ type: 'keyprefix', prefix: 'demo/', initial: false }, (change) => {
  for (const c of change.changes) {
    console.log(`watch: ${c.op} ${c.key}${c.op === 'set' ? ` = ${c.entry.value.toString()}` : ''}`);
  }
});
await watch.ready(5_000);

const express = await startExpressDemo({
  consulAddress: address,
  port: Number(process.env.PORT ?? 3000),
  logger: consoleLogger('express-demo'),
});
console.log(
  `demo: the live settings page is at ${express.url} (JSON at ${express.url}/api/settings)`,
);

// Nest's own start-up lines are left out; its change handlers and registration are shown.
const nestLines = new Set(['ChangeLog', 'ConsulRegistration', 'OnConsulChange', 'ConsulConfig']);
const nestLog = (print) => (message, context) => {
  if (nestLines.has(context) || print !== console.log) print(`nestjs-demo: ${message}`);
};
const nest = await startNestDemo({
  consulAddress: address,
  port: Number(process.env.NEST_PORT ?? 3001),
  logger: { log: nestLog(console.log), warn: nestLog(console.warn), error: nestLog(console.error) },
});
console.log(`demo: the NestJS API is at ${nest.url} (feature flags at ${nest.url}/flags)`);

let restarted;
const envRestarted = new Promise((resolve) => {
  restarted = resolve;
});
const envDemo = await startConfigLoaderDemo({
  consulAddress: address,
  onLine: (line) => {
    console.log(line);
    if (line.includes('started with') && line.includes('hi from the demo')) restarted();
  },
});

const settings = async () => (await fetch(`${express.url}/api/settings`)).json();
const steps = [
  ['demo/express/site/banner', 'Hello from Consul'],
  ['demo/express/features/beta', 'true'],
  ['demo/express/ui/theme', 'dark'],
];
for (const [key, value] of steps) {
  const path = key.slice('demo/express/'.length).replaceAll('/', '.');
  const seen = new Promise((resolve) => {
    const listener = ({ paths }) => {
      if (!paths.includes(path)) return;
      express.config.off('change', listener);
      resolve();
    };
    express.config.on('change', listener);
  });
  await consul.kv.put(key, value);
  await seen;
}
const flagSeen = new Promise((resolve) => {
  const listener = ({ paths }) => {
    if (!paths.includes('features.new-checkout')) return;
    nest.config.config.off('change', listener);
    resolve();
  };
  nest.config.config.on('change', listener);
});
await consul.kv.put('demo/nest/features/new-checkout', 'true');
await flagSeen;
console.log(
  `demo: ${nest.url}/flags now answers ${JSON.stringify(await (await fetch(`${nest.url}/flags`)).json())}`,
);
await consul.kv.put('demo/env/greeting', 'hi from the demo');
await envRestarted;
console.log(`demo: ${express.url}/api/settings now answers ${JSON.stringify(await settings())}`);

const stop = async () => {
  await express.close();
  await nest.close();
  await envDemo.close();
  await consul.close();
  await dev?.close();
  process.exit(0);
};
if (once) await stop();
console.log(`
demo: open ${express.url} and change something yourself, for example:
  curl -X PUT -d 'Changed with curl' http://${address}/v1/kv/demo/express/site/banner
  curl -X PUT -d light http://${address}/v1/kv/demo/express/ui/theme
  curl -X PUT -d false http://${address}/v1/kv/demo/nest/features/new-checkout   (then GET ${nest.url}/flags)
  curl -X PUT -d 'hello again' http://${address}/v1/kv/demo/env/greeting   (consul-env restarts the plain app)
Ctrl-C to stop.`);
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
