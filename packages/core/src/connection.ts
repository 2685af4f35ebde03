import { readFileSync } from 'node:fs';
import { InvalidInputError } from './errors';
import { type Logger, silentLogger } from './logger';

export type Consistency = 'default' | 'stale' | 'consistent';

export interface ConnectionOptions {
  /** `host:port` or a URL (`https://consul.example:8501`). Env: CONSUL_HTTP_ADDR. Default 127.0.0.1:8500. */
  address?: string;
  /** ACL token, sent only as the X-Consul-Token header. Env: CONSUL_HTTP_TOKEN. */
  token?: string;
  /** Env: CONSUL_DATACENTER. Default: the agent's own. */
  datacenter?: string;
  /** Use HTTPS when the address has no scheme. Env: CONSUL_HTTP_SSL. */
  secure?: boolean;
  /** Verify the server certificate. Env: CONSUL_HTTP_SSL_VERIFY. Default true. */
  verify?: boolean;
  /** CA certificate (PEM text or Buffer). Env: CONSUL_CACERT (a file path). */
  ca?: string | Buffer;
  /** Client certificate (PEM). Env: CONSUL_CLIENT_CERT (a file path). */
  cert?: string | Buffer;
  /** Client key (PEM). Env: CONSUL_CLIENT_KEY (a file path). */
  key?: string | Buffer;
  /** Consistency mode of reads. Default 'default'. */
  consistency?: Consistency;
  /** Prefix applied to every KV path (`app/` makes `get('db')` read `app/db`). */
  prefix?: string;
  logger?: Logger;
}

export interface Connection {
  baseUrl: string;
  secure: boolean;
  /** Where the agent is, for messages: never carries credentials. */
  display: string;
  token: string | undefined;
  datacenter: string | undefined;
  consistency: Consistency;
  prefix: string;
  tls: {
    ca?: string | Buffer;
    cert?: string | Buffer;
    key?: string | Buffer;
    rejectUnauthorized: boolean;
  };
  logger: Logger;
}

function envFlag(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^(1|true|yes)$/i.test(value)) return true;
  if (/^(0|false|no)$/i.test(value)) return false;
  throw new InvalidInputError(
    `${name}=${JSON.stringify(value)} is not a boolean: use true or false`,
  );
}

function envFile(path: string | undefined, name: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new InvalidInputError(
      `${name} points at ${path}, which cannot be read (${(error as NodeJS.ErrnoException).code}). Fix the path or unset ${name}.`,
    );
  }
}

/**
 * Options first, then Consul's own environment variables as the `consul` CLI reads them.
 * This is the one place core reads `process.env`.
 */
export function resolveConnection(
  options: ConnectionOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): Connection {
  const rawAddress = options.address ?? env.CONSUL_HTTP_ADDR ?? '127.0.0.1:8500';
  const secureFlag = options.secure ?? envFlag(env.CONSUL_HTTP_SSL, 'CONSUL_HTTP_SSL') ?? false;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(rawAddress)
    ? rawAddress
    : `${secureFlag ? 'https' : 'http'}://${rawAddress}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidInputError(
      `address ${JSON.stringify(rawAddress)} is not host:port or an http(s) URL`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInputError(
      `address ${JSON.stringify(rawAddress)} must use http or https, not ${url.protocol}`,
    );
  }
  if (url.username || url.password) {
    throw new InvalidInputError(
      'address must not carry credentials; pass the ACL token as the token option or CONSUL_HTTP_TOKEN',
    );
  }
  const consistency = options.consistency ?? 'default';
  if (!['default', 'stale', 'consistent'].includes(consistency)) {
    throw new InvalidInputError(
      `consistency ${JSON.stringify(consistency)} must be 'default', 'stale' or 'consistent'`,
    );
  }
  const prefix = options.prefix ?? '';
  if (prefix.startsWith('/'))
    throw new InvalidInputError(`prefix ${JSON.stringify(prefix)} must not begin with '/'`);
  const secure = url.protocol === 'https:';
  const verify =
    options.verify ?? envFlag(env.CONSUL_HTTP_SSL_VERIFY, 'CONSUL_HTTP_SSL_VERIFY') ?? true;
  const tls: Connection['tls'] = { rejectUnauthorized: verify };
  const ca = options.ca ?? envFile(env.CONSUL_CACERT, 'CONSUL_CACERT');
  const cert = options.cert ?? envFile(env.CONSUL_CLIENT_CERT, 'CONSUL_CLIENT_CERT');
  const key = options.key ?? envFile(env.CONSUL_CLIENT_KEY, 'CONSUL_CLIENT_KEY');
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  const token = options.token ?? (env.CONSUL_HTTP_TOKEN || undefined);
  return {
    baseUrl: `${url.protocol}//${url.host}${url.pathname.replace(/\/$/, '')}/v1`,
    secure,
    display: `${url.protocol}//${url.host}`,
    token,
    datacenter: options.datacenter ?? (env.CONSUL_DATACENTER || undefined),
    consistency,
    prefix,
    tls,
    logger: options.logger ?? silentLogger,
  };
}
