// Consul's `?filter=` on every endpoint that documents it, through the npm `consul` client
// (which passes `filter` as a query parameter), raw HTTP where the answer's status and body
// matter. Against a real agent:
//   CONSUL_HTTP_ADDR=127.0.0.1:8500 pnpm vitest run --project dev-server test/conformance.filter.test.ts
import Consul from 'consul';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAgent, type TestAgent } from '../src/testing';
import { index, type Res, withResponse } from './clientResponse';

let agent: TestAgent;
// biome-ignore lint/suspicious/noExplicitAny: the client's typings omit ctx, index, wait and filter
let consul: any;
const run = Math.random().toString(36).slice(2, 8);
const svc = `flt-${run}`;
const nodeA = `flt-a-${run}`;
const nodeB = `flt-b-${run}`;
const local = `flt-local-${run}`;

/** What a real agent needs to know about an external node: its name, address and meta. */
const register = (body: object) =>
  fetch(`${agent.url}/v1/catalog/register`, { method: 'PUT', body: JSON.stringify(body) });

beforeAll(async () => {
  agent = await startTestAgent();
  consul = new (Consul as unknown as new (o: object) => unknown)({
    host: agent.host,
    port: agent.port,
  });
  for (const [node, zone, version, status, tags] of [
    [nodeA, 'a', '1', 'passing', ['blue']],
    [nodeB, 'b', '2', 'critical', ['green', 'canary']],
  ] as const) {
    const res = await register({
      Node: node,
      Address: zone === 'a' ? '10.9.0.1' : '10.9.0.2',
      NodeMeta: { run, zone },
      Service: { ID: `${svc}-${zone}`, Service: svc, Tags: tags, Port: 80, Meta: { version } },
      Checks: [
        { CheckID: `node-${zone}`, Name: 'node alive', Status: 'passing' },
        { CheckID: `svc-${zone}`, Name: 'svc', Status: status, ServiceID: `${svc}-${zone}` },
      ],
    });
    expect(res.status).toBe(200);
  }
  await consul.agent.service.register({
    name: local,
    id: `${local}-qa`,
    meta: { env: 'qa' },
    check: { ttl: '60s', status: 'passing' },
  });
  await consul.agent.service.register({
    name: local,
    id: `${local}-prod`,
    meta: { env: 'prod' },
    check: { ttl: '60s' },
  });
});

afterAll(async () => {
  for (const node of [nodeA, nodeB])
    await fetch(`${agent.url}/v1/catalog/deregister`, {
      method: 'PUT',
      body: JSON.stringify({ Node: node }),
    }).catch(() => {});
  for (const id of [`${local}-qa`, `${local}-prod`, `${svc}-c`])
    await consul.agent.service.deregister(id).catch(() => {});
  consul.destroy();
  await agent.close();
});

const ids = (checks: { CheckID: string }[]) => checks.map((c) => c.CheckID).sort();

describe('filtered catalog reads', () => {
  it('catalog nodes keeps the nodes the filter matches', async () => {
    const nodes: { Node: string }[] = await consul.catalog.node.list({
      filter: `Meta.run == "${run}" and Meta.zone == b`,
    });
    expect(nodes.map((n) => n.Node)).toEqual([nodeB]);
  });

  it('catalog services filters over instances and lists the names left', async () => {
    const services: Record<string, string[]> = await consul.catalog.service.list({
      filter: `ServiceName == "${svc}" and ServiceTags contains canary`,
    });
    expect(Object.keys(services)).toEqual([svc]);
    expect(services[svc]).toContain('canary');
    expect(
      await consul.catalog.service.list({
        filter: `ServiceName == "${svc}" and NodeMeta.zone == c`,
      }),
    ).toEqual({});
  });

  it('catalog service keeps the instances the filter matches', async () => {
    const entries: { ServiceID: string }[] = await consul.catalog.service.nodes({
      service: svc,
      filter: 'ServiceMeta.version == "1" or NodeMeta["zone"] == "nowhere"',
    });
    expect(entries.map((e) => e.ServiceID)).toEqual([`${svc}-a`]);
  });
});

describe('filtered health reads', () => {
  it('health service matches a selector through the list of checks when any check matches', async () => {
    const critical: { Service: { ID: string } }[] = await consul.health.service({
      service: svc,
      filter: 'Checks.Status == critical',
    });
    expect(critical.map((e) => e.Service.ID)).toEqual([`${svc}-b`]);
    const notCanary: { Service: { ID: string } }[] = await consul.health.service({
      service: svc,
      filter: 'canary not in Service.Tags and Node.Meta is not empty',
    });
    expect(notCanary.map((e) => e.Service.ID)).toEqual([`${svc}-a`]);
  });

  it('health checks, state and node keep the checks the filter matches', async () => {
    expect(ids(await consul.health.checks({ service: svc, filter: 'Status == passing' }))).toEqual([
      'svc-a',
    ]);
    expect(
      ids(
        await consul.health.state({
          state: 'any',
          filter: `Node matches "^flt-.-${run}$" and ServiceID == ""`,
        }),
      ),
    ).toEqual(['node-a', 'node-b']);
    expect(ids(await consul.health.node({ node: nodeB, filter: 'ServiceName != ""' }))).toEqual([
      'svc-b',
    ]);
  });
});

describe('filtered agent reads', () => {
  it('agent services and agent checks keep the entries whose values match', async () => {
    const services = await consul.agent.service.list({
      filter: `Service == "${local}" and Meta.env == qa`,
    });
    expect(Object.keys(services)).toEqual([`${local}-qa`]);
    const checks = await consul.agent.check.list({
      filter: `ServiceName == "${local}" and Status == critical`,
    });
    expect(Object.keys(checks)).toEqual([`service:${local}-prod`]);
  });
});

describe('malformed filters', () => {
  const prefix = 'Failed to create boolean expression evaluator: ';

  it.each([
    [
      '/v1/catalog/nodes',
      'Address == 10.10.10.10',
      '1:17 (16): rule "number": Invalid number literal',
    ],
    ['/v1/catalog/services', 'ServiceName ==', 'no match found'],
    [`/v1/catalog/service/${svc}`, 'NoSuchField == x', 'Selector "NoSuchField" is not valid'],
    [
      `/v1/health/service/${svc}`,
      'Checks == x',
      'Invalid match operator "Equal" for selector "Checks"',
    ],
    [`/v1/health/checks/${svc}`, 'Status == "open', 'Unterminated string literal'],
    ['/v1/health/state/any', '(Status == passing', 'Unmatched parentheses'],
    [`/v1/health/node/${nodeA}`, 'Node matches "("', 'Failed to compile regular expression'],
    ['/v1/agent/services', 'Port == eighty', 'Failed to coerce value "eighty" for selector "Port"'],
    ['/v1/agent/checks', 'meta.env == qa', 'Selector "meta" is not valid'],
  ])('%s answers %j with 500 and the reason', async (path, filter, reason) => {
    const res = await fetch(`${agent.url}${path}?filter=${encodeURIComponent(filter)}`);
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(body).toContain(prefix);
    expect(body.slice(body.indexOf(prefix) + prefix.length)).toContain(reason);
  });

  it('reaches the consul client as a 500 error', async () => {
    const error = await consul.catalog.node.list({ filter: 'Node = x' }).catch((e: unknown) => e);
    expect((error as { response: Res }).response.statusCode).toBe(500);
  });

  it('answers a blocking query with a malformed filter at once instead of parking it', async () => {
    const first = await withResponse((ctx) => consul.health.service({ service: svc, ctx }));
    const started = performance.now();
    const res = await fetch(
      `${agent.url}/v1/health/service/${svc}?index=${index(first.res)}&wait=5s&filter=Checks.Status%20%3D%3D`,
    );
    expect(res.status).toBe(500);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe('filtered blocking queries', () => {
  it('parks a filtered query and answers it when a change brings a matching instance', async () => {
    const filter = 'Service.Meta.version == "3"';
    const first = await withResponse<unknown[]>((ctx) =>
      consul.health.service({ service: svc, filter, ctx }),
    );
    expect(first.body).toEqual([]);
    const parked = withResponse<{ Service: { ID: string } }[]>((ctx) =>
      consul.health.service({
        service: svc,
        filter,
        index: String(index(first.res)),
        wait: '5s',
        ctx,
      }),
    );
    await agent.dev?.whenParked(1);
    await consul.agent.service.register({
      name: svc,
      id: `${svc}-c`,
      meta: { version: '3' },
    });
    const answered = await parked;
    expect(index(answered.res)).toBeGreaterThan(index(first.res));
    expect(answered.body.map((e) => e.Service.ID)).toEqual([`${svc}-c`]);
  });
});
