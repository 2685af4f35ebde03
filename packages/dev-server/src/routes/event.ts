import { serveBlocking } from '../blocking';
import { EVENTS_TOPIC, eventIndex } from '../eventStore';
import { decodePath, HttpError, json, type Request, readBody, send } from '../http';
import { missing } from './agent';
import type { Route, RouteContext } from './route';

/** Consul refuses user events whose payload and name exceed serf's limit. */
export const EVENT_MAX_PAYLOAD = 100 * 1024;

function filter(r: Request, name: string): string {
  const value = r.query.get(name) ?? '';
  try {
    new RegExp(value);
  } catch {
    throw new HttpError(
      400,
      `Invalid ${name} filter ${JSON.stringify(value)}: not a regular expression`,
    );
  }
  return value;
}

export function eventRoutes({ state, pretty }: RouteContext): Route[] {
  const { events, waiters } = state;
  return [
    {
      path: '/v1/event/fire/',
      PUT: async (r: Request, rest: string) => {
        const name = decodePath(rest) || missing('name');
        const nodeFilter = filter(r, 'node');
        const serviceFilter = filter(r, 'service');
        const tagFilter = filter(r, 'tag');
        if (tagFilter && !serviceFilter)
          throw new HttpError(400, 'Cannot provide tag filter without service filter.');
        const payload = await readBody(r.req, EVENT_MAX_PAYLOAD);
        const event = events.fire({
          Name: name,
          Payload: payload.length === 0 ? null : payload.toString('base64'),
          NodeFilter: nodeFilter,
          ServiceFilter: serviceFilter,
          TagFilter: tagFilter,
        });
        send(r.res, json(event, pretty(r)));
      },
    },
    {
      path: '/v1/event/list',
      blocking: true,
      GET: (r: Request) => {
        const name = r.query.get('name') ?? undefined;
        serveBlocking(r, waiters, {
          topic: EVENTS_TOPIC,
          news: 'different',
          run: () => {
            const list = events.list(name);
            const last = list[list.length - 1];
            // No event: index 1, so a client never loops on index 0.
            return { index: last ? eventIndex(last.ID) : 1n, ...json(list, pretty(r)) };
          },
        });
      },
    },
  ];
}
