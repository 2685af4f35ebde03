import { InvalidInputError } from '@consul-watch/core';
import {
  type ConfigSourceOptions,
  describeValue,
  openConfigSource,
} from '@consul-watch/core/internal';
import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { endStreams, isLiveConfigEvents } from './liveConfigEvents';
import type { RequestConfig } from './types';

/** `layers` (and friends) on `client` or `connection`, and `waitForReadyMs`: as the Express middleware takes them. */
export type ConsulConfigOptions<T = RequestConfig> = Omit<ConfigSourceOptions<T>, 'config'>;

const plugin: FastifyPluginCallback<ConsulConfigOptions> = (
  app: FastifyInstance,
  options,
  done,
) => {
  if (options && (options as { config?: unknown }).config !== undefined) {
    done(
      new InvalidInputError(
        `consulConfig makes its own live config on Fastify (app.liveConfig): give layers, and client or connection, instead of config (got ${describeValue((options as { config?: unknown }).config)})`,
      ),
    );
    return;
  }
  for (const name of ['consul', 'liveConfig']) {
    if (app.hasDecorator(name)) {
      done(
        new InvalidInputError(
          `consulConfig cannot decorate app.${name}: it is there already (is the plugin registered twice on this app?)`,
        ),
      );
      return;
    }
  }
  if (app.hasRequestDecorator('config')) {
    done(new InvalidInputError('consulConfig cannot decorate request.config: it is there already'));
    return;
  }
  // Fastify hands its own register options to the plugin with ours: they are Fastify's to read.
  const {
    logLevel: _level,
    logSerializers: _serializers,
    ...ours
  } = (options ?? {}) as Record<string, unknown>;
  if (ours.prefix !== undefined) {
    done(
      new InvalidInputError(
        `consulConfig: prefix is Fastify's route prefix, and this plugin adds no routes; for a folder of keys in Consul give layers, such as { layers: [${JSON.stringify(ours.prefix)}] }`,
      ),
    );
    return;
  }
  let source: ReturnType<typeof openConfigSource<RequestConfig>>;
  try {
    source = openConfigSource<RequestConfig>(
      'consulConfig',
      options === null || typeof options !== 'object' ? options : ours,
      false,
    );
  } catch (error) {
    done(error as Error);
    return;
  }
  const live = source.live;
  app.decorate('consul', source.client!);
  app.decorate('liveConfig', live);
  app.decorateRequest('config', null as never);

  // One property read per request: the snapshot is frozen and replaced whole on a change.
  app.addHook('onRequest', (request, reply, next) => {
    const snapshot = live.snapshot;
    if (snapshot !== undefined) {
      request.config = snapshot;
      next();
      return;
    }
    // An event stream waits for the first config itself; a 503 would end an EventSource for good.
    if (isLiveConfigEvents(request.routeOptions.handler)) {
      next();
      return;
    }
    source.awaitFirst(
      (first) => {
        request.config = first;
        next();
      },
      (body) => {
        reply.code(503).header('Retry-After', '1').send(body);
      },
    );
  });
  app.addHook('preClose', (next) => {
    endStreams(live);
    next();
  });
  app.addHook('onClose', (_app, next) => {
    source.close().then(() => next(), next);
  });
  done();
};

/**
 * Fastify plugin: `request.config` is the live config's current snapshot (no Consul call on the
 * request path), `app.liveConfig` the live config, `app.consul` the client. Before the first
 * config it answers 503 with Retry-After (or waits `waitForReadyMs`); during a Consul outage it
 * keeps serving the last good snapshot. On close it stops what it started, not a given client.
 */
export const consulConfig: FastifyPluginCallback<ConsulConfigOptions<RequestConfig>> = fp(plugin, {
  fastify: '5.x',
  name: '@consul-watch/fastify',
});
