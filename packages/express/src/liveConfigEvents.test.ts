import { get as httpGet, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createConsulWatch } from '@consul-watch/core';
import { startTestAgent, type TestAgent } from '@consul-watch/dev-server/testing';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consulConfig } from './consulConfig';
import { liveConfigEvents } from './liveConfigEvents';

let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent();
});
afterAll(() => agent.close());

/** Reads `event: config` messages from an SSE response as they come. */
function events(res: IncomingMessage) {
  const received: unknown[] = [];
  const waiters = new Set<() => void>();
  let buffer = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffer += chunk;
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (block.includes('event: config') && data) received.push(JSON.parse(data.slice(6)));
      end = buffer.indexOf('\n\n');
    }
    for (const w of [...waiters]) w();
  });
  return {
    received,
    count(n: number): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${received.length} of ${n} events`)),
          5_000,
        );
        const check = () => {
          if (received.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

describe('liveConfigEvents', () => {
  it('pushes the exposed paths, only them, and only when they change', async () => {
    const prefix = `cw-sse/${Math.random().toString(36).slice(2, 8)}/`;
    const client = createConsulWatch({ address: agent.address });
    await client.kv.put(`${prefix}features/beta`, 'off');
    await client.kv.put(`${prefix}ui/theme`, 'light');
    await client.kv.put(`${prefix}db/password`, 'hunter2');
    const middleware = consulConfig({ client, layers: [prefix] });
    await middleware.config.ready(5_000);
    const sse = liveConfigEvents(middleware, { expose: ['features', 'ui.theme'] });
    const app = express();
    app.get('/events', sse);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as AddressInfo).port;
    const res = await new Promise<IncomingMessage>((resolve) =>
      httpGet(`http://127.0.0.1:${port}/events`, resolve),
    );
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const stream = events(res);
    await stream.count(1);
    expect(stream.received[0]).toEqual({ features: { beta: 'off' }, ui: { theme: 'light' } });
    expect(sse.connections).toBe(1);

    await client.kv.put(`${prefix}db/password`, 'hunter3'); // not exposed: nothing sent
    await client.kv.put(`${prefix}features/beta`, 'on');
    await stream.count(2);
    expect(stream.received).toHaveLength(2);
    expect(stream.received[1]).toEqual({ features: { beta: 'on' }, ui: { theme: 'light' } });
    expect(JSON.stringify(stream.received)).not.toContain('hunter');

    const ended = new Promise((resolve) => res.on('end', resolve));
    sse.close();
    await ended;
    expect(sse.connections).toBe(0);
    await new Promise((resolve) => server.close(resolve));
    await middleware.close();
    await client.close();
  });

  it('refuses an empty or malformed allow-list', async () => {
    const client = createConsulWatch({ address: agent.address });
    const middleware = consulConfig({ client, layers: ['x/'] });
    expect(() => liveConfigEvents(middleware, { expose: [] })).toThrow(
      /non-empty list of dot paths/,
    );
    expect(() => liveConfigEvents(middleware, { expose: ['a.'] })).toThrow(/dot paths/);
    await middleware.close();
    await client.close();
  });
});
