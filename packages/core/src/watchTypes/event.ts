import { InvalidInputError } from '../errors';
import { blockingFetch, defineWatchType } from './watchType';

/** A user event; Payload decoded to bytes (null when empty). */
export interface UserEvent {
  ID: string;
  Name: string;
  Payload: Buffer | null;
  NodeFilter: string;
  ServiceFilter: string;
  TagFilter: string;
  Version: number;
  LTime: number;
}

export interface EventChange {
  /** Events not delivered before, oldest first. */
  events: UserEvent[];
}

export interface EventParams {
  /** Only events of this name. */
  name?: string;
  /** Also deliver the events already in the agent's buffer when the watch starts. Default false. */
  replay?: boolean;
}

type RawEvent = Omit<UserEvent, 'Payload'> & { Payload: string | Buffer | null };

/** How many delivered event IDs a watch remembers: the agent keeps 256 events. */
const REMEMBERED = 4096;

/**
 * The agent's event buffer now, and the IDs delivered so far (the most recent 4,096): an
 * event that leaves the buffer and comes back (a snapshot restore, another agent after a
 * failover) is not delivered again.
 */
export interface EventState {
  events: readonly UserEvent[];
  seen: ReadonlySet<string>;
}

const EVENT_LIST = { path: '/event/list' };

/** `event`: user events, GET /v1/event/list?name=. Each event is delivered once, by ID. */
export const eventWatch = defineWatchType<EventParams, RawEvent[], EventState, EventChange>({
  indexKind: 'hash',
  params: ['name', 'replay'],
  validate(p) {
    if (p.name !== undefined && (typeof p.name !== 'string' || p.name === '')) {
      throw new InvalidInputError(
        'event watch: name must be a non-empty string, or left out for every event',
      );
    }
  },
  describe: (p) => (p.name ? `event ${JSON.stringify(p.name)}` : 'events'),
  fetch: (p, ctx) =>
    blockingFetch(
      `watch ${p.name ? `event ${JSON.stringify(p.name)}` : 'events'}`,
      ctx,
      p.name ? { path: '/event/list', query: `name=${encodeURIComponent(p.name)}` } : EVENT_LIST,
    ),
  normalise(raw, _p, { previous }) {
    const events = (raw ?? []).map((e) => ({
      ...e,
      // The client leaves Payload base64 when asked for the response too.
      Payload:
        e.Payload === null || e.Payload === undefined
          ? null
          : Buffer.isBuffer(e.Payload)
            ? e.Payload
            : Buffer.from(e.Payload, 'base64'),
    }));
    const seen = new Set(previous?.seen);
    for (const e of events) {
      seen.delete(e.ID); // re-added: most recent last
      seen.add(e.ID);
    }
    for (const id of seen) {
      if (seen.size <= REMEMBERED) break;
      seen.delete(id);
    }
    return { events, seen };
  },
  diff(prev, next, p) {
    if (prev === undefined) return { events: p.replay ? [...next.events] : [] };
    const events = next.events.filter((e) => !prev.seen.has(e.ID));
    return events.length === 0 ? undefined : { events };
  },
});
