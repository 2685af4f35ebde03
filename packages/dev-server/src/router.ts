import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_ACL_POLICY_HEADER, HttpError, type Request, send } from './http';
import type { Handler, Route } from './routes/route';

const METHODS = ['GET', 'PUT', 'DELETE'] as const;

function tokenOf(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const header = req.headers['x-consul-token'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  return query.get('token') ?? undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface RouterOptions {
  datacenter: string;
  aclToken: string | undefined;
}

/** `/v1/kv/` of `/v1/kv/a/b`: the first two segments, where the prefix routes part ways. */
function areaOf(path: string): string {
  const second = path.indexOf('/', path.indexOf('/', 1) + 1);
  return second < 0 ? '' : path.slice(0, second + 1);
}

/** Turns the route table into one request listener with Consul's checks and error answers. */
export function createRouter(routes: Route[], options: RouterOptions) {
  const exact = new Map<string, Route>();
  // Prefix routes by area, longest first within each: a KV request looks at one route, not
  // at every prefix route of the table (twenty string comparisons on every write).
  const prefixed = new Map<string, Route[]>();
  for (const route of routes) {
    if (!route.path.endsWith('/')) exact.set(route.path, route);
    else {
      const area = areaOf(route.path);
      prefixed.set(area, [...(prefixed.get(area) ?? []), route]);
    }
  }
  for (const list of prefixed.values()) list.sort((a, b) => b.path.length - a.path.length);
  const defaultAclPolicy = options.aclToken === undefined ? 'allow' : 'deny';

  const none: Route[] = [];
  // Prefix routes shorter than an area (none today) come after the area's, being shorter.
  const short = prefixed.get('') ?? none;

  const longest = (list: Route[], path: string) => {
    for (const p of list)
      if (path.startsWith(p.path)) return { route: p, rest: path.slice(p.path.length) };
    return undefined;
  };
  const find = (path: string): { route: Route; rest: string } | undefined => {
    const route = exact.get(path);
    if (route) return { route, rest: '' };
    return longest(prefixed.get(areaOf(path)) ?? none, path) ?? longest(short, path);
  };

  const check = (r: Request, route: Route): Handler => {
    if (options.aclToken !== undefined && !route.public) {
      const token = tokenOf(r.req, r.query);
      if (token === undefined || token === 'anonymous')
        throw new HttpError(403, 'Permission denied');
      if (!sameSecret(token, options.aclToken)) throw new HttpError(403, 'ACL not found');
    }
    // Most requests carry no parameter at all: skip asking for each one.
    if (r.query.size > 0) {
      const dc = r.query.get('dc');
      if (dc && dc !== options.datacenter)
        throw new HttpError(500, `No path to datacenter ${JSON.stringify(dc)}`);
      if (r.query.has('stale') && r.query.has('consistent'))
        throw new HttpError(400, 'Cannot specify ?stale with ?consistent, conflicting semantics.');
    }
    // Consul sends its ACL default with every read's query metadata. A blocking read sends
    // it with its answer: set here, the header would cost each parked query an object.
    if (r.method === 'GET') {
      r.defaultAclPolicy = defaultAclPolicy;
      if (!route.blocking) r.res.setHeader(DEFAULT_ACL_POLICY_HEADER, defaultAclPolicy);
    }
    const handler = route[r.method as (typeof METHODS)[number]];
    if (!handler) {
      r.res.setHeader('Allow', METHODS.filter((m) => route[m]).join(', '));
      throw new HttpError(405, `method ${r.method} not allowed`);
    }
    return handler;
  };

  const fail = (r: Request, error: unknown) => {
    const status = error instanceof HttpError ? error.status : 500;
    const message = error instanceof Error ? error.message : String(error);
    if (r.res.headersSent) {
      r.res.destroy();
      return;
    }
    // A body we stopped reading (too large, bad JSON) would otherwise be taken as the next request.
    if (!r.req.complete) r.res.setHeader('Connection', 'close');
    const policy = r.defaultAclPolicy;
    send(
      r.res,
      { status, body: message },
      policy === undefined ? undefined : { [DEFAULT_ACL_POLICY_HEADER]: policy },
    );
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const r: Request = {
      req,
      res,
      method: req.method ?? 'GET',
      path: q < 0 ? url : url.slice(0, q),
      query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)),
    };
    try {
      const found = find(r.path);
      if (!found) throw new HttpError(404, `Unknown endpoint ${r.path}`);
      const result = check(r, found.route)(r, found.rest);
      if (result) result.catch((error: unknown) => fail(r, error));
    } catch (error) {
      fail(r, error);
    }
  };
}
