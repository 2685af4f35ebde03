import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consulFetch, type Fixture, fixture, record } from '../test/helpers';
import { createConsulWatch } from './consulWatch';
import { InvalidInputError } from './errors';

let f: Fixture;
beforeAll(async () => {
  f = await fixture();
});
afterAll(() => f.close());

const unique = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;

async function checkStatus(checkId: string): Promise<string | undefined> {
  const res = await consulFetch(f.agent, 'GET', '/v1/agent/checks');
  const checks = JSON.parse(res.text) as Record<string, { Status: string }>;
  return checks[checkId]?.Status;
}

describe('register', () => {
  it('registers a service with a passing TTL check, keeps it passing past its TTL, and deregisters on stop', async () => {
    const name = unique('reg');
    const healthy = record(f.client.watch({ type: 'service', service: name, passingOnly: true }));
    await healthy.until((c) => c.initial);
    const registration = await f.client.register({
      name,
      port: 8080,
      tags: ['v1'],
      meta: { build: '42' },
      ttlMs: 1_000,
    });
    expect(registration.checkId).toBe(`service:${registration.id}`);
    const added = await healthy.until((c) => c.added.length === 1);
    expect(added.added[0]).toMatchObject({
      Service: { ID: registration.id, Port: 8080, Tags: ['v1'], Meta: { build: '42' } },
    });
    // Three TTLs: without the heartbeat the check would be critical after the first.
    for (let i = 0; i < 6; i++) {
      await delay(500);
      expect(await checkStatus(registration.checkId)).toBe('passing');
    }
    await registration.report('warning', 'draining');
    expect(await checkStatus(registration.checkId)).toBe('warning');
    await registration.stop();
    await healthy.until((c) => c.removed.length === 1);
    expect(await checkStatus(registration.checkId)).toBeUndefined();
    await registration.stop(); // twice is fine
  });

  it('registers again when the agent forgets the service', async () => {
    const name = unique('reborn');
    const all = record(f.client.watch({ type: 'service', service: name }));
    await all.until((c) => c.initial);
    const registration = await f.client.register({ name, ttlMs: 1_000 });
    await all.until((c) => c.added.length === 1);
    await consulFetch(f.agent, 'PUT', `/v1/agent/service/deregister/${registration.id}`);
    await all.until((c) => c.removed.length === 1);
    const back = await all.until((c) => c.added.length === 1, all.changes.length);
    expect(back.added[0]).toMatchObject({ Service: { ID: registration.id } });
    await registration.stop();
  });

  it('close() deregisters what the client registered', async () => {
    const other = createConsulWatch({ address: f.agent.address });
    const name = unique('closing');
    const registration = await other.register({ name });
    expect(
      JSON.parse((await consulFetch(f.agent, 'GET', `/v1/health/service/${name}`)).text),
    ).toHaveLength(1);
    await other.close();
    expect(
      JSON.parse((await consulFetch(f.agent, 'GET', `/v1/health/service/${name}`)).text),
    ).toEqual([]);
    expect(registration.id.startsWith(`${name}-`)).toBe(true);
  });

  it('a registration still on its way when close() runs is deregistered, not left beating', async () => {
    const other = createConsulWatch({ address: f.agent.address });
    const name = unique('racing');
    const pending = other.register({ name, ttlMs: 1_000 });
    await other.close();
    await expect(pending).rejects.toThrow(/closed while registering/);
    expect(
      JSON.parse((await consulFetch(f.agent, 'GET', `/v1/health/service/${name}`)).text),
    ).toEqual([]);
  });

  it('refuses bad options with errors naming the option', async () => {
    await expect(f.client.register({ name: '' })).rejects.toThrow(InvalidInputError);
    await expect(f.client.register({ name: 'x', port: 70_000 })).rejects.toThrow(/port must be/);
    await expect(f.client.register({ name: 'x', ttlMs: 7e9 })).rejects.toThrow(
      /ttlMs must be from 1000 to 86400000/,
    );
    await expect(f.client.register({ name: 'x', ttlMs: 10 })).rejects.toThrow(
      /ttlMs must be from 1000 to 86400000/,
    );
    await expect(f.client.register({ name: 'x', id: 'a/b' })).rejects.toThrow(/id "a\/b"/);
    await expect(f.client.register({ name: 'x', tags: [1 as never] })).rejects.toThrow(
      /tags must be/,
    );
  });
});

describe('ping', () => {
  it('answers with the leader, and a typed error when Consul is away', async () => {
    const { leader, latencyMs } = await f.client.ping();
    expect(leader).toMatch(/:\d+$/);
    expect(latencyMs).toBeGreaterThan(0);
    const away = createConsulWatch({ address: '127.0.0.1:1' });
    await expect(away.ping(1_000)).rejects.toMatchObject({ code: 'CONSUL_UNAVAILABLE' });
    await away.close();
  });
});
