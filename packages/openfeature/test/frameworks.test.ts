import type { AddressInfo } from 'node:net';
import {
  AsyncLocalStorageTransactionContextPropagator,
  OpenFeature,
} from '@openfeature/server-sdk';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulFlagProvider } from '../src';
import { type Fixture, fixture, putCheckoutFlag } from './helpers';

// The README's Express and Fastify examples, as written there: the request's user reaches an
// evaluation deep in the call stack through OpenFeature's transaction context.
let f: Fixture;
beforeAll(async () => {
  f = await fixture();
  await putCheckoutFlag(f.writer, ['ann', 'bo']);
  OpenFeature.setTransactionContextPropagator(new AsyncLocalStorageTransactionContextPropagator());
  await OpenFeature.setProviderAndWait(
    new ConsulFlagProvider({
      sources: ['flags/my-app/'],
      connection: { address: f.dev.address },
    }),
  );
});
afterAll(async () => {
  await OpenFeature.close();
  await f.close();
});

const flags = () => OpenFeature.getClient();
// Deep in the call stack: no request, no context passed by hand.
const checkoutPage = async () =>
  (await flags().getBooleanValue('new-checkout', false)) ? 'new' : 'old';

const get = async (url: string, user: string) =>
  (await fetch(url, { headers: { 'x-user': user, connection: 'close' } })).text();

describe('per-request context through the transaction context', () => {
  it('Express: a middleware sets the user, a handler deep down sees it', async () => {
    const app = express();
    app.use((req, _res, next) => {
      OpenFeature.setTransactionContext({ targetingKey: req.get('x-user') ?? 'anonymous' }, () =>
        next(),
      );
    });
    app.get('/checkout', async (_req, res) => {
      res.send(await checkoutPage());
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/checkout`;
      const answers = await Promise.all(['ann', 'cy', 'bo', 'dee'].map((u) => get(url, u)));
      expect(answers).toEqual(['new', 'old', 'new', 'old']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('Fastify: an onRequest hook sets the user, a handler deep down sees it', async () => {
    const app = Fastify();
    app.addHook('onRequest', (request, _reply, done) => {
      const user = request.headers['x-user'];
      OpenFeature.setTransactionContext(
        { targetingKey: typeof user === 'string' ? user : 'anonymous' },
        done,
      );
    });
    app.get('/checkout', async () => checkoutPage());
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const answers = await Promise.all(
        ['dee', 'bo', 'ann', 'cy'].map((u) => get(`${url}/checkout`, u)),
      );
      expect(answers).toEqual(['old', 'new', 'new', 'old']);
    } finally {
      await app.close();
    }
  });
});
