import { silentLogger } from '@consul-watch/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FastifyDemo, PREFIX, startFastifyDemo } from '../src/app';

let demo: FastifyDemo;
beforeAll(async () => {
  demo = await startFastifyDemo({ logger: silentLogger });
});
afterAll(() => demo.close());

const settings = async () =>
  (await fetch(`${demo.url}/api/settings`, { headers: { connection: 'close' } })).json();

describe('fastify demo', () => {
  it('serves settings from request.config, and the next request after a PUT to the KV API sees it', async () => {
    expect(await settings()).toEqual({
      title: 'consul-watch demo on Fastify',
      banner: 'Change me in Consul',
      theme: 'light',
      beta: false,
    });
    const applied = new Promise<void>((resolve) => {
      const listener = ({ paths }: { paths: string[] }) => {
        if (!paths.includes('features.beta')) return;
        demo.config.off('change', listener);
        resolve();
      };
      demo.config.on('change', listener);
    });
    // Flip the flag the way an operator would: a plain PUT to the agent's KV API.
    const put = await fetch(`http://${demo.consulAddress}/v1/kv/${PREFIX}features/beta`, {
      method: 'PUT',
      body: 'true',
      headers: { connection: 'close' },
    });
    expect(await put.json()).toBe(true);
    await applied;
    expect(await settings()).toMatchObject({ beta: true });
  });

  it('serves the live page and answers the favicon request without a 404', async () => {
    const res = await fetch(demo.url, { headers: { connection: 'close' } });
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(await res.text()).toContain("new EventSource('/events')");
    const icon = await fetch(`${demo.url}/favicon.ico`, { headers: { connection: 'close' } });
    expect(icon.status).toBe(204);
  });

  it('closes everything it started, the embedded dev-server last', async () => {
    const other = await startFastifyDemo({ logger: silentLogger });
    const client = other.app.consul;
    await other.close();
    expect(client.activeQueries).toBe(0);
    await expect(fetch(`http://${other.consulAddress}/v1/status/leader`)).rejects.toThrow();
  });
});
