import { CONSUL_VERSION } from '../agent';
import { queryFilter } from '../filter';
import { filterSchemas } from '../filterSchemas';
import { GoObject } from '../goJson';
import { decodePath, HttpError, json, type Request, readJson, send } from '../http';
import type { Route, RouteContext } from './route';

const BODY_LIMIT = 1024 * 1024;

export function agentRoutes({ state, datacenter, pretty }: RouteContext): Route[] {
  const { agent, catalog } = state;
  const ok = (r: Request) => send(r.res, { body: '' });
  const body = async (r: Request, what: string) =>
    new GoObject(await readJson(r.req, BODY_LIMIT), what);

  const status = (kind: 'passing' | 'warning' | 'critical') => (r: Request, rest: string) => {
    agent.updateCheck(decodePath(rest), kind, r.query.get('note') ?? '');
    ok(r);
  };

  return [
    {
      path: '/v1/agent/self',
      GET: (r) => {
        const node = catalog.node(agent.node);
        send(
          r.res,
          json(
            {
              Config: {
                Datacenter: datacenter,
                PrimaryDatacenter: datacenter,
                NodeName: agent.node,
                NodeID: agent.nodeId,
                Server: true,
                Version: CONSUL_VERSION,
                Revision: 'consul-dev',
              },
              Member: {
                Name: agent.node,
                Addr: node?.Address ?? '127.0.0.1',
                Port: 8301,
                Tags: { dc: datacenter, role: 'consul', id: agent.nodeId },
                Status: 1,
              },
              Meta: node?.Meta ?? {},
            },
            pretty(r),
          ),
        );
      },
    },
    {
      path: '/v1/agent/services',
      GET: (r) => {
        const filter = queryFilter(r.query, filterSchemas.agentService);
        const out: Record<string, unknown> = {};
        for (const s of catalog.servicesOf(agent.node)) {
          if (s.ID === 'consul') continue;
          const service = {
            ID: s.ID,
            Service: s.Service,
            Tags: s.Tags,
            Meta: s.Meta,
            Port: s.Port,
            Address: s.Address,
            Weights: s.Weights,
            EnableTagOverride: s.EnableTagOverride,
            Datacenter: datacenter,
          };
          if (!filter || filter.matches(service)) out[s.ID] = service;
        }
        send(r.res, json(out, pretty(r)));
      },
    },
    {
      path: '/v1/agent/checks',
      GET: (r) => {
        const filter = queryFilter(r.query, filterSchemas.healthCheck);
        const out: Record<string, unknown> = {};
        for (const c of catalog.checksOf(agent.node))
          if (c.CheckID !== 'serfHealth' && (!filter || filter.matches(c))) out[c.CheckID] = c;
        send(r.res, json(out, pretty(r)));
      },
    },
    {
      path: '/v1/agent/service/register',
      PUT: async (r) => {
        agent.registerService(await body(r, 'service'));
        ok(r);
      },
    },
    {
      path: '/v1/agent/service/deregister/',
      PUT: (r, rest) => {
        agent.deregisterService(decodePath(rest));
        ok(r);
      },
    },
    {
      path: '/v1/agent/check/register',
      PUT: async (r) => {
        agent.registerCheck(await body(r, 'check'));
        ok(r);
      },
    },
    {
      path: '/v1/agent/check/deregister/',
      PUT: (r, rest) => {
        agent.deregisterCheck(decodePath(rest));
        ok(r);
      },
    },
    { path: '/v1/agent/check/pass/', PUT: status('passing') },
    { path: '/v1/agent/check/warn/', PUT: status('warning') },
    { path: '/v1/agent/check/fail/', PUT: status('critical') },
    {
      path: '/v1/agent/check/update/',
      PUT: async (r, rest) => {
        const update = await body(r, 'update');
        agent.updateCheck(decodePath(rest), update.string('Status'), update.string('Output'));
        ok(r);
      },
    },
  ];
}

export function statusRoutes(): Route[] {
  return [
    { path: '/v1/status/leader', public: true, GET: (r) => send(r.res, json('127.0.0.1:8300')) },
    { path: '/v1/status/peers', public: true, GET: (r) => send(r.res, json(['127.0.0.1:8300'])) },
  ];
}

export function missing(what: string): never {
  throw new HttpError(400, `Missing ${what}`);
}
