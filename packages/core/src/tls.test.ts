import { readFileSync } from 'node:fs';
import { startDevServer } from '@consul-watch/dev-server';
import { afterEach, describe, expect, it } from 'vitest';
import { record } from '../test/helpers';
import { createConsulWatch } from './consulWatch';
import { ConsulUnavailableError, TlsCertificateError } from './errors';

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
    expect(error).toBeInstanceOf(TlsCertificateError);
    expect((error as Error).message).toMatch(
      /the TLS certificate of Consul at https:\/\/127\.0\.0\.1:\d+ was not trusted \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/,
    );
    const lax = client({ address: dev.url, verify: false });
    expect(await lax.kv.put('tls/x', 'ok')).toBe(true);
  });

  it.each([
    {
      name: 'signed by a CA it was not given',
      cert: 'server',
      ca: undefined,
      reason:
        /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/,
      advice:
        "Give the CA that signed the agent's certificate as the ca option (PEM), or the path to it in CONSUL_CACERT.",
    },
    {
      name: 'self-signed',
      cert: 'other-host',
      ca: undefined,
      reason: /^DEPTH_ZERO_SELF_SIGNED_CERT$/,
      advice: 'as the ca option',
    },
    {
      name: 'for another host name',
      cert: 'other-host',
      ca: 'other-host',
      reason: /^ERR_TLS_CERT_ALTNAME_INVALID$/,
      advice: 'Address the agent by a host name or IP address its certificate names',
    },
    {
      name: 'expired',
      cert: 'expired',
      ca: 'expired',
      reason: /^CERT_HAS_EXPIRED$/,
      advice: "Renew the agent's certificate",
    },
  ])(
    'says a certificate $name was not trusted, why and what to do, never the token',
    async ({ cert, ca: trusted, reason, advice }) => {
      const dev = await startDevServer({
        tls: { cert: fixture(`${cert}.pem`), key: fixture(`${cert}-key.pem`) },
      });
      cleanup.push(() => dev.close());
      const token = 'tok-tls-5c1b7e';
      const consul = client({
        address: dev.url,
        token,
        ...(trusted ? { ca: fixture(`${trusted}.pem`) } : {}),
      });
      const error = await consul.ping(3_000).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TlsCertificateError);
      expect(error).toMatchObject({ code: 'TLS_UNTRUSTED', reason: expect.stringMatching(reason) });
      const message = (error as Error).message;
      expect(message).toContain(
        `ping: the TLS certificate of Consul at ${dev.url} was not trusted`,
      );
      expect(message).toContain(advice);
      expect(message).toContain('verify: false (CONSUL_HTTP_SSL_VERIFY=false)');
      expect(message).not.toContain('is the agent running');
      expect(message).not.toContain(token);
      // A watch reports the same error, and keeps waiting as in an outage.
      const watch = consul.watch({ type: 'key', key: 'tls/w' });
      const first = await new Promise<unknown>((resolve) => watch.on('error', resolve));
      expect(first).toBeInstanceOf(TlsCertificateError);
      await watch.stop();
    },
  );

  it('says so when the address speaks plain HTTP to a TLS port, or TLS to a plain one', async () => {
    const tls = await tlsServer();
    const plainToTls = await client({ address: `http://${tls.address}` })
      .ping(3_000)
      .catch((e: unknown) => e);
    expect(plainToTls).toBeInstanceOf(ConsulUnavailableError);
    expect((plainToTls as Error).message).toContain(
      'If the agent serves HTTPS on that port, use an https:// address (or CONSUL_HTTP_SSL=true).',
    );
    const plain = await startDevServer();
    cleanup.push(() => plain.close());
    const tlsToPlain = await client({ address: `https://${plain.address}`, ca })
      .ping(3_000)
      .catch((e: unknown) => e);
    expect(tlsToPlain).toBeInstanceOf(ConsulUnavailableError);
    expect((tlsToPlain as Error).message).toContain(
      'answered, but not in TLS (ERR_SSL_WRONG_VERSION_NUMBER): the address is https:// and the agent there serves plain HTTP. Use an http:// address',
    );
  });

  it('presents a client certificate to an agent that requires one', async () => {
    const dev = await tlsServer(true);
    const anonymous = client({ address: dev.url, ca });
    const refused = await anonymous.kv.get('tls/y').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConsulUnavailableError);
    expect((refused as Error).message).toContain(
      'If the agent requires client certificates (verify_incoming), give cert and key',
    );
    const identified = client({
      address: dev.url,
      ca,
      cert: fixture('client.pem'),
      key: fixture('client-key.pem'),
    });
    expect(await identified.kv.put('tls/y', 'ok')).toBe(true);
  });
});
