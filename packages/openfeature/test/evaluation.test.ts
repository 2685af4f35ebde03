import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { doc, type Fixture, fixture, flag, ProviderEvents, recordingLogger } from './helpers';

let f: Fixture;
beforeEach(async () => {
  f = await fixture();
});
afterEach(async () => {
  await f.close();
});

const onOff = { on: true, off: false };

describe('evaluation through the OpenFeature SDK, by flagd-core', () => {
  it('gives every flagd operator, the $flagd context, reasons and metadata', async () => {
    await f.writer.kv.put(
      'flags/all.json',
      doc(
        {
          plain: flag(onOff, 'on', { metadata: { owner: 'checkout' } }),
          off: { ...flag(onOff, 'on'), state: 'DISABLED' },
          staff: flag(onOff, 'off', {
            targeting: { if: [{ ends_with: [{ var: 'email' }, '@example.com'] }, 'on', null] },
          }),
          beta: flag(onOff, 'off', {
            targeting: { if: [{ starts_with: [{ var: 'email' }, 'beta-'] }, 'on', 'off'] },
          }),
          modern: flag(onOff, 'off', {
            targeting: { if: [{ sem_ver: [{ var: 'version' }, '>=', '2.1.0'] }, 'on', 'off'] },
          }),
          split: flag({ red: 'red', blue: 'blue' }, 'red', {
            targeting: { fractional: [{ var: 'targetingKey' }, ['red', 50], ['blue', 50]] },
          }),
          shared: flag(onOff, 'off', { targeting: { if: [{ $ref: 'isStaff' }, 'on', 'off'] } }),
          named: flag({ a: 'a', b: 'b' }, 'a', {
            targeting: { if: [{ '===': [{ var: '$flagd.flagKey' }, 'named'] }, 'b', 'a'] },
          }),
          dated: flag(onOff, 'off', {
            targeting: { if: [{ '>': [{ var: '$flagd.timestamp' }, 1_600_000_000] }, 'on', 'off'] },
          }),
          nested: flag(onOff, 'off', { targeting: { if: [{ $ref: 'staffOrBeta' }, 'on', 'off'] } }),
          count: flag({ low: 1, high: 100 }, 'low'),
          shape: flag({ a: { color: 'red' } }, 'a'),
        },
        {
          $evaluators: {
            staffOrBeta: {
              or: [{ $ref: 'isStaff' }, { starts_with: [{ var: 'email' }, 'beta-'] }],
            },
            isStaff: { ends_with: [{ var: 'email' }, '@example.com'] },
          },
          metadata: { flagSetId: 'all', version: '7' },
        },
      ),
    );
    await f.provide({ sources: ['flags/all.json'] });
    const c = f.client();

    const plain = await c.getBooleanDetails('plain', false);
    expect(plain).toMatchObject({ value: true, reason: 'STATIC', variant: 'on' });
    expect(plain.flagMetadata).toEqual({ owner: 'checkout', flagSetId: 'all', version: '7' });
    expect(await c.getBooleanDetails('off', false)).toMatchObject({
      value: false,
      reason: 'DISABLED',
    });
    expect(await c.getBooleanDetails('staff', false, { email: 'ann@example.com' })).toMatchObject({
      value: true,
      reason: 'TARGETING_MATCH',
    });
    expect(await c.getBooleanDetails('staff', false, { email: 'ann@other.org' })).toMatchObject({
      value: false,
      reason: 'DEFAULT',
    });
    expect(await c.getBooleanValue('beta', false, { email: 'beta-joe@x.org' })).toBe(true);
    expect(await c.getBooleanValue('beta', true, { email: 'joe@x.org' })).toBe(false);
    expect(await c.getBooleanValue('modern', false, { version: '2.10.0' })).toBe(true);
    expect(await c.getBooleanValue('modern', true, { version: '2.0.9' })).toBe(false);
    expect(await c.getBooleanValue('shared', false, { email: 'bo@example.com' })).toBe(true);
    expect(await c.getBooleanValue('nested', false, { email: 'bo@example.com' })).toBe(true);
    expect(await c.getBooleanValue('nested', false, { email: 'beta-x@x.org' })).toBe(true);
    expect(await c.getBooleanValue('nested', true, { email: 'x@x.org' })).toBe(false);
    expect(await c.getStringValue('named', '')).toBe('b');
    expect(await c.getBooleanValue('dated', false)).toBe(true);
    expect(await c.getNumberValue('count', 0)).toBe(1);
    expect(await c.getObjectValue('shape', {})).toEqual({ color: 'red' });

    // fractional: the same key always lands on the same variant, and both variants occur.
    const seen = new Map<string, string>();
    for (let i = 0; i < 200; i++) {
      const user = `user-${i}`;
      const first = await c.getStringValue('split', '', { targetingKey: user });
      expect(await c.getStringValue('split', '', { targetingKey: user })).toBe(first);
      seen.set(user, first);
    }
    const blue = [...seen.values()].filter((v) => v === 'blue').length;
    expect(blue).toBeGreaterThan(60);
    expect(blue).toBeLessThan(140);

    expect(await c.getBooleanDetails('missing', false)).toMatchObject({
      value: false,
      reason: 'ERROR',
      errorCode: 'FLAG_NOT_FOUND',
    });
    expect(await c.getStringDetails('plain', 'x')).toMatchObject({
      value: 'x',
      errorCode: 'TYPE_MISMATCH',
    });
  });

  it('reads a YAML document by its key extension', async () => {
    await f.writer.kv.put(
      'flags/app.yaml',
      'flags:\n  dark-mode:\n    state: ENABLED\n    variants: { on: true, off: false }\n    defaultVariant: on\n',
    );
    await f.provide({ sources: ['flags/app.yaml'] });
    expect(await f.client().getBooleanValue('dark-mode', false)).toBe(true);
  });
});

describe('sources', () => {
  it('layers keys and prefixes: later wins per flag key, $evaluators merged the same way', async () => {
    await f.writer.kv.put(
      'flags/shared.json',
      doc(
        {
          a: flag(onOff, 'on'),
          b: flag(onOff, 'on'),
          gated: flag(onOff, 'off', { targeting: { if: [{ $ref: 'who' }, 'on', 'off'] } }),
        },
        { $evaluators: { who: { '===': [{ var: 'team' }, 'red'] } } },
      ),
    );
    await f.writer.kv.put('flags/app/b', JSON.stringify(flag(onOff, 'off')));
    await f.writer.kv.put(
      'flags/app/c.yaml',
      'state: ENABLED\nvariants: { x: "x" }\ndefaultVariant: x\n',
    );
    await f.writer.kv.put(
      'flags/app/$evaluators',
      JSON.stringify({ who: { '===': [{ var: 'team' }, 'blue'] } }),
    );
    await f.provide({ sources: ['flags/shared.json', 'flags/app/'] });
    const c = f.client();
    expect(await c.getBooleanValue('a', false)).toBe(true);
    expect(await c.getBooleanValue('b', true)).toBe(false);
    expect(await c.getStringValue('c', '')).toBe('x');
    // The shared document's flag uses the app prefix's evaluator: later wins.
    expect(await c.getBooleanValue('gated', false, { team: 'blue' })).toBe(true);
    expect(await c.getBooleanValue('gated', true, { team: 'red' })).toBe(false);
  });

  it('names exactly the flags whose definition changed in PROVIDER_CONFIGURATION_CHANGED', async () => {
    await f.writer.kv.put(
      'flags/one.json',
      doc({ a: flag(onOff, 'on'), b: flag(onOff, 'on'), c: flag(onOff, 'on') }),
    );
    await f.writer.kv.put('flags/two/d', JSON.stringify(flag(onOff, 'on')));
    await f.provide({ sources: ['flags/one.json', 'flags/two/'] });

    let changed = f.next(ProviderEvents.ConfigurationChanged);
    await f.writer.kv.put(
      'flags/one.json',
      doc({
        a: flag(onOff, 'on'),
        b: flag(onOff, 'off'),
        c: flag(onOff, 'on'),
        e: flag(onOff, 'on'),
      }),
    );
    expect((await changed).flagsChanged?.sort()).toEqual(['b', 'e']);

    changed = f.next(ProviderEvents.ConfigurationChanged);
    await f.writer.kv.delete('flags/two/d');
    expect((await changed).flagsChanged).toEqual(['d']);

    // The same flag put under the later source with the same definition changes nothing;
    // with another definition, it changes that flag only.
    changed = f.next(ProviderEvents.ConfigurationChanged);
    await f.writer.kv.put('flags/two/a', JSON.stringify(flag(onOff, 'off')));
    expect((await changed).flagsChanged).toEqual(['a']);
    expect(await f.client().getBooleanValue('a', true)).toBe(false);
  });

  it('starts its watches once when initialize() is called again while it waits', async () => {
    const { createConsulWatch } = await import('@consul-watch/core');
    const shared = createConsulWatch({ address: f.dev.address });
    const { ConsulFlagProvider } = await import('../src');
    const provider = new ConsulFlagProvider({
      sources: ['flags/a.json', 'flags/b/'],
      client: shared,
    });
    try {
      await Promise.all([provider.initialize(), provider.initialize()]);
      expect(shared.activeQueries).toBe(2);
      expect(shared.watchReport()).toHaveLength(2);
    } finally {
      await provider.onClose();
      expect(shared.activeQueries).toBe(0);
      await shared.close();
    }
  });

  it('shares the watches of a given client and leaves that client open on close', async () => {
    const { createConsulWatch } = await import('@consul-watch/core');
    const shared = createConsulWatch({ address: f.dev.address });
    try {
      await f.writer.kv.put('flags/s.json', doc({ a: flag(onOff, 'on') }));
      const other = shared.watch({ type: 'key', key: 'flags/s.json' });
      await other.ready(5_000);
      const provider = await f.provide({ sources: ['flags/s.json'], client: shared });
      expect(shared.activeQueries).toBe(1);
      expect(await f.client().getBooleanValue('a', false)).toBe(true);
      await provider.onClose();
      expect(shared.activeQueries).toBe(1);
      await other.stop();
      expect(await shared.kv.get('flags/s.json')).toBeDefined();
    } finally {
      await shared.close();
    }
  });

  it('says once that a source holds nothing, naming it, and takes its flags when they come', async () => {
    const logger = recordingLogger();
    await f.provide({ sources: ['flags/none.json', 'flags/empty/'], logger });
    const said = logger.lines.filter((l) => l.includes('holds no flags'));
    expect(said).toHaveLength(2);
    expect(said[0]).toMatch(/source "flags\/none.json" holds no flags \(the key does not exist\)/);
    expect(said[1]).toMatch(/source "flags\/empty\/" holds no flags \(no key under this prefix\)/);
    const changed = f.next(ProviderEvents.ConfigurationChanged);
    await f.writer.kv.put('flags/empty/x', JSON.stringify(flag(onOff, 'on')));
    expect((await changed).flagsChanged).toEqual(['x']);
    expect(await f.client().getBooleanValue('x', false)).toBe(true);
  });
});
