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

/** `event`: user events, GET /v1/event/list?name=. Each event is delivered once, by ID. */
export const eventWatch = defineWatchType<
  EventParams,
  RawEvent[],
  readonly UserEvent[],
  EventChange
>({
  indexKind: 'hash',
  validate(p) {
    if (p.name !== undefined && (typeof p.name !== 'string' || p.name === '')) {
      throw new InvalidInputError(
        'event watch: name must be a non-empty string, or left out for every event',
      );
    }
  },
  describe: (p) => (p.name ? `event ${JSON.stringify(p.name)}` : 'events'),
  fetch: (p, ctx) =>
    blockingFetch(`watch ${p.name ? `event ${JSON.stringify(p.name)}` : 'events'}`, ctx, (c, o) =>
      c.event.list({ ...o, ...(p.name ? { name: p.name } : {}) }),
    ),
  normalise: (raw) =>
    (raw ?? []).map((e) => ({
      ...e,
      // The client leaves Payload base64 when asked for the response too.
      Payload:
        e.Payload === null || e.Payload === undefined
          ? null
          : Buffer.isBuffer(e.Payload)
            ? e.Payload
            : Buffer.from(e.Payload, 'base64'),
    })),
  diff(prev, next, p) {
    if (prev === undefined) return { events: p.replay ? [...next] : [] };
    const seen = new Set(prev.map((e) => e.ID));
    const events = next.filter((e) => !seen.has(e.ID));
    return events.length === 0 ? undefined : { events };
  },
});
