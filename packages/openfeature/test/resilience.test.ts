import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConsulWatchError, createConsulWatch, TimeoutError } from '@consul-watch/core';
import { startDevServer } from '@consul-watch/dev-server';
import { startFaultProxy } from '@consul-watch/dev-server/testing';
import { OpenFeature } from '@openfeature/server-sdk';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConsulFlagProvider, FlagDocumentError } from '../src';
import { doc, type Fixture, fixture, flag, ProviderEvents, recordingLogger } from './helpers';

const onOff = { on: true, off: false };
let f: Fixture;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cw-flags-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  f = await fixture();
});
afterEach(async () => {
  await f.close();
});

describe('a bad document never changes an evaluation', () => {
  const cases: [string, string, string | Buffer, RegExp, string | undefined][] = [
    ['not JSON', 'flags/doc.json', '{"flags": ', /"flags\/doc.json" is not valid JSON/, undefined],
    [
      'not YAML',
      'flags/app/c.yaml',
      'state: [ENABLED',
      /"flags\/app\/c.yaml" is not valid YAML/,
      undefined,
    ],
    [
      'not flagd schema',
      'flags/doc.json',
      doc({ a: flag({ on: true, off: 'no' }, 'on') }),
      /flag "a" in Consul key "flags\/doc.json" does not match flagd's flag schema at \/variants\/off/,
      'a',
    ],
    [
      'a default variant not among the variants',
      'flags/app/a',
      JSON.stringify(flag(onOff, 'maybe')),
      /flag "a" in Consul key "flags\/app\/a" has defaultVariant "maybe", which is not among its variants \("on", "off"\)/,
      'a',
    ],
    [
      'a $ref to an evaluator that is not there',
      'flags/doc.json',
      doc({ a: flag(onOff, 'on', { targeting: { if: [{ $ref: 'gone' }, 'off', null] } }) }),
      /flag "a" in Consul key "flags\/doc.json" refers to evaluator "gone"/,
      'a',
    ],
    [
      'an unknown top-level member',
      'flags/doc.json',
      JSON.stringify({ flag: {} }),
      /unknown member "flag": did you mean "flags"\?/,
      undefined,
    ],
  ];
  for (const [what, key, value, message, flagName] of cases) {
    it(`keeps the last good flags of the whole source on ${what}, reported once naming the key`, async () => {
      await f.writer.kv.put('flags/doc.json', doc({ a: flag(onOff, 'on'), b: flag(onOff, 'on') }));
      await f.writer.kv.put('flags/app/a', JSON.stringify(flag(onOff, 'on')));
      await f.writer.kv.put('flags/app/b', JSON.stringify(flag(onOff, 'on')));
      const logger = recordingLogger();
      const provider = await f.provide({ sources: ['flags/doc.json', 'flags/app/'], logger });
      const errors: ConsulWatchError[] = [];
      const reported = new Promise<void>((resolve) =>
        provider.on('error', (e) => {
          errors.push(e);
          resolve();
        }),
      );
      await f.writer.kv.put(key, value);
      await reported;
      expect(errors[0]).toBeInstanceOf(FlagDocumentError);
      expect(errors[0]!.message).toMatch(message);
      expect((errors[0] as FlagDocumentError).key).toBe(key);
      expect((errors[0] as FlagDocumentError).flag).toBe(flagName);
      expect(errors[0]!.message).toMatch(/last good flags .* stay in force/);
      expect(logger.lines.filter((l) => l === errors[0]!.message)).toHaveLength(1);
      // Every flag of the source is as before, not only the one in the bad key.
      expect(await f.client().getBooleanValue('a', false)).toBe(true);
      expect(await f.client().getBooleanValue('b', false)).toBe(true);

      // A change elsewhere re-reads the source: the same bad document is not reported again.
      const changed = f.next(ProviderEvents.ConfigurationChanged);
      await f.writer.kv.put('flags/app/z', JSON.stringify(flag(onOff, 'on')));
      await f.writer.kv.put('flags/other', 'not a source');
      if (key.startsWith('flags/app/')) {
        // the prefix is still bad as a whole: z is not taken either, until a is fixed
        await f.writer.kv.put(key, JSON.stringify(flag(onOff, 'off')));
      }
      expect((await changed).flagsChanged).toContain('z');
      expect(errors).toHaveLength(1);
    });
  }
});

describe('Consul away', () => {
  it('is STALE while Consul is away, serves the last flags, and READY again when it answers', async () => {
    const proxy = await startFaultProxy(f.dev.address);
    try {
      await f.writer.kv.put('flags/doc.json', doc({ a: flag(onOff, 'on') }));
      const provider = await f.provide({
        sources: ['flags/doc.json'],
        connection: { address: proxy.address, availability: { probeMinMs: 5, probeMaxMs: 20 } },
      });
      provider.on('error', () => {});
      const stale = f.next(ProviderEvents.Stale);
      proxy.failNext(1_000_000, 503);
      proxy.resetConnections();
      expect((await stale).message).toMatch(/Consul cannot be reached/);
      expect(await f.client().getBooleanValue('a', false)).toBe(true);

      await f.writer.kv.put('flags/doc.json', doc({ a: flag(onOff, 'off') }));
      const ready = f.next(ProviderEvents.Ready);
      const changed = f.next(ProviderEvents.ConfigurationChanged);
      proxy.failNext(0, 503);
      await ready;
      expect((await changed).flagsChanged).toEqual(['a']);
      expect(await f.client().getBooleanValue('a', true)).toBe(false);
    } finally {
      await OpenFeature.clearProviders();
      await proxy.close();
    }
  });

  it('starts from the last-known-good file while Consul is down: STALE until Consul answers', async () => {
    const file = join(dir, 'flags.json');
    const port = f.dev.port;
    await f.writer.kv.put('flags/doc.json', doc({ a: flag(onOff, 'on'), b: flag(onOff, 'on') }));
    const first = new ConsulFlagProvider({
      sources: ['flags/doc.json'],
      connection: { address: f.dev.address },
      lastKnownGoodFile: file,
    });
    await first.initialize();
    await first.onClose(); // waits for the file to be written
    expect(
      JSON.parse(await readFile(file, 'utf8')).config.sources['flags/doc.json'].flags.a,
    ).toBeDefined();
    await f.dev.close();

    const logger = recordingLogger();
    const domain = `${f.domain}-lkg`;
    const provider = new ConsulFlagProvider({
      sources: ['flags/doc.json'],
      connection: { address: `127.0.0.1:${port}`, availability: { probeMinMs: 5, probeMaxMs: 20 } },
      lastKnownGoodFile: file,
      logger,
    });
    const client = OpenFeature.getClient(domain);
    const stale = new Promise<void>((resolve) =>
      client.addHandler(ProviderEvents.Stale, () => resolve()),
    );
    try {
      await OpenFeature.setProviderAndWait(domain, provider);
      await stale;
      expect(await client.getBooleanValue('a', false)).toBe(true);
      expect(
        logger.lines.some((l) => l.includes(file) && l.includes('starting on the flags')),
      ).toBe(true);

      const back = await startDevServer({ port });
      try {
        const writer = createConsulWatch({ address: back.address });
        const ready = new Promise<void>((resolve) =>
          client.addHandler(ProviderEvents.Ready, () => resolve()),
        );
        const changed = new Promise<string[]>((resolve) =>
          client.addHandler(ProviderEvents.ConfigurationChanged, (d) =>
            resolve(d?.flagsChanged ?? []),
          ),
        );
        await writer.kv.put('flags/doc.json', doc({ a: flag(onOff, 'off'), b: flag(onOff, 'on') }));
        await writer.close();
        await ready;
        expect(await changed).toEqual(['a']);
        expect(await client.getBooleanValue('a', true)).toBe(false);
      } finally {
        await OpenFeature.clearProviders();
        await back.close();
      }
    } finally {
      await provider.onClose();
    }
    await f.writer.close();
    f.dev = await startDevServer(); // the fixture closes it
    f.writer = createConsulWatch({ address: f.dev.address });
  });

  it('fails initialization after readyTimeoutMs without a last-known-good file, saying what to check', async () => {
    const provider = new ConsulFlagProvider({
      sources: ['flags/doc.json'],
      connection: { address: '127.0.0.1:1', availability: { probeMinMs: 5, probeMaxMs: 20 } },
      readyTimeoutMs: 200,
      logger: recordingLogger(),
    });
    try {
      const error = await provider.initialize().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as Error).message).toMatch(
        /no flags from "flags\/doc.json" within readyTimeoutMs \(200 ms\).*Check that Consul answers at http:\/\/127.0.0.1:1 .*lastKnownGoodFile/,
      );
    } finally {
      await provider.onClose();
    }
  });

  it('after an initialization that ran out of time, becomes READY with the first flags from Consul', async () => {
    const port = f.dev.port;
    await f.writer.kv.put('flags/doc.json', doc({ a: flag(onOff, 'on') }));
    await f.writer.close();
    await f.dev.close();
    const domain = `${f.domain}-late`;
    const provider = new ConsulFlagProvider({
      sources: ['flags/doc.json'],
      connection: { address: `127.0.0.1:${port}`, availability: { probeMinMs: 5, probeMaxMs: 20 } },
      readyTimeoutMs: 100,
      logger: recordingLogger(),
    });
    const client = OpenFeature.getClient(domain);
    try {
      await expect(OpenFeature.setProviderAndWait(domain, provider)).rejects.toThrow(
        /within readyTimeoutMs \(100 ms\)/,
      );
      expect(client.providerStatus).toBe('ERROR');
      const ready = new Promise<void>((resolve) =>
        client.addHandler(ProviderEvents.Ready, () => resolve()),
      );
      f.dev = await startDevServer({ port }); // the fixture closes it
      f.writer = createConsulWatch({ address: f.dev.address });
      await f.writer.kv.put('flags/doc.json', doc({ a: flag(onOff, 'on') }));
      await ready;
      expect(client.providerStatus).toBe('READY');
      expect(await client.getBooleanValue('a', false)).toBe(true);
    } finally {
      await OpenFeature.clearProviders();
      await provider.onClose();
    }
  });

  it('OpenFeature.close() releases every handle of every provider', async () => {
    await f.writer.kv.put('flags/doc.json', doc({ a: flag(onOff, 'on') }));
    await f.writer.kv.put('flags/app/b', JSON.stringify(flag(onOff, 'on')));
    await f.provide({ sources: ['flags/doc.json', 'flags/app/'] });
    await OpenFeature.setProviderAndWait(
      `${f.domain}-2`,
      new ConsulFlagProvider({ sources: ['flags/app/'], connection: { address: f.dev.address } }),
    );
    await OpenFeature.close();
    // The file's handle check (vitest.handles.ts) fails the run if a socket or timer is left.
  });
});
