import { type CatalogChanges, type CatalogState, diffCatalog } from '../catalogDiff';
import { InvalidInputError } from '../errors';
import { blockingFetch, defineWatchType } from './watchType';

export interface CatalogChange<T> extends CatalogChanges<T> {
  /** Every item now. */
  current: T[];
}

/** A service name and the union of its instances' tags, as /v1/catalog/services lists them. */
export interface ServiceSummary {
  name: string;
  tags: string[];
}

/** A node as /v1/catalog/nodes returns it (Consul's field names). */
export interface CatalogNode {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string> | null;
  Meta: Record<string, string> | null;
  CreateIndex: number;
  ModifyIndex: number;
}

/** A health check (Consul's field names). */
export interface HealthCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: 'passing' | 'warning' | 'critical';
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[] | null;
  CreateIndex: number;
  ModifyIndex: number;
}

/** One instance of a service with its node and checks, as /v1/health/service returns it. */
export interface ServiceEntry {
  Node: CatalogNode;
  Service: {
    ID: string;
    Service: string;
    Tags: string[] | null;
    Address: string;
    Port: number;
    Meta: Record<string, string> | null;
    CreateIndex: number;
    ModifyIndex: number;
  };
  Checks: HealthCheck[];
}

/** What the catalog and health watches share: Consul's own filter over what they read. */
export interface FilterParams {
  /**
   * A Consul filter expression (https://developer.hashicorp.com/consul/api-docs/features/filtering),
   * applied by Consul to each item before it answers, so only matching items are watched:
   * `'Service.Meta.env == "prod" and Checks.Status != critical'`. Watches with different
   * filters are different queries.
   */
  filter?: string;
}

/** Refuses a filter that is not a non-empty string, naming the watch and showing an example. */
function checkFilter(watch: string, p: FilterParams, example: string): void {
  if (p.filter === undefined) return;
  if (typeof p.filter !== 'string' || p.filter.trim() === '') {
    const got = typeof p.filter === 'string' ? JSON.stringify(p.filter) : typeof p.filter;
    throw new InvalidInputError(
      `${watch} watch: filter must be a non-empty string such as '${example}', got ${got}; leave it out to watch everything`,
    );
  }
}

const filtered = (p: FilterParams) =>
  p.filter === undefined ? '' : ` filter ${JSON.stringify(p.filter)}`;

function keyed<T>(items: T[], id: (item: T) => string): Map<string, T> {
  const map = new Map<string, T>();
  for (const item of items) map.set(id(item), item);
  return map;
}

function catalogDiff<T>(
  prev: CatalogState<T> | undefined,
  next: CatalogState<T>,
): CatalogChange<T> | undefined {
  const current = [...next.values()];
  if (prev === undefined) return { added: current, removed: [], changed: [], current };
  const changes = diffCatalog(prev, next);
  return changes && Object.assign({}, changes, { current });
}

/** `services`: the service names and their tags, GET /v1/catalog/services. */
export const servicesWatch = defineWatchType<
  FilterParams,
  Record<string, string[]>,
  CatalogState<ServiceSummary>,
  CatalogChange<ServiceSummary>
>({
  params: ['filter'],
  validate: (p) => checkFilter('services', p, 'ServiceTags contains "v2"'),
  describe: (p) => `services${filtered(p)}`,
  // Consul filters the instances (ServiceName, ServiceTags, NodeMeta…), then lists the names left.
  fetch: (p, ctx) =>
    blockingFetch(`watch services${filtered(p)}`, ctx, { path: '/catalog/services' }, p.filter),
  normalise: (raw) =>
    keyed(
      Object.entries(raw ?? {}).map(([name, tags]) => ({ name, tags: [...(tags ?? [])].sort() })),
      (s) => s.name,
    ),
  diff: catalogDiff,
  filterable: true,
});

/** `nodes`: every node, GET /v1/catalog/nodes. */
export const nodesWatch = defineWatchType<
  FilterParams,
  CatalogNode[],
  CatalogState<CatalogNode>,
  CatalogChange<CatalogNode>
>({
  params: ['filter'],
  validate: (p) => checkFilter('nodes', p, 'Meta.rack == "r1"'),
  describe: (p) => `nodes${filtered(p)}`,
  fetch: (p, ctx) =>
    blockingFetch(`watch nodes${filtered(p)}`, ctx, { path: '/catalog/nodes' }, p.filter),
  normalise: (raw) => keyed(raw ?? [], (n) => n.Node),
  diff: catalogDiff,
  filterable: true,
});

export interface ServiceParams extends FilterParams {
  service: string;
  /** Instances must carry this tag (or every one of these tags). */
  tag?: string | string[];
  /** Only instances whose checks all pass. */
  passingOnly?: boolean;
}

const tagsOf = (p: ServiceParams) =>
  p.tag === undefined ? [] : Array.isArray(p.tag) ? p.tag : [p.tag];

/** `service`: the healthy (or all) instances of one service, GET /v1/health/service/:name. */
export const serviceWatch = defineWatchType<
  ServiceParams,
  ServiceEntry[],
  CatalogState<ServiceEntry>,
  CatalogChange<ServiceEntry>
>({
  params: ['service', 'tag', 'passingOnly', 'filter'],
  validate(p) {
    if (typeof p.service !== 'string' || p.service === '') {
      throw new InvalidInputError(
        'service watch needs a service name: { type: "service", service: "web" }',
      );
    }
    for (const tag of tagsOf(p)) {
      if (typeof tag !== 'string' || tag === '')
        throw new InvalidInputError(
          `service watch of ${JSON.stringify(p.service)}: tags must be non-empty strings`,
        );
    }
    checkFilter(`service ${JSON.stringify(p.service)}`, p, 'Service.Meta.version == "2"');
  },
  describe: (p) =>
    `service ${JSON.stringify(p.service)}${tagsOf(p).length ? ` tag ${tagsOf(p).join(',')}` : ''}${p.passingOnly ? ' passing' : ''}${filtered(p)}`,
  fetch: (p, ctx) => {
    const tags = tagsOf(p);
    return blockingFetch(
      `watch service ${JSON.stringify(p.service)}${filtered(p)}`,
      ctx,
      {
        path: `/health/service/${encodeURIComponent(p.service)}`,
        query: [
          ...tags.map((tag) => `tag=${encodeURIComponent(tag)}`),
          ...(p.passingOnly ? ['passing=true'] : []),
        ].join('&'),
      },
      p.filter,
    );
  },
  normalise: (raw) => keyed(raw ?? [], (e) => `${e.Node.Node}/${e.Service.ID}`),
  diff: catalogDiff,
  filterable: true,
});

export type CheckState = 'any' | 'passing' | 'warning' | 'critical';
export type ChecksParams = FilterParams &
  ({ service: string; state?: undefined } | { state: CheckState; service?: undefined });

/** `checks`: the checks of one service, or every check in a state. */
export const checksWatch = defineWatchType<
  ChecksParams,
  HealthCheck[],
  CatalogState<HealthCheck>,
  CatalogChange<HealthCheck>
>({
  params: ['service', 'state', 'filter'],
  validate(p) {
    const hasService = p.service !== undefined;
    const hasState = p.state !== undefined;
    if (hasService === hasState) {
      throw new InvalidInputError(
        'checks watch takes either a service or a state, not both and not neither: { type: "checks", service: "web" } or { type: "checks", state: "critical" }',
      );
    }
    if (hasService && (typeof p.service !== 'string' || p.service === ''))
      throw new InvalidInputError('checks watch: service must be a non-empty string');
    if (hasState && !['any', 'passing', 'warning', 'critical'].includes(p.state as string)) {
      throw new InvalidInputError(
        `checks watch: state ${JSON.stringify(p.state)} must be any, passing, warning or critical`,
      );
    }
    checkFilter('checks', p, 'ServiceTags contains "db"');
  },
  describe: (p) =>
    (p.service !== undefined
      ? `checks of service ${JSON.stringify(p.service)}`
      : `checks in state ${p.state}`) + filtered(p),
  fetch: (p, ctx) =>
    p.service !== undefined
      ? blockingFetch(
          `watch checks of ${JSON.stringify(p.service)}${filtered(p)}`,
          ctx,
          { path: `/health/checks/${encodeURIComponent(p.service)}` },
          p.filter,
        )
      : blockingFetch(
          `watch checks in state ${p.state}${filtered(p)}`,
          ctx,
          { path: `/health/state/${p.state}` },
          p.filter,
        ),
  normalise: (raw) => keyed(raw ?? [], (c) => `${c.Node}/${c.CheckID}`),
  diff: catalogDiff,
  filterable: true,
});
