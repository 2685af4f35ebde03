import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consulFetch, type Fixture, fixture, record } from '../test/helpers';

let f: Fixture;
beforeAll(async () => {
  f = await fixture();
});
afterAll(() => f.close());

const fire = (name: string, payload: string) =>
  consulFetch(f.agent, 'PUT', `/v1/event/fire/${name}`, payload);

describe('event watch', () => {
  it('does not replay events that were in the buffer when it started, and delivers each new one once', async () => {
    const name = `deploy-${randomUUID().slice(0, 8)}`;
    await fire(name, 'old');
    const r = record(f.client.watch({ type: 'event', name }));
    const first = await r.until((c) => c.initial);
    expect(first.events).toEqual([]);
    await fire(name, 'v2');
    const got = await r.until((c) => c.events.length > 0);
    expect(got.events.map((e) => e.Payload?.toString())).toEqual(['v2']);
    await fire(name, 'v3');
    await r.until((c) => c.events.some((e) => e.Payload?.toString() === 'v3'));
    const payloads = r.changes.flatMap((c) => c.events.map((e) => e.Payload?.toString()));
    expect(payloads).toEqual(['v2', 'v3']);
  });

  it.skipIf(!!process.env.CONSUL_HTTP_ADDR)(
    'does not deliver an event again when it leaves the buffer and comes back (a restore, another agent)',
    async () => {
      const dev = f.agent.dev!;
      const name = `again-${randomUUID().slice(0, 8)}`;
      const r = record(f.client.watch({ type: 'event', name }));
      await r.until((c) => c.initial);
      const before = dev.snapshot();
      await fire(name, 'e1');
      await r.until((c) => c.events.some((e) => e.Payload?.toString() === 'e1'));
      const withE1 = dev.snapshot();
      dev.restore(before); // e1 leaves the buffer
      await fire(name, 'e2');
      await r.until((c) => c.events.some((e) => e.Payload?.toString() === 'e2'));
      dev.restore(withE1); // e1 is back, e2 gone
      await fire(name, 'e3');
      await r.until((c) => c.events.some((e) => e.Payload?.toString() === 'e3'));
      const payloads = r.changes.flatMap((c) => c.events.map((e) => e.Payload?.toString()));
      expect(payloads).toEqual(['e1', 'e2', 'e3']);
    },
  );

  it('replays the buffered events when asked, and filters by name', async () => {
    const name = `cfg-${randomUUID().slice(0, 8)}`;
    await fire(name, 'one');
    await fire(`other-${name}`, 'not mine');
    const r = record(f.client.watch({ type: 'event', name, replay: true }));
    const first = await r.until((c) => c.initial);
    expect(first.events.map((e) => [e.Name, e.Payload?.toString()])).toEqual([[name, 'one']]);
  });
});
