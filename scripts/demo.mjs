// `pnpm demo`: consul-watch on the embedded dev-server (or the agent at CONSUL_HTTP_ADDR).
// It watches demo/, keeps a live config of it, makes a few changes so you can see them
// arrive, then waits for yours. `node scripts/demo.mjs --once` exits after the scripted part.
import { consoleLogger, createConsulWatch } from '../packages/core/dist/index.js';
import { startDevServer } from '../packages/dev-server/dist/index.js';

const once = process.argv.includes('--once');
let dev;
let address = process.env.CONSUL_HTTP_ADDR;
if (!address) {
  dev = await startDevServer({ port: Number(process.env.DEMO_CONSUL_PORT ?? 0) });
  address = dev.address;
  console.log(`demo: no CONSUL_HTTP_ADDR set; started the embedded dev-server at ${dev.url}`);
} else {
  console.log(`demo: using the Consul agent at ${address}`);
}

const consul = createConsulWatch({ address, logger: consoleLogger('demo') });
const watch = consul.watch({ type: 'keyprefix', prefix: 'demo/' }, (change) => {
  for (const c of change.changes) {
    const value = c.op === 'set' ? c.entry.value.toString() : '';
    console.log(
      `watch: ${change.initial ? 'initial' : 'change'} ${c.op} ${c.key}${c.op === 'set' ? ` = ${value}` : ''}`,
    );
  }
});
const config = consul.liveConfig({ layers: ['demo/'], format: 'auto' });
config.on('change', ({ paths }) =>
  console.log(`config: ${paths.join(', ')} changed → ${JSON.stringify(config.snapshot)}`),
);
config.on('error', (error) => console.log(`config: ${error.message}`));

await consul.kv.put('demo/greeting', 'hello');
await consul.kv.put('demo/features/dark-mode', 'false');
console.log(`config: ready → ${JSON.stringify(await config.ready(5_000))}`);

const steps = [
  () => consul.kv.put('demo/features/dark-mode', 'true'),
  () => consul.kv.put('demo/greeting', 'hello, consul-watch'),
  () => consul.kv.put('demo/broken.json', '{not json'),
  () => consul.kv.delete('demo/greeting'),
];
for (const step of steps) {
  const seen = new Promise((resolve) => {
    const off = () => {
      config.off('change', off);
      config.off('error', off);
      resolve();
    };
    config.on('change', off);
    config.on('error', off);
  });
  await step();
  await seen;
}

const stop = async () => {
  await watch.stop();
  await consul.close();
  await dev?.close();
  process.exit(0);
};
if (once) await stop();
console.log(`\ndemo: now change something yourself, for example:
  curl -X PUT -d 42 ${dev?.url ?? `http://${address}`}/v1/kv/demo/answer
Ctrl-C to stop.`);
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
