import { randomUUID } from 'node:crypto';

export interface UserEvent {
  ID: string;
  Name: string;
  Payload: string | null;
  NodeFilter: string;
  ServiceFilter: string;
  TagFilter: string;
  Version: 1;
  LTime: number;
}

export interface EventSnapshot {
  ltime: number;
  events: UserEvent[];
}

/** Consul keeps the most recent 256 user events per agent. */
export const EVENT_BUFFER_SIZE = 256;
export const EVENTS_TOPIC = 'events';

/**
 * The event list's index is not a Raft index: Consul derives it from the newest event's
 * UUID, XOR-ing its first 16 hex digits with its last 16. Clients must tell events apart by
 * ID; this index only says "the newest event is not the one you saw".
 */
export function eventIndex(id: string): bigint {
  const hex = id.replace(/-/g, '');
  return BigInt(`0x${hex.slice(0, 16)}`) ^ BigInt(`0x${hex.slice(16, 32)}`);
}

export class EventStore {
  private events: UserEvent[] = [];
  private ltime = 0;

  constructor(private readonly notify: (topic: string) => void) {}

  fire(input: Omit<UserEvent, 'ID' | 'Version' | 'LTime'>): UserEvent {
    this.ltime += 1;
    const event: UserEvent = { ID: randomUUID(), ...input, Version: 1, LTime: this.ltime };
    this.events.push(event);
    if (this.events.length > EVENT_BUFFER_SIZE)
      this.events.splice(0, this.events.length - EVENT_BUFFER_SIZE);
    this.notify(EVENTS_TOPIC);
    return event;
  }

  list(name?: string): UserEvent[] {
    return name ? this.events.filter((e) => e.Name === name) : [...this.events];
  }

  snapshot(): EventSnapshot {
    return { ltime: this.ltime, events: structuredClone(this.events) };
  }

  restore(snapshot: EventSnapshot): void {
    this.ltime = snapshot.ltime;
    this.events = structuredClone(snapshot.events);
    this.notify(EVENTS_TOPIC);
  }
}
