import { serveBlocking } from '../blocking';
import { parseGoDuration } from '../goDuration';
import { GoObject } from '../goJson';
import { decodePath, HttpError, json, type Request, readJson, send } from '../http';
import { SESSIONS_TOPIC, type Session, type SessionBehavior } from '../sessionStore';
import { missing } from './agent';
import type { Route, RouteContext } from './route';

const NS_PER_MS = 1_000_000;
const DEFAULT_LOCK_DELAY_MS = 15_000;

/** Field order as Consul writes a session. */
const sessionJson = (s: Session) => ({
  ID: s.ID,
  Name: s.Name,
  Node: s.Node,
  LockDelay: s.LockDelay,
  Behavior: s.Behavior,
  TTL: s.TTL,
  NodeChecks: s.NodeChecks,
  ServiceChecks: s.ServiceChecks,
  CreateIndex: s.CreateIndex,
  ModifyIndex: s.ModifyIndex,
});

/**
 * LockDelay as Consul's HTTP endpoint reads it: a duration string, or a number taken as
 * seconds below 1000 and as nanoseconds from there on. Returns nanoseconds.
 */
function lockDelayNs(body: GoObject): number {
  const raw = body.raw('LockDelay');
  if (raw === undefined || raw === null) return DEFAULT_LOCK_DELAY_MS * NS_PER_MS;
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0)
    return raw < 1000 ? raw * 1000 * NS_PER_MS : raw;
  const ms = typeof raw === 'string' ? parseGoDuration(raw) : undefined;
  if (ms === undefined || ms < 0)
    throw new HttpError(
      400,
      `Request decode failed: session.LockDelay must be a duration such as "15s" (got ${JSON.stringify(raw)})`,
    );
  return Math.round(ms * NS_PER_MS);
}

export function sessionRoutes({ state, pretty }: RouteContext): Route[] {
  const { sessions, waiters, agent } = state;
  const id = (rest: string) => decodePath(rest) || missing('session');
  const read = (r: Request, value: () => unknown) =>
    serveBlocking(r, waiters, {
      topic: SESSIONS_TOPIC,
      run: () => ({ index: BigInt(sessions.index), ...json(value(), pretty(r)) }),
    });

  const create = async (r: Request) => {
    const body = new GoObject((await readJson(r.req, 64 * 1024)) ?? {}, 'session');
    const behavior = body.string('Behavior') || 'release';
    if (behavior !== 'release' && behavior !== 'delete')
      throw new HttpError(500, `Invalid Behavior setting '${behavior}'`);
    const given = body.has('NodeChecks') || body.has('Checks');
    const nodeChecks = given
      ? [...new Set([...body.strings('NodeChecks'), ...body.strings('Checks')])]
      : ['serfHealth'];
    const serviceChecks = body.has('ServiceChecks')
      ? body.objects('ServiceChecks').map((c) => ({
          ID: c.string('ID') || missingCheckId(),
          Namespace: c.string('Namespace'),
        }))
      : null;
    const session = sessions.create({
      Name: body.string('Name'),
      Node: body.string('Node') || agent.node,
      LockDelay: lockDelayNs(body),
      Behavior: behavior as SessionBehavior,
      TTL: body.string('TTL'),
      NodeChecks: nodeChecks,
      ServiceChecks: serviceChecks,
    });
    send(r.res, json({ ID: session.ID }, pretty(r)));
  };

  return [
    { path: '/v1/session/create', PUT: create },
    {
      path: '/v1/session/destroy/',
      PUT: (r, rest) => {
        sessions.destroy(id(rest));
        send(r.res, json(true));
      },
    },
    {
      path: '/v1/session/renew/',
      PUT: (r, rest) => {
        const session = sessions.renew(id(rest));
        if (!session) throw new HttpError(404, `Session id '${id(rest)}' not found`);
        send(r.res, json([sessionJson(session)], pretty(r)));
      },
    },
    {
      path: '/v1/session/info/',
      GET: (r, rest) => {
        const wanted = id(rest);
        read(r, () => {
          const session = sessions.get(wanted);
          return session ? [sessionJson(session)] : [];
        });
      },
    },
    {
      path: '/v1/session/node/',
      GET: (r, rest) => {
        const node = decodePath(rest) || missing('node name');
        read(r, () => sessions.ofNode(node).map(sessionJson));
      },
    },
    { path: '/v1/session/list', GET: (r) => read(r, () => sessions.list().map(sessionJson)) },
  ];
}

function missingCheckId(): never {
  throw new HttpError(400, 'Request decode failed: session.ServiceChecks[].ID must be set');
}
