import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consulFetch, type Fixture, fixture, record } from '../test/helpers';
import { type ConsulWatchError, InvalidFilterError, InvalidInputError } from './errors';
import type { Logger } from './logger';

const lines: string[] = [];
const logger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (message) => lines.push(message),
  error: (message) => lines.push(message),
};

let f: Fixture;
beforeAll(async () => {
  f = await fixture({ logger });
});
afterAll(() => f.close());

const unique = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;
const register = (body: unknown) => consulFetch(f.agent, 'PUT', '/v1/agent/service/register', body);
const deregister = (id: string) =>
  consulFetch(f.agent, 'PUT', `/v1/agent/service/deregister/${id}`);

describe('filter on catalog and health watches', () => {
  it('a services watch sees only the services with an instance matching the filter', async () => {
    const name = unique('flt-svc');
    await register({ Name: name, Port: 80, Tags: ['v1'] });
    const r = record(
      f.client.watch({
        type: 'services',
        filter: `ServiceName == "${name}" and ServiceTags contains v2`,
      }),
    );
    expect((await r.until((c) => c.initial)).current).toEqual([]);
    await register({ Name: name, Port: 80, Tags: ['v2'] });
    const added = await r.until((c) => c.added.length > 0);
    expect(added.added).toEqual([{ name, tags: ['v2'] }]);
    await deregister(name);
    await r.until((c) => c.removed.length > 0);
  });

  it('a nodes watch sees only the nodes matching the filter', async () => {
    const rack = unique('rack');
    const node = unique('flt-node');
    const r = record(f.client.watch({ type: 'nodes', filter: `Meta.rack == "${rack}"` }));
    expect((await r.until((c) => c.initial)).current).toEqual([]);
    await consulFetch(f.agent, 'PUT', '/v1/catalog/register', {
      Node: node,
      Address: '10.7.0.1',
      NodeMeta: { rack },
    });
    const added = await r.until((c) => c.added.length > 0);
    expect(added.current.map((n) => n.Node)).toEqual([node]);
    await consulFetch(f.agent, 'PUT', '/v1/catalog/deregister', { Node: node });
    await r.until((c) => c.removed.length > 0);
  });

  it('a service watch delivers an instance when a change makes it match the filter', async () => {
    const name = unique('flt-web');
    await register({ Name: name, ID: `${name}-1`, Meta: { version: '1' } });
    await register({ Name: name, ID: `${name}-2`, Meta: { version: '2' } });
    const r = record(
      f.client.watch({ type: 'service', service: name, filter: 'Service.Meta.version == "2"' }),
    );
    const first = await r.until((c) => c.initial);
    expect(first.current.map((e) => e.Service.ID)).toEqual([`${name}-2`]);
    await register({ Name: name, ID: `${name}-1`, Meta: { version: '2' } });
    const added = await r.until((c) => !c.initial && c.added.length > 0);
    expect(added.added.map((e) => e.Service.ID)).toEqual([`${name}-1`]);
    await deregister(`${name}-1`);
    await deregister(`${name}-2`);
  });

  it('a checks watch sees only the checks matching the filter, by service or by state', async () => {
    const name = unique('flt-chk');
    await register({ Name: name, Check: { TTL: '60s', Status: 'passing' } });
    const byService = record(
      f.client.watch({ type: 'checks', service: name, filter: 'Status == critical' }),
    );
    const byState = record(
      f.client.watch({ type: 'checks', state: 'any', filter: `ServiceName == "${name}"` }),
    );
    expect((await byService.until((c) => c.initial)).current).toEqual([]);
    expect((await byState.until((c) => c.initial)).current.map((c) => c.Status)).toEqual([
      'passing',
    ]);
    await consulFetch(f.agent, 'PUT', `/v1/agent/check/fail/service:${name}`);
    const failed = await byService.until((c) => c.added.length > 0);
    expect(failed.added[0]).toMatchObject({ CheckID: `service:${name}`, Status: 'critical' });
    await byState.until((c) => c.changed.length > 0);
    await deregister(name);
  });
});

describe('filter and shared watches', () => {
  it('watches with different filters run different queries; the same filter shares one', async () => {
    const client = f.client;
    const before = client.activeQueries;
    const a = client.watch({ type: 'nodes', filter: 'Node == a' });
    const b = client.watch({ type: 'nodes', filter: 'Node == b' });
    const a2 = client.watch({ type: 'nodes', filter: 'Node == a' });
    const all = client.watch({ type: 'nodes' });
    expect(client.activeQueries - before).toBe(3);
    await Promise.all([a, b, a2, all].map((w) => w.stop()));
    expect(client.activeQueries).toBe(before);
  });
});

describe('bad filters', () => {
  it.each([
    [
      'an empty string',
      { type: 'services', filter: '' },
      'services watch: filter must be a non-empty string',
    ],
    ['blanks', { type: 'nodes', filter: '  ' }, 'nodes watch: filter must be a non-empty string'],
    [
      'a number',
      { type: 'service', service: 'web', filter: 42 },
      'service "web" watch: filter must be a non-empty string such as \'Service.Meta.version == "2"\', got number',
    ],
    [
      'a filter on a key watch',
      { type: 'key', key: 'a', filter: 'Key == a' },
      'key watch: filter is not supported',
    ],
    [
      'a filter on an event watch',
      { type: 'event', filter: 'Name == deploy' },
      'event watch: filter is not supported',
    ],
  ])('refuses %s up front with InvalidInputError', (_label, spec, message) => {
    expect(() => f.client.watch(spec as never)).toThrow(InvalidInputError);
    expect(() => f.client.watch(spec as never)).toThrow(message);
  });

  it('reports a filter Consul cannot parse as InvalidFilterError, retried slowly, not as an outage', async () => {
    const filter = 'Address == 10.10.10.10';
    const watch = f.client.watch({ type: 'nodes', filter });
    const errors: ConsulWatchError[] = [];
    const failed = new Promise<void>((resolve) =>
      watch.on('error', (error) => {
        errors.push(error);
        resolve();
      }),
    );
    try {
      await failed;
      const error = errors[0]!;
      expect(error).toBeInstanceOf(InvalidFilterError);
      expect(error.code).toBe('INVALID_INPUT');
      expect((error as InvalidFilterError).filter).toBe(filter);
      expect(error.message).toBe(
        `watch nodes filter "Address == 10.10.10.10": Consul cannot use the filter "Address == 10.10.10.10": 1:17 (16): rule "number": Invalid number literal. Fix the expression (see https://developer.hashicorp.com/consul/api-docs/features/filtering); the watch retries slowly meanwhile.`,
      );
      expect(watch.status.state).toBe('failing');
      expect(f.client.availability.available).toBe(true);
      // The 30 s delay kept for errors only the caller can fix, not the fast back-off.
      expect(lines.find((l) => l.includes('Invalid number literal'))).toMatch(
        /retrying every 30 s or so/,
      );
    } finally {
      await watch.stop();
    }
  });
});
