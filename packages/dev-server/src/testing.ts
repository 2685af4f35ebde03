import { type DevServer, type DevServerOptions, startDevServer } from './devServer';

export interface TestAgent {
  /** Base URL with scheme, e.g. `http://127.0.0.1:8500`. */
  url: string;
  /** `host:port`, the form CONSUL_HTTP_ADDR takes. */
  address: string;
  host: string;
  port: number;
  /** The embedded dev-server, or undefined when the tests run against a real agent. */
  dev: DevServer | undefined;
  close(): Promise<void>;
}

/**
 * The Consul a test talks to: the agent at CONSUL_HTTP_ADDR when it is set (so the same
 * suite checks behaviour against a real Consul), otherwise a fresh dev-server. Tests that
 * need dev-server controls (restore, dropConnections) skip when `dev` is undefined.
 */
export async function startTestAgent(options: DevServerOptions = {}): Promise<TestAgent> {
  const external = process.env.CONSUL_HTTP_ADDR;
  if (external) {
    const url = new URL(/^https?:\/\//.test(external) ? external : `http://${external}`);
    return {
      url: url.origin,
      address: url.host,
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      dev: undefined,
      close: async () => {},
    };
  }
  const dev = await startDevServer(options);
  return {
    url: dev.url,
    address: dev.address,
    host: dev.host,
    port: dev.port,
    dev,
    close: () => dev.close(),
  };
}

export { type FaultProxy, startFaultProxy } from './faultProxy';
export { handlesBeyond, openHandles, WATCHED_HANDLES } from './handles';
export { type RawAnswer, type RawRequest, rawRequest, until } from './rawRequest';
export { seededRandom } from './seededRandom';
