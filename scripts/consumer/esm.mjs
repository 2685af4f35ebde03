// A consumer's ESM program, run against the packed packages installed with npm.
import { loadConsulEnv } from '@consul-watch/config-loader';
import { createConsulWatch } from '@consul-watch/core';
import { startDevServer } from '@consul-watch/dev-server';
import { consulConfig } from '@consul-watch/express';
import { consulConfig as fastifyConfig } from '@consul-watch/fastify';
import { ConsulConfigService, ConsulModule } from '@consul-watch/nestjs';
import { ConsulFlagProvider } from '@consul-watch/openfeature';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { OpenFeature } from '@openfeature/server-sdk';
import express from 'express';
import Fastify from 'fastify';

const check = (ok, what) => {
  if (!ok) throw new Error(`consumer (ESM): ${what}`);
  console.log(`ok  ${what}`);
};

const dev = await startDevServer();
const consul = createConsulWatch({ address: dev.address, prefix: 'consumer' });
try {
  await consul.kv.put('app/greeting', 'hello');
  check(
    (await consul.kv.getString('app/greeting')) === 'hello',
    'core: put and get under a folder prefix',
  );
  const seen = new Promise((resolve) => {
    const watch = consul.watch({ type: 'key', key: 'app/greeting', initial: false }, (change) => {
      resolve(change.changes[0].entry.value.toString());
      void watch.stop();
    });
    void watch.ready(5_000).then(() => consul.kv.put('app/greeting', 'changed'));
  });
  check((await seen) === 'changed', 'core: a key watch sees a change');

  const app = express();
  const middleware = consulConfig({
    layers: ['consumer/app/'],
    connection: { address: dev.address },
    waitForReadyMs: 5_000,
  });
  app.use(middleware);
  app.get('/', (req, res) => res.json(req.config));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const body = await (await fetch(`http://127.0.0.1:${server.address().port}/`)).json();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await middleware.close();
  check(body.greeting === 'changed', 'express: req.config from the live config');

  const fastify = Fastify();
  await fastify.register(fastifyConfig, {
    layers: ['consumer/app/'],
    connection: { address: dev.address },
    waitForReadyMs: 5_000,
  });
  fastify.get('/', async (request) => request.config);
  const fastifyUrl = await fastify.listen({ port: 0, host: '127.0.0.1' });
  const fastifyBody = await (await fetch(fastifyUrl, { headers: { connection: 'close' } })).json();
  await fastify.close();
  check(fastifyBody.greeting === 'changed', 'fastify: request.config from the plugin');

  const env = {};
  await loadConsulEnv({ prefix: 'consumer/app', connection: { address: dev.address }, env });
  check(env.GREETING === 'changed', 'config-loader: process-style env from a prefix');

  const nest = await NestFactory.createApplicationContext(
    ConsulModule.forRoot({ address: dev.address, config: { prefix: 'consumer/app' } }),
    { logger: false },
  );
  check(nest.get(ConsulConfigService).get('greeting') === 'changed', 'nestjs: ConsulConfigService');
  await nest.close();

  await consul.kv.put(
    'flags.json',
    JSON.stringify({
      flags: {
        greet: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
      },
    }),
  );
  await OpenFeature.setProviderAndWait(
    new ConsulFlagProvider({
      sources: ['consumer/flags.json'],
      connection: { address: dev.address },
    }),
  );
  const greet = await OpenFeature.getClient().getBooleanValue('greet', false);
  await OpenFeature.close();
  check(greet === true, 'openfeature: a flag from Consul through the OpenFeature SDK');
} finally {
  await consul.close();
  await dev.close();
}
