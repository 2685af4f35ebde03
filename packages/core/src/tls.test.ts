import { readFileSync } from 'node:fs';
import { startDevServer } from '@consul-watch/dev-server';
import { afterEach, describe, expect, it } from 'vitest';
import { record } from '../test/helpers';
import { createConsulWatch } from './consulWatch';
import { ConsulUnavailableError } from './errors';

const fixture = (name: string) =>
  readFileSync(new URL(`../../dev-server/test/fixtures/tls/${name}`, import.meta.url));
const ca = fixture('ca.pem');
const server = { cert: fixture('server.pem'), key: fixture('server-key.pem') };
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

async function tlsServer(requireClientCert = false) {
  const dev = await startDevServer({ tls: { ...server, ...(requireClientCert ? { ca } : {}) } });
  cleanup.push(() => dev.close());
  return dev;
}

function client(options: Parameters<typeof createConsulWatch>[0]) {
  const c = createConsulWatch({ watch: { backoff: { baseMs: 5, maxMs: 10 } }, ...options });
  cleanup.push(() => c.close());
  return c;
}

describe('TLS', () => {
  it('talks HTTPS to an agent whose certificate the given CA signed, watches included', async () => {
    const dev = await tlsServer();
    expect(dev.url).toMatch(/^https:/);
    const consul = client({ address: dev.address, secure: true, ca });
    await consul.kv.put('tls/a', '1');
    expect(await consul.kv.getString('tls/a')).toBe('1');
    const r = record(consul.watch({ type: 'keyprefix', prefix: 'tls/' }));
    await r.until((c) => c.initial);
    await consul.kv.put('tls/b', '2');
    await r.until((c) => c.entries.has('tls/b'));
  });

  it('refuses an agent it cannot verify, and accepts it with verify: false', async () => {
    const dev = await tlsServer();
    const strict = client({ address: dev.url });
    const error = await strict.kv.get('tls/x').catch((e: Error) => e);
    expect(error).toBeInstanceOf(ConsulUnavailableError);
    expect((error as Error).message).toMatch(
      /cannot reach Consul at https:\/\/127\.0\.0\.1:\d+ \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/,
    );
    const lax = client({ address: dev.url, verify: false });
    expect(await lax.kv.put('tls/x', 'ok')).toBe(true);
  });

  it('presents a client certificate to an agent that requires one', async () => {
    const dev = await tlsServer(true);
    const anonymous = client({ address: dev.url, ca });
    await expect(anonymous.kv.get('tls/y')).rejects.toBeInstanceOf(ConsulUnavailableError);
    const identified = client({
      address: dev.url,
      ca,
      cert: fixture('client.pem'),
      key: fixture('client-key.pem'),
    });
    expect(await identified.kv.put('tls/y', 'ok')).toBe(true);
  });
});
