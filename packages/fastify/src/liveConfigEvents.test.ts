import { get as httpGet, type IncomingMessage } from 'node:http';
import { createConsulWatch, InvalidInputError } from '@consul-watch/core';
import { startTestAgent, type TestAgent } from '@consul-watch/dev-server/testing';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consulConfig } from './consulConfig';
import { liveConfigEvents } from './liveConfigEvents';

let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent();
});
afterAll(() => agent.close());

/** The `event: config` messages of an event stream, in order, as they arrive. */
async function* configMessages(res: IncomingMessage): AsyncGenerator<unknown> {
  let pending = '';
  res.setEncoding('utf8');
  for await (const chunk of res) {
    pending += chunk;
    const blocks = pending.split('\n\n');
    pending = blocks.pop() ?? '';
    for (const block of blocks) {
      const lines = block.split('\n');
      const data = lines.find((line) => line.startsWith('data: '));
      if (lines.includes('event: config') && data) yield JSON.parse(data.slice('data: '.length));
    }
  }
}

/** The next message, or a failure naming what was awaited. */
async function next(messages: AsyncGenerator<unknown>, what: string): Promise<unknown> {
  const { value, done } = await messages.next();
  if (done) throw new Error(`the stream ended before ${what}`);
  return value;
}

const open = (url: string) =>
  new Promise<IncomingMessage>((resolve, reject) => httpGet(url, resolve).on('error', reject));

describe('liveConfigEvents on Fastify', () => {
  it('pushes the exposed paths, only them and only when they change, with headers set by earlier hooks, and app.close() ends the stream', async () => {
    const prefix = `cw-fastify-sse/${Math.random().toString(36).slice(2, 8)}/`;
    const client = createConsulWatch({ address: agent.address });
    await client.kv.put(`${prefix}features/beta`, 'off');
    await client.kv.put(`${prefix}ui/theme`, 'light');
    await client.kv.put(`${prefix}db/password`, 'hunter2');
    const app = Fastify();
    await app.register(consulConfig, { client, layers: [prefix] });
    const sse = liveConfigEvents({ expose: ['features', 'ui.theme'] });
    // A header an earlier hook sets (as @fastify/cors does) goes out with the stream's own.
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('access-control-allow-origin', 'https://example.test');
    });
    app.get('/events', sse);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    await app.liveConfig.ready(5_000);
    const res = await open(`${url}/events`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.headers['access-control-allow-origin']).toBe('https://example.test');
    const messages = configMessages(res);
    expect(await next(messages, 'the config at connect')).toEqual({
      features: { beta: 'off' },
      ui: { theme: 'light' },
    });
    expect(sse.connections).toBe(1);

    await client.kv.put(`${prefix}db/password`, 'hunter3'); // not exposed: nothing sent
    await client.kv.put(`${prefix}features/beta`, 'on');
    // The very next message is the flag's: the password change sent none.
    expect(await next(messages, 'the flag change')).toEqual({
      features: { beta: 'on' },
      ui: { theme: 'light' },
    });

    // An open stream would hold server.close() forever; the plugin ends it first.
    await app.close();
    expect((await messages.next()).done).toBe(true);
    expect(sse.connections).toBe(0);
    expect(client.activeQueries).toBe(0);
    await client.close();
  });

  it('opens the stream before the first config instead of answering 503, which would end an EventSource for good', async () => {
    const app = Fastify();
    await app.register(consulConfig, {
      connection: { address: '127.0.0.1:1' },
      layers: ['x/'],
    });
    app.liveConfig.on('error', () => {});
    const sse = liveConfigEvents({ expose: ['x'] });
    app.get('/events', sse);
    app.get('/other', async () => 'unreachable');
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const other = await fetch(`${url}/other`, { headers: { connection: 'close' } });
    expect(other.status).toBe(503);
    await other.body?.cancel();
    const res = await open(`${url}/events`);
    expect(res.statusCode).toBe(200);
    expect(sse.connections).toBe(1);
    res.resume();
    const ended = new Promise((resolve) => res.on('end', resolve));
    await app.close();
    await ended;
  });

  it('answers 500 when the plugin is not registered, and refuses a malformed allow-list', async () => {
    expect(() => liveConfigEvents({ expose: [] })).toThrow(InvalidInputError);
    expect(() => liveConfigEvents({ expose: ['a.'] })).toThrow(/non-empty list of dot paths/);
    const app = Fastify();
    app.get('/events', liveConfigEvents({ expose: ['a'] }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const res = await fetch(`${url}/events`, { headers: { connection: 'close' } });
    expect(res.status).toBe(500);
    expect(await res.text()).toMatch(/register it on this app first/);
    await app.close();
  });
});
