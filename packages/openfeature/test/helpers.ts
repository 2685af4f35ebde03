import { randomUUID } from 'node:crypto';
import { type ConsulWatch, createConsulWatch, type Logger } from '@consul-watch/core';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import {
  type EventDetails,
  OpenFeature,
  ProviderEvents,
  type ServerProviderEvents,
} from '@openfeature/server-sdk';
import { ConsulFlagProvider, type ConsulFlagProviderOptions } from '../src';

/** A flag as flagd writes it. */
export const flag = (
  variants: Record<string, unknown>,
  defaultVariant: string,
  extra: Record<string, unknown> = {},
) => ({ state: 'ENABLED', variants, defaultVariant, ...extra });

/** `new-checkout` under `flags/my-app/`: on for the users named, off for everyone else. */
export const putCheckoutFlag = (writer: ConsulWatch, users: string[]) =>
  writer.kv.put(
    'flags/my-app/new-checkout',
    JSON.stringify(
      flag({ on: true, off: false }, 'off', {
        targeting: { if: [{ in: [{ var: 'targetingKey' }, users] }, 'on', null] },
      }),
    ),
  );

export const doc = (flags: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ flags, ...extra });

/** A logger that keeps its lines, to check what was said (and how often). */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (m: string) => void lines.push(m);
  return { lines, debug() {}, info: keep, warn: keep, error: keep };
}

export interface Fixture {
  dev: DevServer;
  /** A client of the test's own, for writing keys. */
  writer: ConsulWatch;
  domain: string;
  /** Sets a ConsulFlagProvider on this test's OpenFeature domain and waits until it is ready. */
  provide(
    options: Omit<ConsulFlagProviderOptions, 'connection'> & { connection?: object },
  ): Promise<ConsulFlagProvider>;
  client(): ReturnType<typeof OpenFeature.getClient>;
  /** The next event of `type` from this domain's client. */
  next(type: ServerProviderEvents): Promise<{ flagsChanged?: string[]; message?: string }>;
  close(): Promise<void>;
}

export async function fixture(): Promise<Fixture> {
  const dev = await startDevServer();
  const writer = createConsulWatch({ address: dev.address });
  const domain = `t-${randomUUID()}`;
  const providers: ConsulFlagProvider[] = [];
  const f: Fixture = {
    dev,
    writer,
    domain,
    async provide(options) {
      const provider = new ConsulFlagProvider({
        ...(options.client
          ? {}
          : { connection: { address: f.dev.address, ...options.connection } }),
        ...options,
      } as ConsulFlagProviderOptions);
      providers.push(provider);
      await OpenFeature.setProviderAndWait(domain, provider);
      return provider;
    },
    client: () => OpenFeature.getClient(domain),
    next(type) {
      const client = OpenFeature.getClient(domain);
      return new Promise((resolve) => {
        const handler = (details?: EventDetails<ServerProviderEvents>) => {
          client.removeHandler(type, handler);
          resolve((details ?? {}) as { flagsChanged?: string[]; message?: string });
        };
        client.addHandler(type, handler);
      });
    },
    async close() {
      await Promise.all(providers.map((p) => p.onClose()));
      await f.writer.close();
      await f.dev.close();
    },
  };
  return f;
}

export { ProviderEvents };
