export type CheckStatus = 'passing' | 'warning' | 'critical';
export const CHECK_STATUSES: readonly CheckStatus[] = ['passing', 'warning', 'critical'];

export interface CatalogNode {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string>;
  Meta: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface CatalogService {
  ID: string;
  Service: string;
  Tags: string[];
  Address: string;
  Meta: Record<string, string>;
  Port: number;
  Weights: { Passing: number; Warning: number };
  EnableTagOverride: boolean;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface HealthCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface CatalogSnapshot {
  tables: { nodes: number; services: number; checks: number };
  serviceIndexes: [string, number][];
  nodes: CatalogNode[];
  services: [string, CatalogService][];
  checks: HealthCheck[];
}

export type NodeInput = Omit<CatalogNode, 'CreateIndex' | 'ModifyIndex'>;
export type ServiceInput = Omit<CatalogService, 'CreateIndex' | 'ModifyIndex'>;
export type CheckInput = Omit<
  HealthCheck,
  'CreateIndex' | 'ModifyIndex' | 'ServiceName' | 'ServiceTags'
>;

/** The topics a catalog change wakes; see Waiters. */
export const topics = {
  nodes: 'catalog:nodes',
  services: 'catalog:services',
  checks: 'catalog:checks',
  service: (name: string) => `catalog:service:${name}`,
};

type Indexed = { CreateIndex: number; ModifyIndex: number };

/**
 * Writes `input` at `id` in `byId` unless it equals what is there (indexes aside): Consul
 * raises no index for a registration that changes nothing. Returns what was there, or
 * `false` when nothing was written.
 */
function upsert<T extends Indexed>(
  byId: Map<string, T>,
  id: string,
  input: Omit<T, keyof Indexed>,
  index: number,
): T | undefined | false {
  const existing = byId.get(id);
  if (
    existing &&
    JSON.stringify({ ...existing, CreateIndex: 0, ModifyIndex: 0 }) ===
      JSON.stringify({ ...input, CreateIndex: 0, ModifyIndex: 0 })
  ) {
    return false;
  }
  byId.set(id, { ...input, CreateIndex: existing?.CreateIndex ?? index, ModifyIndex: index } as T);
  return existing;
}

/** The node's map inside `byNode`, created on first use. */
function mapOf<T>(byNode: Map<string, Map<string, T>>, node: string): Map<string, T> {
  let byId = byNode.get(node);
  if (!byId) {
    byId = new Map();
    byNode.set(node, byId);
  }
  return byId;
}

/**
 * Nodes, service instances and health checks, with the indexes Consul reads carry: one per
 * table, plus one per service name that moves whenever an instance of that service, one of
 * its checks, or its node changes (that is what `health/service/:name` blocks on).
 */
export class CatalogStore {
  private readonly nodes = new Map<string, CatalogNode>();
  /** node → service ID → instance */
  private readonly services = new Map<string, Map<string, CatalogService>>();
  /** node → check ID → check */
  private readonly checks = new Map<string, Map<string, HealthCheck>>();
  private tables = { nodes: 0, services: 0, checks: 0 };
  private readonly serviceIndexes = new Map<string, number>();

  constructor(private readonly notify: (topic: string) => void) {}

  // ---- reads ---------------------------------------------------------------------------

  tableIndex(table: 'nodes' | 'services' | 'checks'): number {
    return this.tables[table];
  }

  serviceIndex(name: string): number {
    return this.serviceIndexes.get(name) ?? this.tables.services;
  }

  node(name: string): CatalogNode | undefined {
    return this.nodes.get(name);
  }

  allNodes(): CatalogNode[] {
    return [...this.nodes.values()].sort((a, b) => (a.Node < b.Node ? -1 : 1));
  }

  servicesOf(node: string): CatalogService[] {
    return [...(this.services.get(node)?.values() ?? [])];
  }

  checksOf(node: string): HealthCheck[] {
    return [...(this.checks.get(node)?.values() ?? [])];
  }

  service(node: string, id: string): CatalogService | undefined {
    return this.services.get(node)?.get(id);
  }

  check(node: string, id: string): HealthCheck | undefined {
    return this.checks.get(node)?.get(id);
  }

  /** Every instance of a service name, by node then ID, as Consul orders them. */
  instances(name: string): { node: CatalogNode; service: CatalogService }[] {
    const out: { node: CatalogNode; service: CatalogService }[] = [];
    for (const node of this.allNodes()) {
      for (const service of this.services.get(node.Node)?.values() ?? []) {
        if (service.Service === name) out.push({ node, service });
      }
    }
    return out.sort((a, b) =>
      a.node.Node === b.node.Node ? (a.service.ID < b.service.ID ? -1 : 1) : 0,
    );
  }

  /** Service name → its tags, each once, as `catalog/services` answers. */
  serviceNames(): Record<string, string[]> {
    const out: Record<string, Set<string>> = {};
    for (const byId of this.services.values()) {
      for (const s of byId.values()) {
        const tags = out[s.Service] ?? new Set<string>();
        out[s.Service] = tags;
        for (const tag of s.Tags) tags.add(tag);
      }
    }
    const sorted: Record<string, string[]> = {};
    for (const name of Object.keys(out).sort()) sorted[name] = [...out[name]!];
    return sorted;
  }

  allChecks(): HealthCheck[] {
    const out: HealthCheck[] = [];
    for (const node of this.allNodes()) out.push(...this.checksOf(node.Node));
    return out;
  }

  // ---- writes --------------------------------------------------------------------------

  upsertNode(input: NodeInput, index: number): void {
    if (upsert(this.nodes, input.Node, input, index) === false) return;
    this.tables.nodes = index;
    this.notify(topics.nodes);
    this.touchServicesOfNode(input.Node, index);
  }

  upsertService(node: string, input: ServiceInput, index: number): void {
    const existing = upsert(mapOf(this.services, node), input.ID, input, index);
    if (existing === false) return;
    this.tables.services = index;
    this.notify(topics.services);
    if (existing && existing.Service !== input.Service) this.touchService(existing.Service, index);
    this.touchService(input.Service, index);
    // Checks carry the service's name and tags; keep them in step.
    for (const check of this.checks.get(node)?.values() ?? []) {
      if (check.ServiceID === input.ID) {
        this.upsertCheck(node, { ...check }, index);
      }
    }
  }

  upsertCheck(node: string, input: CheckInput, index: number): void {
    const service = input.ServiceID ? this.services.get(node)?.get(input.ServiceID) : undefined;
    const next = {
      ...input,
      ServiceName: service?.Service ?? '',
      ServiceTags: service?.Tags ?? [],
    };
    if (upsert(mapOf(this.checks, node), input.CheckID, next, index) === false) return;
    this.checkChanged(node, next.ServiceName, index);
  }

  /** Sets a check's status and output; a no-op (no index moves) when neither changed. */
  setCheckStatus(
    node: string,
    id: string,
    status: CheckStatus,
    output: string,
    index: () => number,
  ): boolean {
    const check = this.checks.get(node)?.get(id);
    if (!check) return false;
    if (check.Status === status && check.Output === output) return true;
    const at = index();
    check.Status = status;
    check.Output = output;
    check.ModifyIndex = at;
    this.checkChanged(node, check.ServiceName, at);
    return true;
  }

  deleteCheck(node: string, id: string, index: number): boolean {
    const check = this.checks.get(node)?.get(id);
    if (!check) return false;
    this.checks.get(node)!.delete(id);
    this.checkChanged(node, check.ServiceName, index);
    return true;
  }

  /** Removes a service instance and its checks. */
  deleteService(node: string, id: string, index: number): boolean {
    const service = this.services.get(node)?.get(id);
    if (!service) return false;
    this.services.get(node)!.delete(id);
    for (const check of [...(this.checks.get(node)?.values() ?? [])]) {
      if (check.ServiceID === id) this.deleteCheck(node, check.CheckID, index);
    }
    this.tables.services = index;
    this.notify(topics.services);
    this.touchService(service.Service, index);
    return true;
  }

  /** Removes a node with all its services and checks. */
  deleteNode(node: string, index: number): boolean {
    if (!this.nodes.has(node)) return false;
    for (const service of this.servicesOf(node)) this.deleteService(node, service.ID, index);
    for (const check of this.checksOf(node)) this.deleteCheck(node, check.CheckID, index);
    this.nodes.delete(node);
    this.services.delete(node);
    this.checks.delete(node);
    this.tables.nodes = index;
    this.notify(topics.nodes);
    return true;
  }

  snapshot(): CatalogSnapshot {
    const services: [string, CatalogService][] = [];
    for (const [node, byId] of this.services)
      for (const s of byId.values()) services.push([node, structuredClone(s)]);
    return {
      tables: { ...this.tables },
      serviceIndexes: [...this.serviceIndexes],
      nodes: structuredClone(this.allNodes()),
      services,
      checks: structuredClone(this.allChecks()),
    };
  }

  /** Replaces everything; returns the topics whose watchers must be woken. */
  restore(snapshot: CatalogSnapshot): Set<string> {
    const affected = new Set<string>([topics.nodes, topics.services, topics.checks]);
    for (const name of this.serviceIndexes.keys()) affected.add(topics.service(name));
    this.nodes.clear();
    this.services.clear();
    this.checks.clear();
    this.serviceIndexes.clear();
    this.tables = { ...snapshot.tables };
    for (const [name, index] of snapshot.serviceIndexes) {
      this.serviceIndexes.set(name, index);
      affected.add(topics.service(name));
    }
    for (const n of snapshot.nodes) this.nodes.set(n.Node, structuredClone(n));
    for (const [node, s] of snapshot.services) {
      if (!this.services.has(node)) this.services.set(node, new Map());
      this.services.get(node)!.set(s.ID, structuredClone(s));
    }
    for (const c of snapshot.checks) {
      if (!this.checks.has(c.Node)) this.checks.set(c.Node, new Map());
      this.checks.get(c.Node)!.set(c.CheckID, structuredClone(c));
    }
    return affected;
  }

  private checkChanged(node: string, serviceName: string, index: number): void {
    this.tables.checks = index;
    this.notify(topics.checks);
    if (serviceName) this.touchService(serviceName, index);
    else this.touchServicesOfNode(node, index); // a node check changes every service's health there
  }

  private touchServicesOfNode(node: string, index: number): void {
    for (const s of this.services.get(node)?.values() ?? []) this.touchService(s.Service, index);
  }

  private touchService(name: string, index: number): void {
    this.serviceIndexes.set(name, index);
    this.notify(topics.service(name));
  }
}
