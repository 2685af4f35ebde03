import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer } from '../src/devServer';
import { startTestAgent, type TestAgent } from '../src/testing';

// What HashiCorp's Go client reads from a Consul agent and found missing here. Runs against
// CONSUL_HTTP_ADDR when it is set (except the ACL case, which needs an agent of its own).
let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent();
});
afterAll(() => agent.close());

const get = (path: string) => fetch(`${agent.url}${path}`, { headers: { connection: 'close' } });
const put = async (path: string, body: unknown) =>
  (
    await fetch(`${agent.url}${path}`, {
      method: 'PUT',
      body: JSON.stringify(body),
      headers: { connection: 'close' },
    })
  ).json();

describe('query metadata', () => {
  it('answers reads with the query backend, the effective consistency and the default ACL policy', async () => {
    for (const [query, consistency] of [
      ['', 'leader'],
      ['?stale', 'stale'],
      ['?consistent', 'consistent'],
    ]) {
      const res = await get(`/v1/catalog/services${query}`);
      expect(res.headers.get('x-consul-query-backend')).toBe('blocking-query');
      expect(res.headers.get('x-consul-effective-consistency')).toBe(consistency);
      expect(res.headers.get('x-consul-default-acl-policy')).toMatch(/^(allow|deny)$/);
      await res.arrayBuffer();
    }
  });

  it('says deny as the default ACL policy when ACLs are on', async () => {
    const dev = await startDevServer({ aclToken: 'root' });
    try {
      const res = await fetch(`${dev.url}/v1/kv/x`, {
        headers: { 'X-Consul-Token': 'root', connection: 'close' },
      });
      expect(res.headers.get('x-consul-default-acl-policy')).toBe('deny');
      await res.arrayBuffer();
    } finally {
      await dev.close();
    }
  });

  it("gives the agent's node a consul-version meta", async () => {
    const self = (await (await get('/v1/agent/self')).json()) as {
      Config: { NodeName: string; Version: string };
    };
    const nodes = (await (await get('/v1/catalog/nodes')).json()) as {
      Node: string;
      Meta: Record<string, string>;
    }[];
    const node = nodes.find((n) => n.Node === self.Config.NodeName);
    expect(node?.Meta['consul-version']).toBe(self.Config.Version);
  });
});

describe('catalog deregistration', () => {
  it('removes the node when ServiceID and CheckID are present but empty, as the Go client sends them', async () => {
    const node = `dereg-${Date.now()}`;
    expect(
      await put('/v1/catalog/register', {
        Node: node,
        Address: '10.0.0.9',
        Service: { ID: 'web-1', Service: 'web', Port: 80 },
      }),
    ).toBe(true);
    expect(await put('/v1/catalog/deregister', { Node: node, ServiceID: '', CheckID: '' })).toBe(
      true,
    );
    const nodes = (await (await get('/v1/catalog/nodes')).json()) as { Node: string }[];
    expect(nodes.map((n) => n.Node)).not.toContain(node);
  });
});
