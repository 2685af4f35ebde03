import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consulFetch, type Fixture, fixture, record } from '../test/helpers';
import { InvalidInputError } from './errors';

let f: Fixture;
beforeAll(async () => {
  f = await fixture();
});
afterAll(() => f.close());

const unique = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;
const register = (body: unknown) => consulFetch(f.agent, 'PUT', '/v1/agent/service/register', body);
const deregister = (id: string) =>
  consulFetch(f.agent, 'PUT', `/v1/agent/service/deregister/${id}`);

describe('services watch', () => {
  it('delivers added, changed (tags) and removed services', async () => {
    const name = unique('svc');
    const r = record(f.client.watch({ type: 'services' }));
    const first = await r.until((c) => c.initial);
    expect(first.current.map((s) => s.name)).toContain('consul');
    await register({ Name: name, Port: 80, Tags: ['v1'] });
    const added = await r.until((c) => c.added.some((s) => s.name === name));
    expect(added.added).toEqual([{ name, tags: ['v1'] }]);
    await register({ Name: name, Port: 80, Tags: ['v2'] });
    const changed = await r.until((c) => c.changed.some((x) => x.current.name === name));
    expect(changed.changed[0]).toEqual({
      previous: { name, tags: ['v1'] },
      current: { name, tags: ['v2'] },
    });
    await deregister(name);
    const removed = await r.until((c) => c.removed.some((s) => s.name === name));
    expect(removed.current.map((s) => s.name)).not.toContain(name);
  });
});

describe('nodes watch', () => {
  it('delivers a node registered in the catalog and its removal', async () => {
    const node = unique('node');
    const r = record(f.client.watch({ type: 'nodes' }));
    await r.until((c) => c.initial);
    await consulFetch(f.agent, 'PUT', '/v1/catalog/register', { Node: node, Address: '10.1.2.3' });
    const added = await r.until((c) => c.added.some((n) => n.Node === node));
    expect(added.added[0]).toMatchObject({ Node: node, Address: '10.1.2.3' });
    await consulFetch(f.agent, 'PUT', '/v1/catalog/deregister', { Node: node });
    await r.until((c) => c.removed.some((n) => n.Node === node));
  });
});

describe('service watch', () => {
  it('with passingOnly, an instance appears when its check passes and leaves when it fails', async () => {
    const name = unique('web');
    await register({
      Name: name,
      ID: `${name}-1`,
      Port: 8080,
      Tags: ['blue'],
      Check: { TTL: '30s' },
    });
    const r = record(f.client.watch({ type: 'service', service: name, passingOnly: true }));
    const first = await r.until((c) => c.initial);
    expect(first.current).toHaveLength(0); // a TTL check starts critical
    await consulFetch(f.agent, 'PUT', `/v1/agent/check/pass/service:${name}-1`);
    const up = await r.until((c) => c.added.length === 1);
    expect(up.added[0]?.Service).toMatchObject({ ID: `${name}-1`, Port: 8080 });
    await consulFetch(f.agent, 'PUT', `/v1/agent/check/fail/service:${name}-1`);
    await r.until((c) => c.removed.length === 1);
    await deregister(`${name}-1`);
  });

  it('filters by every given tag and reports a check status change as changed', async () => {
    const name = unique('api');
    await register({
      Name: name,
      ID: `${name}-a`,
      Tags: ['v1', 'eu'],
      Check: { TTL: '30s', Status: 'passing' },
    });
    await register({
      Name: name,
      ID: `${name}-b`,
      Tags: ['v1'],
      Check: { TTL: '30s', Status: 'passing' },
    });
    const r = record(f.client.watch({ type: 'service', service: name, tag: ['v1', 'eu'] }));
    const first = await r.until((c) => c.initial);
    expect(first.current.map((e) => e.Service.ID)).toEqual([`${name}-a`]);
    await consulFetch(f.agent, 'PUT', `/v1/agent/check/warn/service:${name}-a`);
    const changed = await r.until((c) => c.changed.length === 1);
    expect(
      changed.changed[0]?.current.Checks.find((c) => c.ServiceID === `${name}-a`)?.Status,
    ).toBe('warning');
    await deregister(`${name}-a`);
    await deregister(`${name}-b`);
  });
});

describe('checks watch', () => {
  it('by service: delivers status changes of that service checks', async () => {
    const name = unique('chk');
    await register({ Name: name, Check: { TTL: '30s' } });
    const r = record(f.client.watch({ type: 'checks', service: name }));
    const first = await r.until((c) => c.initial);
    expect(first.current.map((c) => c.Status)).toEqual(['critical']);
    await consulFetch(f.agent, 'PUT', `/v1/agent/check/pass/service:${name}`);
    const changed = await r.until((c) => c.changed.length > 0);
    expect(changed.changed[0]?.current.Status).toBe('passing');
    await deregister(name);
  });

  it('by state: a check entering the state is added', async () => {
    const name = unique('crit');
    const r = record(f.client.watch({ type: 'checks', state: 'critical' }));
    await r.until((c) => c.initial);
    await register({ Name: name, Check: { TTL: '30s' } });
    await r.until((c) => c.added.some((x) => x.ServiceName === name));
    await deregister(name);
  });

  it('refuses a service and a state together, and neither', () => {
    expect(() => f.client.watch({ type: 'checks', service: 'a', state: 'any' } as never)).toThrow(
      InvalidInputError,
    );
    expect(() => f.client.watch({ type: 'checks' } as never)).toThrow(
      /either a service or a state/,
    );
    expect(() => f.client.watch({ type: 'checks', state: 'bad' } as never)).toThrow(
      /must be any, passing/,
    );
  });
});

describe('watch parameters', () => {
  it('refuses unknown types and missing parameters with a typed error', () => {
    expect(() => f.client.watch({ type: 'nope' } as never)).toThrow(
      /not one of key, keyprefix, services/,
    );
    expect(() => f.client.watch({ type: 'service' } as never)).toThrow(InvalidInputError);
    expect(() => f.client.watch({ type: 'key', key: '' })).toThrow(/key must not be empty/);
    expect(() => f.client.watch({ type: 'keyprefix', prefix: '/abs' })).toThrow(
      /must not begin with/,
    );
    expect(() => f.client.watch({ type: 'services', consistency: 'weird' as never })).toThrow(
      /consistency/,
    );
  });

  it('passes stale and consistent reads through', async () => {
    for (const consistency of ['stale', 'consistent'] as const) {
      const r = record(f.client.watch({ type: 'nodes', consistency }));
      const first = await r.until((c) => c.initial);
      expect(first.current.length).toBeGreaterThan(0);
    }
  });

  it('reports a datacenter the agent cannot reach as an error, without crashing', async () => {
    const watch = f.client.watch({
      type: 'services',
      datacenter: 'nowhere',
      backoff: { baseMs: 10, maxMs: 20 },
    });
    const error = await new Promise<Error>((resolve) => watch.on('error', resolve));
    expect(error.message).toMatch(/services/);
    await watch.stop();
  });
});
