import { once } from 'node:events';
import { createConsulWatch } from '@consul-watch/core';
import { startTestAgent, type TestAgent } from '@consul-watch/dev-server/testing';
import { ConsulConfigService } from '@consul-watch/nestjs';
import { filter, firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ChangeLog,
  FLAGS_KEY,
  flagDocument,
  type NestDemo,
  PAYMENTS,
  PLATFORMS,
  PREFIX,
  startNestDemo,
} from '../src/app';

let agent: TestAgent;
let demo: NestDemo;

const getJson = async (path: string, user?: string) => {
  const res = await fetch(`${demo.url}${path}`, {
    headers: { connection: 'close', ...(user ? { 'x-user': user } : {}) },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const consulPut = (path: string, body: string | object) =>
  fetch(`${agent.url}${path}`, {
    method: 'PUT',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { connection: 'close' },
  });

/** Resolves once the app's config has taken in a change of `path`. */
const changeOf = (path: string) =>
  firstValueFrom(
    demo.app.get(ConsulConfigService).changes$.pipe(filter((c) => c.paths.includes(path))),
  );

// The same demo, and the same checks, on each HTTP platform; each on an agent of its own.
describe.each(PLATFORMS)('nestjs-demo on %s', (platform) => {
  beforeAll(async () => {
    agent = await startTestAgent();
    demo = await startNestDemo({ consulAddress: agent.address, logger: false, platform });
  });
  afterAll(async () => {
    await demo?.close();
    await agent?.close();
  });

  it('runs on the platform it was asked for', () => {
    expect(demo.platform).toBe(platform);
    expect(demo.app.getHttpAdapter().getType()).toBe(platform);
  });

  it('serves the seeded flags for the user of the request, then the new ones after a change in Consul', async () => {
    expect((await getJson('/flags')).body).toMatchObject({
      user: 'anonymous',
      newCheckout: false,
      darkMode: true,
      requestsPerMinute: 60,
    });
    // new-checkout is targeted by the x-user header; the others get the default.
    expect((await getJson('/flags', 'ann')).body).toMatchObject({
      user: 'ann',
      newCheckout: true,
      why: { newCheckout: 'TARGETING_MATCH' },
    });
    expect((await getJson('/flags', 'cy')).body).toMatchObject({ newCheckout: false });

    // checkout-banner is a 50/50 fractional rollout: each user always gets the same variant,
    // and both variants are given out.
    const banners = new Map<string, unknown>();
    for (let i = 0; i < 30; i++) {
      const user = `user-${i}`;
      const first = (await getJson('/flags', user)).body.checkoutBanner;
      expect((await getJson('/flags', user)).body.checkoutBanner).toBe(first);
      banners.set(user, first);
    }
    expect(new Set(banners.values())).toEqual(new Set(['blue', 'green']));

    const flagsChanged = demo.nextFlagChange();
    await consulPut(`/v1/kv/${FLAGS_KEY}`, flagDocument(['ann', 'cy']));
    expect(await flagsChanged).toEqual(['new-checkout']);
    const limitChanged = changeOf('limits.requests-per-minute');
    await consulPut(`/v1/kv/${PREFIX}limits/requests-per-minute`, '120');
    await limitChanged;
    expect((await getJson('/flags', 'cy')).body).toMatchObject({
      newCheckout: true,
      darkMode: true,
      requestsPerMinute: 120,
    });
    expect((await getJson('/config')).body).toMatchObject({ greeting: 'Hello from Nest' });
  });

  it('logs changes under its prefix and the health of the payments service', async () => {
    const client = createConsulWatch({ address: agent.address });
    const log = demo.app.get(ChangeLog);
    const seenChange = async (text: string) => {
      // The handler logs as the watch delivers; wait for the line, bounded.
      if (!log.entries.some((e) => e.what === text))
        await once(log.events, 'entry', { signal: AbortSignal.timeout(5_000) }).then(() =>
          seenChange(text),
        );
      const entries = (await getJson('/changes')).body as unknown as { what: string }[];
      expect(entries.map((e) => e.what)).toContain(text);
    };
    try {
      // No payments instance yet: said in words, not as "0 of 0".
      await seenChange(
        `${PAYMENTS}: no instance registered (register one with PUT /v1/agent/service/register to see it here)`,
      );
      await client.kv.put(`${PREFIX}greeting`, 'Hi');
      await seenChange(`set ${PREFIX}greeting = Hi`);
      await consulPut('/v1/agent/service/register', {
        Name: PAYMENTS,
        ID: 'payments-1',
        Check: { TTL: '30s' },
      });
      await seenChange(`${PAYMENTS}: 0 of 1 instances passing their health checks`);
      await consulPut('/v1/agent/check/pass/service:payments-1', '');
      await seenChange(`${PAYMENTS}: 1 of 1 instances passing their health checks`);
      await consulPut('/v1/agent/service/deregister/payments-1', '');
    } finally {
      await client.close();
    }
  });

  it('registers itself in Consul and reports its health', async () => {
    const index = (await getJson('/')).body;
    expect(index.registeredAs).toMatch(/^nestjs-demo-/);
    const instances = (await (
      await fetch(`${agent.url}/v1/health/service/nestjs-demo?passing=true`)
    ).json()) as unknown[];
    expect(instances).toHaveLength(1);
    const health = await getJson('/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      consul: { status: 'up', reachable: true, config: { loaded: true } },
    });
  });
});

describe('nestjs-demo platform choice', () => {
  it('takes NEST_PLATFORM when no platform is given, and names the choices for a wrong one', async () => {
    vi.stubEnv('NEST_PLATFORM', 'koa');
    try {
      await expect(startNestDemo({ consulAddress: '127.0.0.1:1', logger: false })).rejects.toThrow(
        'nestjs-demo runs on express or fastify, not "koa"; set NEST_PLATFORM to one of them',
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
