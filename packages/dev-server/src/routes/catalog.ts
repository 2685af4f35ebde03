import { serviceInput } from '../agent';
import { serveBlocking } from '../blocking';
import {
  type CatalogNode,
  type CatalogService,
  CHECK_STATUSES,
  type CheckStatus,
  type HealthCheck,
  topics,
} from '../catalogStore';
import { applyFilter, queryFilter } from '../filter';
import { filterSchemas } from '../filterSchemas';
import { GoObject } from '../goJson';
import { decodePath, HttpError, json, type Request, readJson, send } from '../http';
import { missing } from './agent';
import type { Route, RouteContext } from './route';

function serviceNode(node: CatalogNode, s: CatalogService, datacenter: string) {
  return {
    ID: node.ID,
    Node: node.Node,
    Address: node.Address,
    Datacenter: datacenter,
    TaggedAddresses: node.TaggedAddresses,
    NodeMeta: node.Meta,
    ServiceKind: '',
    ServiceID: s.ID,
    ServiceName: s.Service,
    ServiceTags: s.Tags,
    ServiceAddress: s.Address,
    ServiceWeights: s.Weights,
    ServiceMeta: s.Meta,
    ServicePort: s.Port,
    ServiceEnableTagOverride: s.EnableTagOverride,
    CreateIndex: s.CreateIndex,
    ModifyIndex: s.ModifyIndex,
  };
}

const hasTags = (s: CatalogService, tags: string[]) => tags.every((t) => s.Tags.includes(t));

/** Service name → the tags of these instances, each once, as `catalog/services` lists them. */
function tagsByName<T extends { ServiceName: string; ServiceTags: string[] }>(
  instances: T[],
): Record<string, string[]> {
  const byName = new Map<string, Set<string>>();
  for (const s of instances) {
    const tags = byName.get(s.ServiceName) ?? new Set<string>();
    byName.set(s.ServiceName, tags);
    for (const tag of s.ServiceTags) tags.add(tag);
  }
  return Object.fromEntries(
    [...byName.keys()].sort().map((name) => [name, [...byName.get(name)!]]),
  );
}

export function catalogRoutes({ state, datacenter, pretty }: RouteContext): Route[] {
  const { catalog, waiters, raft } = state;
  const read = (r: Request, topic: string, index: () => number, value: () => unknown) =>
    serveBlocking(r, waiters, {
      topic,
      run: () => ({ index: BigInt(index()), ...json(value(), pretty(r)) }),
    });
  const allInstances = () =>
    catalog
      .allNodes()
      .flatMap((node) =>
        catalog.servicesOf(node.Node).map((s) => serviceNode(node, s, datacenter)),
      );

  const register = async (r: Request) => {
    const body = new GoObject(await readJson(r.req, 1024 * 1024), 'registration');
    const node = body.string('Node') || missing('node name');
    const address = body.string('Address') || missing('node address');
    const service = body.object('Service');
    const checks = [
      ...(body.object('Check') ? [body.object('Check')!] : []),
      ...body.objects('Checks'),
    ];
    const checkInputs = checks.map((c) => {
      const status = c.string('Status', 'critical');
      if (!CHECK_STATUSES.includes(status as CheckStatus))
        throw new HttpError(400, `Invalid check status: ${JSON.stringify(status)}`);
      const name = c.string('Name') || missing('check name');
      return {
        Node: node,
        CheckID: c.string('CheckID') || name,
        Name: name,
        Status: status as CheckStatus,
        Notes: c.string('Notes'),
        Output: c.string('Output'),
        ServiceID: c.string('ServiceID'),
        Type: '',
      };
    });
    const serviceName = service
      ? service.string('Service') || service.string('Name') || missing('service name')
      : '';
    const index = raft.next();
    const existing = catalog.node(node);
    if (!body.boolean('SkipNodeUpdate') || !existing) {
      catalog.upsertNode(
        {
          ID: body.string('ID') || existing?.ID || '',
          Node: node,
          Address: address,
          Datacenter: datacenter,
          TaggedAddresses: body.stringMap('TaggedAddresses'),
          Meta: body.stringMap('NodeMeta'),
        },
        index,
      );
    }
    if (service) {
      catalog.upsertService(
        node,
        serviceInput(
          service.string('ID') || serviceName,
          serviceName,
          service.strings('Tags'),
          service.string('Address'),
          service.number('Port'),
          service.stringMap('Meta'),
          service.boolean('EnableTagOverride'),
        ),
        index,
      );
    }
    for (const check of checkInputs) catalog.upsertCheck(node, check, index);
    send(r.res, json(true));
  };

  const deregister = async (r: Request) => {
    const body = new GoObject(await readJson(r.req, 1024 * 1024), 'deregistration');
    const node = body.string('Node') || missing('node name');
    const index = raft.next();
    // Empty means absent, as in Consul: HashiCorp's Go client always sends both fields.
    const serviceId = body.has('ServiceID') ? body.string('ServiceID') : '';
    const checkId = body.has('CheckID') ? body.string('CheckID') : '';
    if (serviceId) catalog.deleteService(node, serviceId, index);
    else if (checkId) catalog.deleteCheck(node, checkId, index);
    else catalog.deleteNode(node, index);
    send(r.res, json(true));
  };

  return [
    { path: '/v1/catalog/register', PUT: register },
    { path: '/v1/catalog/deregister', PUT: deregister },
    { path: '/v1/catalog/datacenters', GET: (r) => send(r.res, json([datacenter])) },
    {
      path: '/v1/catalog/services',
      blocking: true,
      GET: (r) => {
        // Consul runs this filter over service instances, then lists what is left by name.
        const filter = queryFilter(r.query, filterSchemas.serviceNode);
        read(
          r,
          topics.services,
          () => catalog.tableIndex('services'),
          () => (filter ? tagsByName(applyFilter(allInstances(), filter)) : catalog.serviceNames()),
        );
      },
    },
    {
      path: '/v1/catalog/nodes',
      blocking: true,
      GET: (r) => {
        const filter = queryFilter(r.query, filterSchemas.node);
        read(
          r,
          topics.nodes,
          () => catalog.tableIndex('nodes'),
          () => applyFilter(catalog.allNodes(), filter),
        );
      },
    },
    {
      path: '/v1/catalog/service/',
      blocking: true,
      GET: (r, rest) => {
        const name = decodePath(rest) || missing('service name');
        const tags = r.query.getAll('tag');
        const filter = queryFilter(r.query, filterSchemas.serviceNode);
        read(
          r,
          topics.service(name),
          () => catalog.serviceIndex(name),
          () =>
            applyFilter(
              catalog
                .instances(name)
                .filter(({ service }) => hasTags(service, tags))
                .map(({ node, service }) => serviceNode(node, service, datacenter)),
              filter,
            ),
        );
      },
    },
    {
      path: '/v1/catalog/node/',
      blocking: true,
      GET: (r, rest) => {
        const name = decodePath(rest) || missing('node name');
        read(
          r,
          topics.nodes,
          () => Math.max(catalog.tableIndex('nodes'), catalog.tableIndex('services')),
          () => {
            const node = catalog.node(name);
            if (!node) return null;
            return {
              Node: node,
              Services: Object.fromEntries(catalog.servicesOf(name).map((s) => [s.ID, s])),
            };
          },
        );
      },
    },
  ];
}

export function healthRoutes({ state, pretty }: RouteContext): Route[] {
  const { catalog, waiters } = state;
  const checks = (r: Request, value: () => HealthCheck[]) => {
    const filter = queryFilter(r.query, filterSchemas.healthCheck);
    serveBlocking(r, waiters, {
      topic: topics.checks,
      run: () => ({
        index: BigInt(catalog.tableIndex('checks')),
        ...json(applyFilter(value(), filter), pretty(r)),
      }),
    });
  };

  return [
    {
      path: '/v1/health/service/',
      blocking: true,
      GET: (r, rest) => {
        const name = decodePath(rest) || missing('service name');
        const tags = r.query.getAll('tag');
        const passingOnly = r.query.has('passing');
        const filter = queryFilter(r.query, filterSchemas.checkServiceNode);
        serveBlocking(r, waiters, {
          topic: topics.service(name),
          run: () => {
            const entries = catalog
              .instances(name)
              .filter(({ service }) => hasTags(service, tags))
              .map(({ node, service }) => ({
                Node: node,
                Service: service,
                Checks: catalog
                  .checksOf(node.Node)
                  .filter((c) => c.ServiceID === '' || c.ServiceID === service.ID),
              }))
              .filter((e) => !passingOnly || e.Checks.every((c) => c.Status === 'passing'));
            return {
              index: BigInt(catalog.serviceIndex(name)),
              ...json(applyFilter(entries, filter), pretty(r)),
            };
          },
        });
      },
    },
    {
      path: '/v1/health/checks/',
      blocking: true,
      GET: (r, rest) => {
        const name = decodePath(rest) || missing('service name');
        checks(r, () => catalog.allChecks().filter((c) => c.ServiceName === name));
      },
    },
    {
      path: '/v1/health/state/',
      blocking: true,
      GET: (r, rest) => {
        const wanted = decodePath(rest);
        if (wanted !== 'any' && !CHECK_STATUSES.includes(wanted as CheckStatus)) {
          throw new HttpError(
            400,
            `Invalid state ${JSON.stringify(wanted)}: use any, passing, warning or critical`,
          );
        }
        checks(r, () => catalog.allChecks().filter((c) => wanted === 'any' || c.Status === wanted));
      },
    },
    {
      path: '/v1/health/node/',
      blocking: true,
      GET: (r, rest) => {
        const name = decodePath(rest) || missing('node name');
        checks(r, () => catalog.checksOf(name));
      },
    },
  ];
}
