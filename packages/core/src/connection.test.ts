import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConnection } from './connection';
import { createConsulWatch } from './consulWatch';
import { InvalidInputError } from './errors';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cw-conn-'));
  await copyFile(
    new URL('../../dev-server/test/fixtures/tls/ca.pem', import.meta.url),
    join(dir, 'ca.pem'),
  );
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('resolveConnection', () => {
  it('defaults to the local agent over HTTP', () => {
    const c = resolveConnection({}, {});
    expect(c.baseUrl).toBe('http://127.0.0.1:8500/v1');
    expect(c.token).toBeUndefined();
    expect(c.consistency).toBe('default');
  });

  it('reads Consul environment variables when options are unset, options winning', () => {
    const env = {
      CONSUL_HTTP_ADDR: 'consul.internal:8501',
      CONSUL_HTTP_SSL: 'true',
      CONSUL_HTTP_TOKEN: 'env-token',
      CONSUL_DATACENTER: 'eu1',
      CONSUL_HTTP_SSL_VERIFY: 'false',
      CONSUL_CACERT: join(dir, 'ca.pem'),
    };
    const c = resolveConnection({}, env);
    expect(c.baseUrl).toBe('https://consul.internal:8501/v1');
    expect(c.token).toBe('env-token');
    expect(c.datacenter).toBe('eu1');
    expect(c.tls.rejectUnauthorized).toBe(false);
    expect(c.tls.ca?.toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const o = resolveConnection(
      { address: 'http://other:8500', token: 'opt', datacenter: 'us1', verify: true },
      env,
    );
    expect([o.baseUrl, o.token, o.datacenter, o.tls.rejectUnauthorized]).toEqual([
      'http://other:8500/v1',
      'opt',
      'us1',
      true,
    ]);
  });

  it('takes an address with a scheme as it is', () => {
    expect(resolveConnection({ address: 'https://c.example' }, {}).baseUrl).toBe(
      'https://c.example/v1',
    );
    expect(resolveConnection({ address: '[::1]:8500' }, {}).baseUrl).toBe('http://[::1]:8500/v1');
  });

  it("takes the agent's unix socket as the consul CLI does", () => {
    const c = resolveConnection({}, { CONSUL_HTTP_ADDR: 'unix:///var/run/consul/http.sock' });
    expect(c.socketPath).toBe('/var/run/consul/http.sock');
    expect(c.display).toBe('unix:///var/run/consul/http.sock');
    expect(c.addressFrom).toBe('CONSUL_HTTP_ADDR');
  });

  it('refuses what it cannot use, naming it', () => {
    expect(() => resolveConnection({ address: 'ftp://127.0.0.1:8500' }, {})).toThrow(
      /must use http or https/,
    );
    expect(() => resolveConnection({ address: 'unix://tmp/consul.sock' }, {})).toThrow(
      /must name the socket by its absolute path/,
    );
    expect(() => resolveConnection({ address: 'http://user:pw@host:8500' }, {})).toThrow(
      /must not carry credentials/,
    );
    expect(() => resolveConnection({ address: 'http://' }, {})).toThrow(InvalidInputError);
    expect(() => resolveConnection({}, { CONSUL_HTTP_SSL: 'maybe' })).toThrow(
      /CONSUL_HTTP_SSL="maybe" is not a boolean/,
    );
    expect(() => resolveConnection({}, { CONSUL_CACERT: join(dir, 'nope.pem') })).toThrow(
      /CONSUL_CACERT points at .*nope\.pem, which cannot be read \(ENOENT\)/,
    );
    expect(() => resolveConnection({ consistency: 'eventual' as never }, {})).toThrow(
      /consistency/,
    );
    expect(() => resolveConnection({ prefix: '/app/' }, {})).toThrow(/must not begin with '\/'/);
  });

  it('never shows TLS material that is not PEM, only its length (it may be a base64 key)', () => {
    const key = `MIIEvQIBADANBgkqhkiG9w0BAQEFAASC${'A'.repeat(300)}`;
    let message = '';
    try {
      resolveConnection({ address: 'https://consul:8501', key }, {});
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^key is not PEM \(a 332-character string\)/);
    expect(message).not.toContain('MIIE');
    expect(() => resolveConnection({ ca: '/etc/consul/ca.pem' }, {})).toThrow(
      /ca must be PEM text, not a file path: pass readFileSync\("\/etc\/consul\/ca.pem"\)/,
    );
  });

  it('refuses a token that cannot travel in a header, for the client and for one watch, without showing it', async () => {
    const secret = 'abc123-secret';
    expect(() => resolveConnection({ token: `${secret}\r\nX-Injected: 1` }, {})).toThrow(
      /connection: token contains characters that cannot be sent/,
    );
    const client = createConsulWatch({ address: '127.0.0.1:1' });
    let message = '';
    try {
      client.watch({ type: 'key', key: 'a', token: `${secret}\nX: 1` });
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidInputError);
      message = (error as Error).message;
    }
    await client.close();
    expect(message).toMatch(/^watch key: token contains characters/);
    expect(message).not.toContain(secret);
  });

  it('keeps the token out of everything it displays', () => {
    const c = resolveConnection({ address: 'consul:8500', token: 'tok-123' }, {});
    expect(c.display).toBe('http://consul:8500');
    expect(JSON.stringify({ ...c, token: undefined })).not.toContain('tok-123');
  });
});
