import {
  BOOL,
  type FieldType,
  INT,
  listOf,
  mapOf,
  STRING,
  STRINGS,
  type StructType,
  struct,
} from './filter';

// The selectors Consul documents for each filterable endpoint (the "Filtering" tables of its
// catalog, health and agent API pages). They are the Go field names of what the endpoint
// returns, case and all: `Meta.env` selects, `meta.env` is "not valid".

const stringMap = mapOf(STRING);
const weights = struct({ Passing: INT, Warning: INT });
const meshGateway = struct({ Mode: STRING });
const connect = struct({ Native: BOOL });
/** A service's tagged address; its JSON says `address` and `port`, its selectors do not. */
const serviceAddress = struct({ Address: STRING, Port: INT }, { Address: 'address', Port: 'port' });

const proxy = struct({
  DestinationServiceName: STRING,
  DestinationServiceID: STRING,
  LocalServiceAddress: STRING,
  LocalServicePort: INT,
  Mode: STRING,
  TransparentProxy: struct({ OutboundListenerPort: INT }),
  MeshGateway: meshGateway,
  Upstreams: listOf(
    struct({
      Datacenter: STRING,
      DestinationName: STRING,
      DestinationNamespace: STRING,
      DestinationType: STRING,
      LocalBindAddress: STRING,
      LocalBindPort: INT,
      MeshGateway: meshGateway,
    }),
  ),
});

/** GET /v1/catalog/nodes, and the Node of a health service entry. */
const node = struct({
  ID: STRING,
  Node: STRING,
  Address: STRING,
  Datacenter: STRING,
  TaggedAddresses: stringMap,
  Meta: stringMap,
});

/** A service instance as the agent and health endpoints show it. */
const nodeServiceFields: Record<string, FieldType> = {
  Kind: STRING,
  ID: STRING,
  Service: STRING,
  Tags: STRINGS,
  Address: STRING,
  TaggedAddresses: mapOf(serviceAddress),
  Meta: stringMap,
  Port: INT,
  Weights: weights,
  EnableTagOverride: BOOL,
  Proxy: proxy,
  Connect: connect,
};

const healthCheck = struct({
  Node: STRING,
  CheckID: STRING,
  Name: STRING,
  Status: STRING,
  Notes: STRING,
  Output: STRING,
  ServiceID: STRING,
  ServiceName: STRING,
  ServiceTags: STRINGS,
  Type: STRING,
});

export const filterSchemas: Record<
  'node' | 'serviceNode' | 'checkServiceNode' | 'healthCheck' | 'agentService',
  StructType
> = {
  node,
  /** GET /v1/catalog/service/:name entries; /v1/catalog/services filters these too. */
  serviceNode: struct({
    ID: STRING,
    Node: STRING,
    Address: STRING,
    Datacenter: STRING,
    TaggedAddresses: stringMap,
    NodeMeta: stringMap,
    ServiceKind: STRING,
    ServiceID: STRING,
    ServiceName: STRING,
    ServiceTags: STRINGS,
    ServiceAddress: STRING,
    ServiceTaggedAddresses: mapOf(serviceAddress),
    ServiceMeta: stringMap,
    ServicePort: INT,
    ServiceWeights: weights,
    ServiceEnableTagOverride: BOOL,
    ServiceProxy: proxy,
    ServiceConnect: connect,
  }),
  /** GET /v1/health/service/:name entries. */
  checkServiceNode: struct({
    Node: node,
    Service: struct(nodeServiceFields),
    Checks: listOf(healthCheck),
  }),
  /** GET /v1/health/node, checks and state, and the values of /v1/agent/checks. */
  healthCheck,
  /** The values of GET /v1/agent/services. */
  agentService: struct(nodeServiceFields),
};
