import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';
import type Consul from 'consul';
import type { Connection } from './connection';
import { ClientClosedError } from './errors';

/** The npm `consul` client on one connection, and how to let go of its sockets. */
export interface ApiClient {
  api: Consul;
  /** Closes its sockets; from then on every call through `api` rejects with ClientClosedError. */
  close(): void;
}

/**
 * The npm `consul` client configured from a connection: its address (a unix socket too), TLS
 * material, token (which that client sends as the X-Consul-Token header), datacenter and
 * consistency as defaults of every call. For the parts of Consul's API core does not wrap.
 */
export function apiClient(connection: Connection): ApiClient {
  const agent = connection.secure
    ? new HttpsAgent({ keepAlive: true, ...connection.tls })
    : new HttpAgent({
        keepAlive: true,
        ...(connection.socketPath ? { socketPath: connection.socketPath } : {}),
      });
  let closed = false;
  // Every request of the consul client, of any of its parts and of a reference kept from before
  // close(), asks this agent for a socket: after close() it gets ClientClosedError instead, so
  // nothing is sent and no socket is opened again.
  const connect = agent.createConnection;
  agent.createConnection = function (this: typeof agent, options, callback) {
    if (!closed) return connect.call(this, options, callback);
    const error = new ClientClosedError('client.api');
    if (!callback) throw error;
    callback(error, undefined as never);
    return undefined;
  };
  const defaults: { token?: string; dc?: string; stale?: boolean; consistent?: boolean } = {};
  if (connection.token) defaults.token = connection.token;
  if (connection.datacenter) defaults.dc = connection.datacenter;
  if (connection.consistency === 'stale') defaults.stale = true;
  if (connection.consistency === 'consistent') defaults.consistent = true;
  // `baseUrl` is what the client builds from host and port; given whole, it keeps the scheme.
  // Loaded here, on the first use of `client.api`, not with core: most processes never use
  // it, and loading it costs about 40 ms of CPU, which every process of a fleet paid at start-up.
  const ConsulClient = createRequire(import.meta.url)('consul') as typeof Consul;
  const api = new ConsulClient({
    baseUrl: connection.baseUrl,
    agent,
    defaults,
  } as ConstructorParameters<typeof Consul>[0]);
  return {
    api,
    close: () => {
      closed = true;
      agent.destroy();
    },
  };
}
