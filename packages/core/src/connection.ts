import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { InvalidInputError } from './errors';
import { type Logger, silentLogger } from './logger';
import { urlForMessage } from './messageText';
import { namesOf } from './optionNames';

export type Consistency = 'default' | 'stale' | 'consistent';

export interface ConnectionOptions {
  /** `host:port`, a URL (`https://consul.example:8501`) or a unix socket (`unix:///var/run/consul.sock`). Env: CONSUL_HTTP_ADDR. Default 127.0.0.1:8500. */
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
  /** Folder applied to every KV path: `'app'` or `'app/'` makes `get('db')` read `app/db`. */
  prefix?: string;
  logger?: Logger;
}

export const CONNECTION_OPTIONS = namesOf<ConnectionOptions>({
  address: true,
  token: true,
  datacenter: true,
  secure: true,
  verify: true,
  ca: true,
  cert: true,
  key: true,
  consistency: true,
  prefix: true,
  logger: true,
});

export interface Connection {
  baseUrl: string;
  /** The agent's unix socket, when the address is `unix:///path`; requests go there. */
  socketPath?: string;
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
  /** Whether the caller gave a logger (even a silent one): if not, outages nobody hears go to stderr. */
  loggerGiven: boolean;
  /** Where the address came from, so a message can point at the right place to fix it. */
  addressFrom: 'option' | 'CONSUL_HTTP_ADDR' | 'default';
}

/**
 * Refuses a token that cannot travel in an HTTP header (control characters, spaces, non-ASCII),
 * where every request would fail; the message never shows the token.
 */
export function checkToken(token: unknown, where: string): string | undefined {
  if (token === undefined || token === '') return undefined;
  if (typeof token !== 'string')
    throw new InvalidInputError(
      `${where}: token must be a string, got ${token === null ? 'null' : typeof token}`,
    );
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new InvalidInputError(
      `${where}: token contains characters that cannot be sent in the X-Consul-Token header (a line break, space or control character); check where it was read from`,
    );
  }
  return token;
}

type Pem = string | Buffer;

function isPem(value: Pem): boolean {
  return (typeof value === 'string' ? value : value.toString('latin1')).includes('-----BEGIN');
}

/** Checks the TLS material up front, so a mistake is named here and not as "cannot reach Consul" on every call. */
function checkTls(ca: Pem | undefined, cert: Pem | undefined, key: Pem | undefined): void {
  const material: [string, Pem | undefined][] = [
    ['ca', ca],
    ['cert', cert],
    ['key', key],
  ];
  for (const [name, value] of material) {
    if (value === undefined) continue;
    if (typeof value !== 'string' && !Buffer.isBuffer(value))
      throw new InvalidInputError(`${name} must be PEM text or a Buffer of it`);
    if (!isPem(value)) {
      // Only something shaped like a short path is shown: the value may be key material
      // in another encoding (base64 from a secret store).
      const path =
        typeof value === 'string' &&
        value.length < 256 &&
        /^[^\n]*(\/|\.(pem|crt|key)$)/.test(value);
      throw new InvalidInputError(
        path
          ? `${name} must be PEM text, not a file path: pass readFileSync(${JSON.stringify(value)}) or set the CONSUL_${name === 'ca' ? 'CACERT' : name === 'cert' ? 'CLIENT_CERT' : 'CLIENT_KEY'} variable to the path`
          : `${name} is not PEM (a ${typeof value === 'string' ? `${value.length}-character string` : `${value.length}-byte Buffer`}): expected text starting with -----BEGIN; base64 of a PEM file must be decoded first`,
      );
    }
  }
  try {
    if (ca) new X509Certificate(ca);
  } catch (error) {
    throw new InvalidInputError(
      `ca is not a readable PEM certificate (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  if ((cert === undefined) !== (key === undefined))
    throw new InvalidInputError(
      'cert and key go together: give both for a client certificate, or neither',
    );
  if (cert === undefined || key === undefined) return;
  try {
    new X509Certificate(cert);
  } catch (error) {
    throw new InvalidInputError(
      `cert is not a readable PEM certificate (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  try {
    createPrivateKey(key);
  } catch (error) {
    throw new InvalidInputError(
      `key is not a readable PEM private key (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new InvalidInputError(
      `key does not belong to cert (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give the client certificate's own private key`,
    );
  }
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
  if (options === null || typeof options !== 'object')
    throw new InvalidInputError(
      `options must be an object such as { address: '127.0.0.1:8500' }, got ${options === null ? 'null' : typeof options}`,
    );
  const rawAddress = options.address ?? env.CONSUL_HTTP_ADDR ?? '127.0.0.1:8500';
  if (typeof rawAddress !== 'string')
    throw new InvalidInputError(
      `address must be a string such as '127.0.0.1:8500' or 'https://consul:8501', got ${typeof rawAddress}`,
    );
  const shown = JSON.stringify(urlForMessage(rawAddress));
  // The agent's unix socket, as the consul CLI takes it: `unix:///var/run/consul.sock`.
  let socketPath: string | undefined;
  if (/^unix:/i.test(rawAddress)) {
    socketPath = rawAddress.replace(/^unix:(\/\/)?/i, '');
    if (!socketPath.startsWith('/'))
      throw new InvalidInputError(
        `address ${shown} must name the socket by its absolute path, such as 'unix:///var/run/consul/http.sock'`,
      );
  }
  const secureFlag = options.secure ?? envFlag(env.CONSUL_HTTP_SSL, 'CONSUL_HTTP_SSL') ?? false;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(rawAddress)
    ? rawAddress
    : `${secureFlag ? 'https' : 'http'}://${rawAddress}`;
  let url: URL;
  try {
    url = new URL(socketPath ? 'http://localhost' : withScheme);
  } catch {
    throw new InvalidInputError(`address ${shown} is not host:port or an http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInputError(`address ${shown} must use http or https, not ${url.protocol}`);
  }
  if (url.username || url.password) {
    throw new InvalidInputError(
      'address must not carry credentials; pass the ACL token as the token option or CONSUL_HTTP_TOKEN',
    );
  }
  // Consul serves its API at /v1/ from the root; a path here would be put before /v1/ and
  // every read would be a 404, which reads as a missing key. A query or fragment has no use.
  const extra = [
    url.pathname !== '/' && url.pathname !== '' ? `a path (${url.pathname})` : '',
    url.search !== '' || rawAddress.includes('?') ? 'a query' : '',
    url.hash !== '' || rawAddress.includes('#') ? 'a fragment' : '',
  ].filter(Boolean);
  if (extra.length > 0) {
    const name = options.address !== undefined ? 'address' : 'CONSUL_HTTP_ADDR';
    throw new InvalidInputError(
      `${name} ${shown} has ${extra.join(' and ')}: give the agent's scheme, host and port only, such as ${JSON.stringify(`${url.protocol}//${url.host}`)}; consul-watch adds /v1/ itself`,
    );
  }
  const consistency = options.consistency ?? 'default';
  if (!['default', 'stale', 'consistent'].includes(consistency)) {
    throw new InvalidInputError(
      `consistency ${JSON.stringify(consistency)} must be 'default', 'stale' or 'consistent'`,
    );
  }
  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string')
    throw new InvalidInputError(`prefix must be a string such as 'app/', got ${typeof prefix}`);
  if (prefix.startsWith('/'))
    throw new InvalidInputError(`prefix ${JSON.stringify(prefix)} must not begin with '/'`);
  // A folder, as in Consul's own tools and Spring Cloud Consul: 'myapp' and 'myapp/' are one.
  const folder = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  const secure = url.protocol === 'https:';
  const verify =
    options.verify ?? envFlag(env.CONSUL_HTTP_SSL_VERIFY, 'CONSUL_HTTP_SSL_VERIFY') ?? true;
  const tls: Connection['tls'] = { rejectUnauthorized: verify };
  const ca = options.ca ?? envFile(env.CONSUL_CACERT, 'CONSUL_CACERT');
  const cert = options.cert ?? envFile(env.CONSUL_CLIENT_CERT, 'CONSUL_CLIENT_CERT');
  const key = options.key ?? envFile(env.CONSUL_CLIENT_KEY, 'CONSUL_CLIENT_KEY');
  checkTls(ca, cert, key);
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  const token = checkToken(options.token ?? (env.CONSUL_HTTP_TOKEN || undefined), 'connection');
  return {
    baseUrl: `${url.protocol}//${url.host}/v1`,
    ...(socketPath ? { socketPath } : {}),
    secure,
    display: socketPath ? `unix://${socketPath}` : `${url.protocol}//${url.host}`,
    token,
    datacenter: options.datacenter ?? (env.CONSUL_DATACENTER || undefined),
    consistency,
    prefix: folder,
    tls,
    logger: options.logger ?? silentLogger,
    loggerGiven: options.logger !== undefined,
    addressFrom:
      options.address !== undefined
        ? 'option'
        : env.CONSUL_HTTP_ADDR !== undefined
          ? 'CONSUL_HTTP_ADDR'
          : 'default',
  };
}
