import { randomUUID } from 'node:crypto';
import { type CatalogStore, CHECK_STATUSES, type CheckStatus } from './catalogStore';
import { formatGoDuration } from './goDuration';
import { type GoObject } from './goJson';
import { HttpError } from './http';
import type { Raft } from './raft';

/** The Consul version this agent answers as (agent/self, its node's `consul-version` meta). */
export const CONSUL_VERSION = '1.20.0';

export interface TtlDefinition {
  ttlMs: number;
  deregisterAfterMs: number | undefined;
  serviceId: string;
}

/**
 * The local agent: the node this server runs as, the services and TTL checks registered
 * through `/v1/agent/*`, and the timers that turn an unrefreshed TTL check critical and,
 * when asked, deregister a service that stayed critical too long.
 */
export class Agent {
  readonly nodeId = randomUUID();
  private readonly ttl = new Map<string, TtlDefinition>();
  private readonly expiry = new Map<string, NodeJS.Timeout>();
  private readonly reaping = new Map<string, NodeJS.Timeout>();

  constructor(
    readonly node: string,
    readonly datacenter: string,
    private readonly raft: Raft,
    private readonly catalog: CatalogStore,
  ) {}

  /** Puts this agent's node, the `consul` service and its serfHealth check in the catalog. */
  join(): void {
    const index = this.raft.next();
    this.catalog.upsertNode(
      {
        ID: this.nodeId,
        Node: this.node,
        Address: '127.0.0.1',
        Datacenter: this.datacenter,
        TaggedAddresses: { lan: '127.0.0.1', wan: '127.0.0.1' },
        Meta: { 'consul-network-segment': '', 'consul-version': CONSUL_VERSION },
      },
      index,
    );
    this.catalog.upsertService(
      this.node,
      serviceInput('consul', 'consul', [], '', 8300, {}),
      index,
    );
    this.catalog.upsertCheck(
      this.node,
      {
        Node: this.node,
        CheckID: 'serfHealth',
        Name: 'Serf Health Status',
        Status: 'passing',
        Notes: '',
        Output: 'Agent alive and reachable',
        ServiceID: '',
        Type: '',
      },
      index,
    );
  }

  registerService(body: GoObject): void {
    const name = body.string('Name');
    if (!name) throw new HttpError(400, 'Missing service name');
    const id = body.string('ID') || name;
    const checks = [
      ...(body.object('Check') ? [body.object('Check')!] : []),
      ...body.objects('Checks'),
    ];
    // Validate every check before writing anything: a bad definition leaves no half-registered service.
    const defs = checks.map((check, i) =>
      this.checkDefinition(
        check,
        checks.length === 1 ? `service:${id}` : `service:${id}:${i + 1}`,
        id,
        `Service '${name}' check`,
      ),
    );
    const index = this.raft.next();
    this.catalog.upsertService(
      this.node,
      serviceInput(
        id,
        name,
        body.strings('Tags'),
        body.string('Address'),
        body.number('Port'),
        body.stringMap('Meta'),
        body.boolean('EnableTagOverride'),
      ),
      index,
    );
    for (const def of defs) this.addCheck(def, index);
  }

  deregisterService(id: string): void {
    if (!this.catalog.service(this.node, id))
      throw new HttpError(
        404,
        `Unknown service ID ${JSON.stringify(id)}. Ensure that the service ID is passed, not the service name.`,
      );
    for (const check of this.catalog.checksOf(this.node))
      if (check.ServiceID === id) this.forget(check.CheckID);
    this.catalog.deleteService(this.node, id, this.raft.next());
  }

  registerCheck(body: GoObject): void {
    const name = body.string('Name');
    if (!name) throw new HttpError(400, 'Missing check name');
    const serviceId = body.string('ServiceID');
    if (serviceId && !this.catalog.service(this.node, serviceId)) {
      throw new HttpError(400, `ServiceID ${JSON.stringify(serviceId)} does not exist`);
    }
    const def = this.checkDefinition(
      body,
      body.string('CheckID') || body.string('ID') || name,
      serviceId,
      name,
    );
    this.addCheck(def, this.raft.next());
  }

  deregisterCheck(id: string): void {
    if (!this.catalog.check(this.node, id))
      throw new HttpError(404, `Unknown check ID ${JSON.stringify(id)}`);
    this.forget(id);
    this.catalog.deleteCheck(this.node, id, this.raft.next());
  }

  /** pass / warn / fail / update: sets the status and restarts the TTL. */
  updateCheck(id: string, status: string, output: string): void {
    if (!CHECK_STATUSES.includes(status as CheckStatus)) {
      throw new HttpError(
        400,
        `Invalid check status: ${JSON.stringify(status)} (use passing, warning or critical)`,
      );
    }
    const def = this.ttl.get(id);
    if (!def)
      throw new HttpError(
        404,
        `Unknown check ID ${JSON.stringify(id)}. Only TTL checks can be updated.`,
      );
    this.setStatus(id, status as CheckStatus, output);
    this.arm(id, def);
  }

  ttlDefinitions(): [string, TtlDefinition][] {
    return [...this.ttl];
  }

  /** After a restore or a load: timers for the TTL checks that exist, none for the others. */
  resume(definitions: [string, TtlDefinition][]): void {
    this.stop();
    this.ttl.clear();
    for (const [id, def] of definitions) {
      const check = this.catalog.check(this.node, id);
      if (!check) continue;
      this.ttl.set(id, def);
      this.arm(id, def);
      if (check.Status === 'critical') this.startReaping(id, def);
    }
  }

  stop(): void {
    for (const timer of this.expiry.values()) clearTimeout(timer);
    for (const timer of this.reaping.values()) clearTimeout(timer);
    this.expiry.clear();
    this.reaping.clear();
  }

  private checkDefinition(
    check: GoObject,
    defaultId: string,
    serviceId: string,
    defaultName: string,
  ) {
    const ttlMs = check.duration('TTL');
    if (ttlMs === undefined || ttlMs <= 0) {
      const kind = ['HTTP', 'TCP', 'Args', 'GRPC', 'DockerContainerID', 'AliasService'].find((k) =>
        check.has(k),
      );
      throw new HttpError(
        400,
        kind
          ? `consul-dev runs TTL checks only; ${kind} checks are not supported. Use "TTL": "15s" and report health with /v1/agent/check/pass.`
          : 'Check must have a TTL such as "15s"',
      );
    }
    const status = check.string('Status', 'critical');
    if (!CHECK_STATUSES.includes(status as CheckStatus))
      throw new HttpError(400, `Invalid check status: ${JSON.stringify(status)}`);
    return {
      id: check.string('CheckID') || check.string('ID') || defaultId,
      name: check.string('Name') || defaultName,
      notes: check.string('Notes'),
      status: status as CheckStatus,
      serviceId,
      ttl: {
        ttlMs,
        deregisterAfterMs: check.duration('DeregisterCriticalServiceAfter'),
        serviceId,
      },
    };
  }

  private addCheck(def: ReturnType<Agent['checkDefinition']>, index: number): void {
    this.catalog.upsertCheck(
      this.node,
      {
        Node: this.node,
        CheckID: def.id,
        Name: def.name,
        Status: def.status,
        Notes: def.notes,
        Output: '',
        ServiceID: def.serviceId,
        Type: 'ttl',
      },
      index,
    );
    this.ttl.set(def.id, def.ttl);
    this.arm(def.id, def.ttl);
    if (def.status === 'critical') this.startReaping(def.id, def.ttl);
  }

  private setStatus(id: string, status: CheckStatus, output: string): void {
    this.catalog.setCheckStatus(this.node, id, status, output, () => this.raft.next());
    const def = this.ttl.get(id);
    if (status === 'critical' && def) this.startReaping(id, def);
    if (status !== 'critical') this.stopReaping(id);
  }

  private arm(id: string, def: TtlDefinition): void {
    clearTimeout(this.expiry.get(id));
    const timer = setTimeout(() => {
      this.expiry.delete(id);
      this.setStatus(
        id,
        'critical',
        `TTL expired (last update more than ${formatGoDuration(def.ttlMs)} ago)`,
      );
    }, def.ttlMs);
    timer.unref();
    this.expiry.set(id, timer);
  }

  private startReaping(id: string, def: TtlDefinition): void {
    if (def.deregisterAfterMs === undefined || !def.serviceId || this.reaping.has(id)) return;
    const timer = setTimeout(() => {
      this.reaping.delete(id);
      if (this.catalog.service(this.node, def.serviceId)) this.deregisterService(def.serviceId);
    }, def.deregisterAfterMs);
    timer.unref();
    this.reaping.set(id, timer);
  }

  private stopReaping(id: string): void {
    clearTimeout(this.reaping.get(id));
    this.reaping.delete(id);
  }

  private forget(id: string): void {
    clearTimeout(this.expiry.get(id));
    this.expiry.delete(id);
    this.stopReaping(id);
    this.ttl.delete(id);
  }
}

export function serviceInput(
  id: string,
  name: string,
  tags: string[],
  address: string,
  port: number,
  meta: Record<string, string>,
  enableTagOverride = false,
) {
  return {
    ID: id,
    Service: name,
    Tags: tags,
    Address: address,
    Meta: meta,
    Port: port,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: enableTagOverride,
  };
}
