// `pnpm demo`: consul-watch on the embedded dev-server (or the agent at CONSUL_HTTP_ADDR).
// It starts the sample apps on one agent — Express and Fastify (a page that updates live), a NestJS API
// with feature flags, and a plain Node program run through consul-env — logs every change under demo/ through a core watch,
// makes a few changes so you see them arrive, then waits for yours. `--once` exits after the scripted part, `--no-build` skips the build (both used by its test).
// One node process from `pnpm demo` on (no `build && run` shell in between), so Ctrl-C reaches
// this process, which closes everything and exits 0. `--no-build` skips the build step.
if (!process.argv.includes('--no-build')) await import('./demo-build.mjs');
const { startConfigLoaderDemo } = await import('../apps/config-loader-demo/src/demo.mjs');
const { startExpressDemo } = await import('../apps/express-demo/dist/app.js');
const { startFastifyDemo } = await import('../apps/fastify-demo/dist/app.js');
const { FLAGS_KEY, flagDocument, startNestDemo } = await import('../apps/nestjs-demo/dist/app.js');
const { consoleLogger, createConsulWatch } = await import('../packages/core/dist/index.js');
const { startDevServer } = await import('../packages/dev-server/dist/index.js');

const once = process.argv.includes('--once');
const started = [];
let express;
let nest;
let envDemo;
let consul;
let dev;
let stopping = false;
/** Closes what has started (the apps, then the client, then the dev-server) and exits 0. */
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await envDemo?.close().catch(() => {});
  await consul?.close().catch(() => {});
  for (const part of started.reverse()) await part.close().catch(() => {});
  process.exit(0);
};
// From the start, so Ctrl-C during the scripted part also ends cleanly.
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
// From the start, so Ctrl-C during the scripted part also ends cleanly.

/**
 * Starts one part on its port. A taken port ends the demo with one line that names the
 * variable to set, instead of a stack trace.
 */
async function onPort(what, variable, port, start) {
  try {
    const part = await start();
    if (part?.close) started.push(part);
    return part;
  } catch (error) {
    if (error?.code !== 'EADDRINUSE') throw error;
    console.error(
      `demo: port ${port} for ${what} is taken; set ${variable} to a free port, for example ${variable}=${port + 100} pnpm demo`,
    );
    for (const part of started.reverse()) await part.close().catch(() => {});
    process.exit(1);
  }
}

let address = process.env.CONSUL_HTTP_ADDR;
if (address) console.log(`demo: using the Consul agent at ${address}`);
else if (process.env.DEMO_CONSUL_PORT) {
  const port = Number(process.env.DEMO_CONSUL_PORT);
  dev = await onPort('the embedded Consul dev-server', 'DEMO_CONSUL_PORT', port, () =>
    startDevServer({ port }),
  );
} else {
  // Consul's own port when it is free, so the curl lines below read like Consul's docs.
  dev = await startDevServer({ port: 8500 }).catch((error) =>
    error?.code === 'EADDRINUSE' ? startDevServer({ port: 0 }) : Promise.reject(error),
  );
  started.push(dev);
}
if (dev) {
  address = dev.address;
  console.log(`demo: no CONSUL_HTTP_ADDR set; started the embedded dev-server at ${dev.url}`);
}

consul = createConsulWatch({ address, logger: consoleLogger('demo') });
const watch = consul.watch({ type: 'keyprefix', prefix: 'demo/', initial: false }, (change) => {
  for (const c of change.changes) {
    console.log(`watch: ${c.op} ${c.key}${c.op === 'set' ? ` = ${c.entry.value.toString()}` : ''}`);
  }
});
await watch.ready(5_000);

const expressPort = Number(process.env.PORT ?? 3000);
express = await onPort('the Express demo', 'PORT', expressPort, () =>
  startExpressDemo({
    consulAddress: address,
    port: expressPort,
    logger: consoleLogger('express-demo'),
  }),
);
console.log(
  `demo: the live settings page is at ${express.url} (JSON at ${express.url}/api/settings)`,
);

const fastifyPort = Number(process.env.FASTIFY_PORT ?? 3002);
const fastify = await onPort('the Fastify demo', 'FASTIFY_PORT', fastifyPort, () =>
  startFastifyDemo({
    consulAddress: address,
    port: fastifyPort,
    logger: consoleLogger('fastify-demo'),
  }),
);
console.log(`demo: the same page on Fastify is at ${fastify.url}`);

// Nest's own start-up lines are left out; its change handlers and registration are shown.
const nestLines = new Set(['ChangeLog', 'ConsulRegistration', 'OnConsulChange', 'ConsulConfig']);
const nestLog = (print) => (message, context) => {
  if (nestLines.has(context) || print !== console.log) print(`nestjs-demo: ${message}`);
};
const nestPort = Number(process.env.NEST_PORT ?? 3001);
nest = await onPort('the NestJS demo', 'NEST_PORT', nestPort, () =>
  startNestDemo({
    consulAddress: address,
    port: nestPort,
    // This script handles Ctrl-C for all the apps and exits 0; Nest's hooks would re-raise it.
    shutdownHooks: false,
    logger: {
      log: nestLog(console.log),
      warn: nestLog(console.warn),
      error: nestLog(console.error),
    },
  }),
);
console.log(
  `demo: the NestJS API is at ${nest.url}, on ${nest.platform} (feature flags at ${nest.url}/flags)`,
);

let restarted;
let envUrl = '(see its "listening on" line)';
let listening;
let sawRestart = false;
const envListeningAgain = new Promise((resolve) => {
  listening = resolve;
});
const envRestarted = new Promise((resolve) => {
  restarted = resolve;
});
envDemo = await startConfigLoaderDemo({
  consulAddress: address,
  onLine: (line) => {
    console.log(line);
    const url = /listening on (http:\/\/\S+)/.exec(line)?.[1];
    if (url) envUrl = url;
    if (url && sawRestart) listening();
    if (line.includes('started with') && line.includes('hi from the demo')) {
      sawRestart = true;
      restarted();
    }
  },
});

const settings = async () => (await fetch(`${express.url}/api/settings`)).json();
const steps = [
  ['demo/express/site/banner', 'Hello from Consul'],
  ['demo/express/features/beta', 'true'],
  ['demo/express/ui/theme', 'dark'],
];
/** Writes `key` and resolves once the live config `config` has taken in the change of `path`. */
async function change(config, path, key, value) {
  const seen = new Promise((resolve) => {
    const listener = ({ paths }) => {
      if (!paths.includes(path)) return;
      config.off('change', listener);
      resolve();
    };
    config.on('change', listener);
  });
  await consul.kv.put(key, value);
  await seen;
}
for (const [key, value] of steps)
  await change(express.config, key.slice('demo/express/'.length).replaceAll('/', '.'), key, value);
await change(
  fastify.config,
  'site.banner',
  'demo/fastify/site/banner',
  'Hello from Consul, on Fastify',
);
{
  // new-checkout for one more user: the flag document changes, the provider says which flag did.
  const flagsChanged = nest.nextFlagChange();
  await consul.kv.put(FLAGS_KEY, flagDocument(['ann', 'demo']));
  console.log(`demo: ${FLAGS_KEY} changed; OpenFeature says: ${(await flagsChanged).join(', ')}`);
  const flagsOf = async (user) =>
    JSON.stringify(
      await (await fetch(`${nest.url}/flags`, { headers: { 'x-user': user } })).json(),
    );
  console.log(`demo: ${nest.url}/flags for x-user: demo now answers ${await flagsOf('demo')}`);
  console.log(`demo: ${nest.url}/flags for x-user: zoe answers ${await flagsOf('zoe')}`);
}
await consul.kv.put('demo/env/greeting', 'hi from the demo');
await envRestarted;
console.log(`demo: ${express.url}/api/settings now answers ${JSON.stringify(await settings())}`);
console.log(
  `demo: ${fastify.url}/api/settings now answers ${JSON.stringify(await (await fetch(`${fastify.url}/api/settings`)).json())}`,
);

// The restarted plain app says where it listens a moment after it starts.
await Promise.race([envListeningAgain, new Promise((resolve) => setTimeout(resolve, 3_000))]);
const urls = [
  [express.url, 'the Express page (updates live)'],
  [`${express.url}/api/settings`, 'its settings as JSON'],
  [fastify.url, 'the same page on Fastify (@consul-watch/fastify)'],
  [`${fastify.url}/api/settings`, 'its settings as JSON, from request.config'],
  [`${nest.url}/flags`, 'NestJS: feature flags through OpenFeature (send x-user: ann)'],
  [`${nest.url}/config`, 'NestJS: the whole config'],
  [`${nest.url}/changes`, 'NestJS: what its @OnConsulChange handlers saw'],
  [`${nest.url}/health`, 'NestJS: Consul health, terminus-style'],
  [envUrl, 'the plain Node app consul-env runs (a new port after each restart)'],
  [`http://${address}/v1/kv/demo/?recurse`, "Consul's KV under demo/"],
];
console.log(`
demo: everything that runs now:
${urls.map(([url, what]) => `  ${url.padEnd(44)} ${what}`).join('\n')}

demo: open ${express.url} and change something yourself, for example:
  curl -X PUT -d 'Changed with curl' http://${address}/v1/kv/demo/express/site/banner
  curl -X PUT -d light http://${address}/v1/kv/demo/express/ui/theme
  curl -X PUT -d dark http://${address}/v1/kv/demo/fastify/ui/theme   (then look at ${fastify.url})
  curl -H 'x-user: ann' ${nest.url}/flags   (new-checkout on for ann; checkout-banner 50/50 by user)
  curl http://${address}/v1/kv/${FLAGS_KEY}?raw > flags.json   (edit it, then put it back:)
  curl -X PUT --data-binary @flags.json http://${address}/v1/kv/${FLAGS_KEY}
  curl -X PUT -d 'hello again' http://${address}/v1/kv/demo/env/greeting   (consul-env restarts the plain app)
Ctrl-C to stop.`);
if (once) await stop();
