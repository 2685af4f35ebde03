import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConsulUnavailableError,
  type ConsulWatch,
  createConsulWatch,
  InvalidInputError,
  type Logger,
} from '@consul-watch/core';
import { startTestAgent, type TestAgent } from '@consul-watch/dev-server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConsulEnv } from '../src/consulEnv';
import { type EnvChange, watchConsulEnv } from '../src/watchConsulEnv';

let agent: TestAgent;
let client: ConsulWatch;
let dir: string;
beforeAll(async () => {
  agent = await startTestAgent();
  client = createConsulWatch({ address: agent.address });
  dir = await mkdtemp(join(tmpdir(), 'cw-env-'));
});
afterAll(async () => {
  await client.close();
  await agent.close();
  await rm(dir, { recursive: true, force: true });
});

const unique = (label: string) => `cw-env/${label}-${Math.random().toString(36).slice(2, 8)}/`;
const dead = { address: '127.0.0.1:1' };
const capture = () => {
  const lines: string[] = [];
  const logger: Logger = {
    debug() {},
    info: (m) => lines.push(m),
    warn: (m) => lines.push(m),
    error: (m) => lines.push(m),
  };
  return { lines, logger };
};

describe('loadConsulEnv', () => {
  it('sets the environment from the prefix and returns parsed, the environment winning unless override', async () => {
    const prefix = unique('load');
    await client.kv.put(`${prefix}db/host`, 'db.internal');
    await client.kv.put(`${prefix}db/port`, '5432');
    await client.kv.put(`${prefix}log-level`, 'debug');
    const env: Record<string, string | undefined> = { LOG_LEVEL: 'warn' };
    const result = await loadConsulEnv({ prefix, client, env });
    expect(result).toEqual({
      parsed: { DB_HOST: 'db.internal', DB_PORT: '5432', LOG_LEVEL: 'debug' },
      source: 'consul',
    });
    expect(env).toEqual({ DB_HOST: 'db.internal', DB_PORT: '5432', LOG_LEVEL: 'warn' });
    const overridden: Record<string, string | undefined> = { LOG_LEVEL: 'warn' };
    await loadConsulEnv({ prefix, client, env: overridden, override: true });
    expect(overridden.LOG_LEVEL).toBe('debug');
  });

  it('layers a .env file below Consul and expands ${VAR} references', async () => {
    const prefix = unique('dotenv');
    await client.kv.put(`${prefix}host`, 'from-consul');
    await client.kv.put(`${prefix}url`, 'http://${HOST}:${PORT}/${NAME}');
    const dotenvFile = join(dir, '.env.layer');
    await writeFile(dotenvFile, 'HOST=from-dotenv\nPORT=8080\n');
    const env: Record<string, string | undefined> = { NAME: 'svc' };
    await loadConsulEnv({ prefix, client, env, dotenvFile });
    expect(env).toMatchObject({
      HOST: 'from-consul',
      PORT: '8080',
      URL: 'http://from-consul:8080/svc',
    });
    const raw: Record<string, string | undefined> = {};
    await loadConsulEnv({ prefix, client, env: raw, expand: false });
    expect(raw.URL).toBe('http://${HOST}:${PORT}/${NAME}');
  });

  it('names both keys when two map to one variable, and sets nothing', async () => {
    const prefix = unique('clash');
    await client.kv.put(`${prefix}db-host`, 'a');
    await client.kv.put(`${prefix}db/host`, 'b');
    const env: Record<string, string | undefined> = {};
    const error = await loadConsulEnv({ prefix, client, env }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toContain(`"${prefix}db-host" and "${prefix}db/host"`);
    expect(env).toEqual({});
  });

  it('fails clearly when Consul is unreachable and there is no fallback', async () => {
    const error = await loadConsulEnv({ prefix: 'app/env', connection: dead, env: {} }).catch(
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(ConsulUnavailableError);
    expect((error as Error).message).toMatch(
      /Cannot load the environment from Consul prefix "app\/env\/".*Set the lastKnownGoodFile or dotenvFile option/,
    );
  });

  it('falls back to the last-known-good file, then to .env alone, saying which', async () => {
    const prefix = unique('lkg');
    await client.kv.put(`${prefix}feature`, 'on');
    const lastKnownGoodFile = join(dir, 'env-lkg.json');
    await loadConsulEnv({ prefix, client, env: {}, lastKnownGoodFile });
    const cached = capture();
    const env: Record<string, string | undefined> = {};
    const result = await loadConsulEnv({
      prefix,
      connection: dead,
      env,
      lastKnownGoodFile,
      logger: cached.logger,
    });
    expect(result.source).toBe('cache');
    expect(env.FEATURE).toBe('on');
    expect(
      cached.lines.some((l) => l.includes('last-known-good') && l.includes(lastKnownGoodFile)),
    ).toBe(true);

    const dotenvFile = join(dir, '.env.fallback');
    await writeFile(dotenvFile, 'FEATURE=off\n');
    const fallback = capture();
    const onlyDotenv: Record<string, string | undefined> = {};
    const second = await loadConsulEnv({
      prefix,
      connection: dead,
      env: onlyDotenv,
      dotenvFile,
      logger: fallback.logger,
    });
    expect(second.source).toBe('dotenv');
    expect(onlyDotenv.FEATURE).toBe('off');
    expect(fallback.lines.some((l) => l.includes(`using ${dotenvFile} alone`))).toBe(true);
  });
});

describe('watchConsulEnv', () => {
  it('keeps the environment current, removes deleted keys, and leaves variables that were set before', async () => {
    const prefix = unique('watch');
    await client.kv.put(`${prefix}color`, 'blue');
    await client.kv.put(`${prefix}home`, 'consul-home');
    await client.kv.put(`${prefix}size`, 'm');
    const env: Record<string, string | undefined> = { HOME: '/home/me' };
    const watch = watchConsulEnv({ prefix, client, env });
    const changes: EnvChange[] = [];
    const next = () => new Promise<EnvChange>((resolve) => watch.on('change', resolve));
    watch.on('change', (c) => changes.push(c));
    await watch.ready(5_000);
    expect(env).toEqual({ HOME: '/home/me', COLOR: 'blue', SIZE: 'm' });

    let change = next();
    await client.kv.put(`${prefix}color`, 'red');
    expect(await change).toMatchObject({ changed: ['COLOR'], removed: [] });
    expect(env.COLOR).toBe('red');

    change = next();
    await client.kv.delete(`${prefix}size`);
    expect(await change).toMatchObject({ changed: [], removed: ['SIZE'] });
    expect('SIZE' in env).toBe(false);

    change = next();
    await client.kv.delete(`${prefix}home`);
    await client.kv.put(`${prefix}added`, 'x');
    await change;
    expect(env).toEqual({ HOME: '/home/me', COLOR: 'red', ADDED: 'x' });
    await watch.stop();
  });
});
