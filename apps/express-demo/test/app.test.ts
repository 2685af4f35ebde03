import { silentLogger } from '@consul-watch/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExpressDemo, PREFIX, startExpressDemo } from '../src/app';

let demo: ExpressDemo;
beforeAll(async () => {
  demo = await startExpressDemo({ logger: silentLogger });
});
afterAll(() => demo.close());

const settings = async () =>
  (await fetch(`${demo.url}/api/settings`, { headers: { connection: 'close' } })).json();

describe('express demo', () => {
  it('serves settings from req.config and shows a flag flipped through the KV API on the next request', async () => {
    expect(await settings()).toMatchObject({ title: 'consul-watch demo', beta: false });
    // Flip the flag the way an operator would: a plain PUT to the agent's KV API.
    const put = await fetch(`http://${demo.consulAddress}/v1/kv/${PREFIX}features/beta`, {
      method: 'PUT',
      body: 'true',
      headers: { connection: 'close' },
    });
    expect(await put.json()).toBe(true);
    const deadline = Date.now() + 5_000;
    let beta = false;
    while (!beta && Date.now() < deadline) {
      beta = (await settings()).beta;
    }
    expect(beta).toBe(true);
  });

  it('serves the live page', async () => {
    const res = await fetch(demo.url, { headers: { connection: 'close' } });
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(await res.text()).toContain("new EventSource('/events')");
  });

  it('answers the browser favicon request without a 404', async () => {
    const res = await fetch(`${demo.url}/favicon.ico`, { headers: { connection: 'close' } });
    expect(res.status).toBe(204);
  });
});
