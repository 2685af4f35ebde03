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
  return changes && { ...changes, current };
}

/** `services`: the service names and their tags, GET /v1/catalog/services. */
export const servicesWatch = defineWatchType<
  Record<string, never>,
  Record<string, string[]>,
  CatalogState<ServiceSummary>,
  CatalogChange<ServiceSummary>
>({
  validate() {},
  describe: () => 'services',
  fetch: (_p, ctx) => blockingFetch('watch services', ctx, (c, o) => c.catalog.service.list(o)),
  normalise: (raw) =>
    keyed(
      Object.entries(raw ?? {}).map(([name, tags]) => ({ name, tags: [...(tags ?? [])].sort() })),
      (s) => s.name,
    ),
  diff: catalogDiff,
});

/** `nodes`: every node, GET /v1/catalog/nodes. */
export const nodesWatch = defineWatchType<
  Record<string, never>,
  CatalogNode[],
  CatalogState<CatalogNode>,
  CatalogChange<CatalogNode>
>({
  validate() {},
  describe: () => 'nodes',
  fetch: (_p, ctx) => blockingFetch('watch nodes', ctx, (c, o) => c.catalog.node.list(o)),
  normalise: (raw) => keyed(raw ?? [], (n) => n.Node),
  diff: catalogDiff,
});

export interface ServiceParams {
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
  },
  describe: (p) =>
    `service ${JSON.stringify(p.service)}${tagsOf(p).length ? ` tag ${tagsOf(p).join(',')}` : ''}${p.passingOnly ? ' passing' : ''}`,
  fetch: (p, ctx) => {
    const tags = tagsOf(p);
    return blockingFetch(`watch service ${JSON.stringify(p.service)}`, ctx, (c, o) =>
      c.health.service({
        ...o,
        service: p.service,
        ...(tags.length === 1 ? { tag: tags[0] } : tags.length > 1 ? { tag: tags } : {}),
        ...(p.passingOnly ? { passing: true } : {}),
      }),
    );
  },
  normalise: (raw) => keyed(raw ?? [], (e) => `${e.Node.Node}/${e.Service.ID}`),
  diff: catalogDiff,
});

export type CheckState = 'any' | 'passing' | 'warning' | 'critical';
export type ChecksParams =
  | { service: string; state?: undefined }
  | { state: CheckState; service?: undefined };

/** `checks`: the checks of one service, or every check in a state. */
export const checksWatch = defineWatchType<
  ChecksParams,
  HealthCheck[],
  CatalogState<HealthCheck>,
  CatalogChange<HealthCheck>
>({
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
  },
  describe: (p) =>
    p.service !== undefined
      ? `checks of service ${JSON.stringify(p.service)}`
      : `checks in state ${p.state}`,
  fetch: (p, ctx) =>
    p.service !== undefined
      ? blockingFetch(`watch checks of ${JSON.stringify(p.service)}`, ctx, (c, o) =>
          c.health.checks({ ...o, service: p.service }),
        )
      : blockingFetch(`watch checks in state ${p.state}`, ctx, (c, o) =>
          c.health.state({ ...o, state: p.state }),
        ),
  normalise: (raw) => keyed(raw ?? [], (c) => `${c.Node}/${c.CheckID}`),
  diff: catalogDiff,
});
