import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import { startFaultProxy } from '@consul-watch/dev-server/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { uniquePrefix } from '../test/helpers';
import { type ConsulWatch, createConsulWatch } from './consulWatch';
import {
  ConsulUnavailableError,
  InvalidInputError,
  LockConflictError,
  type LockLossReason,
  LockLostError,
  TimeoutError,
} from './errors';
import { LOCK_FLAGS } from './lock';
import { SEMAPHORE_FLAGS } from './semaphore';

// Short session TTLs need the dev-server's sessionTtlMinMs, so these run on the embedded
// dev-server even when CONSUL_HTTP_ADDR is set.
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

async function server(): Promise<DevServer> {
  const dev = await startDevServer({ sessionTtlMinMs: 50 });
  cleanup.push(() => dev.close());
  return dev;
}
function client(address: string): ConsulWatch {
  const c = createConsulWatch({ address });
  cleanup.push(() => c.close());
  return c;
}
/** Short sessions and no lock-delay, so hand-overs are quick. */
const quick = { ttlMs: 300, lockDelayMs: 0, retryMs: 20 };
const aborted = (signal: AbortSignal) =>
  new Promise<unknown>((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
async function rawEntry(dev: DevServer, key: string) {
  const res = await fetch(`${dev.url}/v1/kv/${key}`, { headers: { connection: 'close' } });
  return res.status === 404 ? undefined : res.text();
}
const put = (dev: DevServer, path: string, body = '') =>
  fetch(`${dev.url}${path}`, { method: 'PUT', body, headers: { connection: 'close' } }).then((r) =>
    r.json(),
  );

describe('lock', () => {
  it('excludes a second holder until the first releases, with the Go api.Lock layout', async () => {
    const dev = await server();
    const key = `${uniquePrefix('lock')}leader`;
    const a = client(dev.address).lock(key, { ...quick, value: 'a' });
    const b = client(dev.address).lock(key, quick);
    const held = await a.acquire();
    expect(a.held).toBe(true);
    const raw = await rawEntry(dev, key);
    expect(raw).toContain(`"Flags":${LOCK_FLAGS}`);
    expect(raw).toMatch(/"Session":"[0-9a-f-]{36}"/);
    expect(raw).toContain(`"Value":"${btoa('a')}"`); // the holder's value
    const sessions = (await (await fetch(`${dev.url}/v1/session/list`)).json()) as {
      Name: string;
    }[];
    expect(sessions.map((s) => s.Name)).toEqual(['Consul API Lock']); // Go's default name
    expect(await b.tryAcquire()).toBeUndefined();
    const waiting = b.acquire();
    await a.release();
    expect(held.aborted).toBe(true);
    expect((held.reason as LockLostError).reason).toBe('released');
    const next = await waiting;
    expect(next.aborted).toBe(false);
    expect(b.held).toBe(true);
    expect(a.held).toBe(false);
  });

  it('waits for a lock held by another program that writes the Go layout, and takes it on release', async () => {
    const dev = await server();
    const key = `${uniquePrefix('lock')}go`;
    const { ID } = (await put(
      dev,
      '/v1/session/create',
      JSON.stringify({ Name: 'Go', LockDelay: '0s' }),
    )) as {
      ID: string;
    };
    expect(await put(dev, `/v1/kv/${key}?acquire=${ID}&flags=${LOCK_FLAGS}`, 'go')).toBe(true);
    const lock = client(dev.address).lock(key, quick);
    expect(await lock.tryAcquire()).toBeUndefined();
    const waiting = lock.acquire();
    await put(dev, `/v1/kv/${key}?release=${ID}&flags=${LOCK_FLAGS}`);
    await waiting;
    expect(lock.held).toBe(true);
  });

  it('aborts the signal when its session is destroyed from outside', async () => {
    const dev = await server();
    const key = `${uniquePrefix('lock')}k`;
    // A TTL that a loaded machine cannot miss: the loss must be the invalidation, not a timeout.
    const lock = client(dev.address).lock(key, { ...quick, ttlMs: 5_000 });
    const signal = await lock.acquire();
    const session = JSON.parse((await rawEntry(dev, key))!)[0].Session as string;
    await put(dev, `/v1/session/destroy/${session}`);
    const reason = (await aborted(signal)) as LockLostError;
    expect(reason).toBeInstanceOf(LockLostError);
    expect(reason.reason).toBe('session-invalidated');
    expect(reason.message).toContain(`invalidated the holder's session ${session}`);
    expect(lock.held).toBe(false);
  });

  it("reports lock-taken when another session takes the key while the holder's session lives", async () => {
    const dev = await server();
    const c = client(dev.address);
    const key = `${uniquePrefix('lock')}k`;
    const lock = c.lock(key, { ...quick, ttlMs: 5_000 });
    const signal = await lock.acquire();
    const other = await c.session({ ttlMs: 5_000, lockDelayMs: 0 });
    // Consul keeps a lock through a plain write; only a delete lets another session in.
    await c.kv.delete(key);
    await c.kv.put(key, 'theirs', { acquire: other.id });
    expect(((await aborted(signal)) as LockLostError).reason).toBe('lock-taken');
  });

  it('aborts the signal when the key is deleted', async () => {
    const dev = await server();
    const c = client(dev.address);
    const key = `${uniquePrefix('lock')}k`;
    const signal = await c.lock(key, quick).acquire();
    await c.kv.delete(key);
    expect(((await aborted(signal)) as LockLostError).reason).toBe('lock-taken');
  });

  it('counts the lock as lost when no renewal gets through for a TTL, before anyone else can take it', async () => {
    const dev = await server();
    const proxy = await startFaultProxy(dev.address);
    cleanup.push(() => proxy.close());
    const key = `${uniquePrefix('lock')}k`;
    const cut = client(proxy.address).lock(key, quick);
    const signal = await cut.acquire();
    let lostAt = 0;
    signal.addEventListener('abort', () => {
      lostAt = performance.now();
    });
    proxy.stallNext(1_000);
    proxy.resetConnections();
    const other = client(dev.address).lock(key, quick);
    await other.acquire({ timeoutMs: 5_000 });
    const takenAt = performance.now();
    expect(((await aborted(signal)) as LockLostError).reason).toBe('unreachable');
    expect(lostAt).toBeGreaterThan(0);
    expect(lostAt).toBeLessThan(takenAt);
    proxy.stallNext(0);
    proxy.release();
  });

  it('after a snapshot restore drops the holder, a waiter holds back one TTL so the holder learns first', async () => {
    const dev = await server();
    const key = `${uniquePrefix('lock')}restored`;
    const before = dev.snapshot();
    const holder = client(dev.address).lock(key, quick);
    const signal = await holder.acquire();
    let lostAt = 0;
    signal.addEventListener('abort', () => {
      lostAt = performance.now();
    });
    const waiter = client(dev.address).lock(key, quick);
    const waiting = waiter.acquire();
    await dev.whenParked(2); // the holder's monitor and the waiter's read
    const restoredAt = performance.now();
    dev.restore(before);
    await waiting;
    const takenAt = performance.now();
    expect(signal.aborted).toBe(true);
    expect(lostAt).toBeLessThan(takenAt);
    expect(takenAt - restoredAt).toBeGreaterThanOrEqual(quick.ttlMs - 10);
  });

  it('tells a holder its hold is gone when the server comes back from an older snapshot', async () => {
    let dev = await startDevServer({ sessionTtlMinMs: 50 });
    const { port } = dev;
    cleanup.push(() => dev.close());
    const c = client(dev.address);
    const key = `${uniquePrefix('lock')}rewound`;
    const session = await c.session({ ttlMs: 300, lockDelayMs: 0 });
    const older = dev.snapshot(); // the session exists, the key is free
    for (let i = 0; i < 20; i++) await c.kv.put(`${key}-filler`, i); // indexes move on
    const signal = await c.lock(key, { session }).acquire();
    const waiter = client(dev.address).lock(key, quick);
    expect(await waiter.tryAcquire()).toBeUndefined(); // it has read the key at the new index
    await dev.whenParked(1); // the holder's monitor, at the new index
    await dev.close();
    dev = await startDevServer({ port, sessionTtlMinMs: 50 });
    dev.restore(older);
    const taken = await waiter.acquire({ timeoutMs: 5_000 });
    expect(taken.aborted).toBe(false);
    // Its session still renews fine: only its monitor can tell it, and it must have.
    expect(signal.aborted).toBe(true);
    expect(((await aborted(signal)) as LockLostError).reason).toBe('lock-taken');
  });

  it('refuses a key that holds something else than a lock', async () => {
    const dev = await server();
    const c = client(dev.address);
    const key = `${uniquePrefix('lock')}plain`;
    await c.kv.put(key, 'not a lock');
    await expect(c.lock(key, quick).acquire()).rejects.toBeInstanceOf(LockConflictError);
  });

  it('gives up waiting after timeoutMs, or when the caller aborts', async () => {
    const dev = await server();
    const key = `${uniquePrefix('lock')}k`;
    await client(dev.address).lock(key, quick).acquire();
    const lock = client(dev.address).lock(key, quick);
    await expect(lock.acquire({ timeoutMs: 100 })).rejects.toBeInstanceOf(TimeoutError);
    const controller = new AbortController();
    const waiting = lock.acquire({ signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await expect(waiting).rejects.toThrow('shutting down');
    expect(lock.held).toBe(false);
    // Nothing is left behind: only the holder's session exists.
    const sessions = (await (await fetch(`${dev.url}/v1/session/list`)).json()) as unknown[];
    expect(sessions).toHaveLength(1);
  });

  it('says why it timed out when Consul could not be reached', async () => {
    const dev = await server();
    const proxy = await startFaultProxy(dev.address);
    cleanup.push(() => proxy.close());
    proxy.failNext(1_000_000, 503, 'overloaded');
    const lock = client(proxy.address).lock(`${uniquePrefix('lock')}k`, quick);
    const error = (await lock.acquire({ timeoutMs: 300 }).catch((e) => e)) as TimeoutError;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toMatch(/not acquired within 300 ms; the last attempt failed: .*503/);
    expect(error.cause).toBeInstanceOf(ConsulUnavailableError);
    proxy.failNext(0, 503);
  });

  it('refuses at once a ttlMs that Consul refuses, naming the option and its unit', async () => {
    const dev = await startDevServer(); // Consul's session_ttl_min: 10 s
    cleanup.push(() => dev.close());
    const c = client(dev.address);
    const started = performance.now();
    const error = (await c
      .lock(`${uniquePrefix('lock')}k`, { ttlMs: 15 })
      .acquire({ timeoutMs: 5_000 })
      .catch((e) => e)) as InvalidInputError;
    expect(performance.now() - started).toBeLessThan(2_000); // not its timeout
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toContain('lock "');
    expect(error.message).toContain('ttlMs of 15: ttlMs is in milliseconds');
    expect(error.message).toContain('this Consul takes 10s to 24h0m0s');
    expect(error.message).toContain(
      "Invalid Session TTL '15000000', must be between [10s=24h0m0s]",
    );
    expect(error.message).toContain('If you meant 15 s, set ttlMs: 15000.');
    const direct = await c.session({ ttlMs: 15 }).catch((e) => e);
    expect(direct).toBeInstanceOf(InvalidInputError);
    expect(direct.message).toMatch(/^session: Consul refused the session's ttlMs of 15/);
    expect(direct.message).not.toContain('will retry');
    expect(await (await fetch(`${dev.url}/v1/session/list`)).json()).toEqual([]);
  });

  it('refuses a second acquire while held, and bad options with messages naming them', async () => {
    const dev = await server();
    const c = client(dev.address);
    const lock = c.lock(`${uniquePrefix('lock')}k`, quick);
    await lock.acquire();
    await expect(lock.acquire()).rejects.toBeInstanceOf(InvalidInputError);
    expect(() => c.lock('', quick)).toThrow(InvalidInputError);
    expect(() => c.lock('k', { ttlMs: 5 })).toThrow(/ttlMs/);
    expect(() => c.lock('k', { ttlMs: '15000' as never })).toThrow(/got "15000"/);
    expect(() => c.lock('k', { lockDelayMs: 61_000 })).toThrow(/lockDelayMs/);
    expect(() => c.semaphore('jobs', 0)).toThrow(/limit/);
  });

  it('releases every lock and destroys its sessions on client.close()', async () => {
    const dev = await server();
    const c = createConsulWatch({ address: dev.address });
    const key = `${uniquePrefix('lock')}k`;
    const signal = await c.lock(key, quick).acquire();
    await c.close();
    expect(signal.aborted).toBe(true);
    expect(await rawEntry(dev, key)).not.toContain('"Session"');
    expect(await (await fetch(`${dev.url}/v1/session/list`)).json()).toEqual([]);
  });

  it('leaves no session behind on client.close() while a waiter sits out a lock-delay', async () => {
    const dev = await server();
    const proxy = await startFaultProxy(dev.address);
    cleanup.push(() => proxy.close());
    const key = `${uniquePrefix('lock')}delayed`;
    const holder = client(dev.address).lock(key, { ...quick, lockDelayMs: 10_000 });
    const held = await holder.acquire();
    const c = createConsulWatch({ address: proxy.address });
    const waiting = c.lock(key, { ttlMs: 1_000 }).acquire();
    waiting.catch(() => {});
    await dev.whenParked(2); // the holder's monitor and the waiter's read
    proxy.stallNext(1); // the waiter's next request: its try at the key once it is free
    const session = JSON.parse((await rawEntry(dev, key))!)[0].Session as string;
    await put(dev, `/v1/session/destroy/${session}`);
    await aborted(held);
    await proxy.whenStalled(1);
    proxy.release(); // Consul refuses it for the 10 s of lock-delay; the waiter waits 5 s to retry
    await c.close();
    expect(await (await fetch(`${dev.url}/v1/session/list`)).json()).toEqual([]);
    await expect(waiting).rejects.toBeInstanceOf(LockLostError);
  });
});

describe('session', () => {
  it('opens a renewed session for kv.put acquire and release, and aborts its signal once destroyed', async () => {
    const dev = await server();
    const c = client(dev.address);
    const key = `${uniquePrefix('session')}k`;
    const mine = await c.session({ ttlMs: 400, lockDelayMs: 0 });
    const other = await c.session({ ttlMs: 400, lockDelayMs: 0 });
    expect(await c.kv.put(key, 'mine', { acquire: mine.id })).toBe(true);
    expect(await c.kv.put(key, 'theirs', { acquire: other.id })).toBe(false);
    // Renewed: still holding after more than twice the TTL, when Consul would have dropped it.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await c.kv.getEntry(key))?.session).toBe(mine.id);
    expect(await c.kv.put(key, 'done', { release: mine.id })).toBe(true);
    expect((await c.kv.getEntry(key))?.session).toBeUndefined();
    await mine.destroy();
    expect(((await aborted(mine.signal)) as LockLostError).reason).toBe('released');
    await expect(c.kv.put(key, 'x', { acquire: other.id, cas: 0 })).rejects.toThrow(
      /cannot be combined/,
    );
  });
});

describe('semaphore', () => {
  it('lets at most limit holders in, with the Go api.Semaphore layout', async () => {
    const dev = await server();
    const prefix = `${uniquePrefix('sem')}workers`;
    const [a, b, c] = [0, 1, 2].map(() => client(dev.address).semaphore(prefix, 2, quick));
    await a!.acquire();
    await b!.acquire();
    expect(await c!.tryAcquire()).toBeUndefined();
    const lock = JSON.parse((await rawEntry(dev, `${prefix}/.lock`))!)[0];
    expect(lock.Flags).toBe(Number(SEMAPHORE_FLAGS));
    expect(await rawEntry(dev, `${prefix}/.lock`)).toContain(`"Flags":${SEMAPHORE_FLAGS}`);
    const decoded = JSON.parse(Buffer.from(lock.Value, 'base64').toString());
    expect(decoded.Limit).toBe(2);
    expect(Object.keys(decoded.Holders)).toHaveLength(2);
    for (const holder of Object.keys(decoded.Holders))
      expect(await rawEntry(dev, `${prefix}/${holder}`)).toContain(`"Session":"${holder}"`);
    const waiting = c!.acquire();
    await a!.release();
    await waiting;
    expect(c!.held).toBe(true);
  });

  it('frees the slot of a holder whose session ended, and signals that holder', async () => {
    const dev = await server();
    const prefix = `${uniquePrefix('sem')}one`;
    const first = client(dev.address).semaphore(prefix, 1, { ...quick, ttlMs: 5_000 });
    const signal = await first.acquire();
    const lock = JSON.parse((await rawEntry(dev, `${prefix}/.lock`))!)[0];
    const [holder] = Object.keys(JSON.parse(Buffer.from(lock.Value, 'base64').toString()).Holders);
    const second = client(dev.address).semaphore(prefix, 1, quick);
    const waiting = second.acquire();
    await put(dev, `/v1/session/destroy/${holder}`);
    await waiting;
    expect((await aborted(signal)) as LockLostError).toBeInstanceOf(LockLostError);
    expect(((await aborted(signal)) as LockLostError).reason).toBe('session-invalidated');
  });

  it('counts a holder that another program wrote in the Go layout, and waits for its slot', async () => {
    const dev = await server();
    const prefix = `${uniquePrefix('sem')}go`;
    const { ID } = (await put(
      dev,
      '/v1/session/create',
      JSON.stringify({ Name: 'Go', Behavior: 'delete', LockDelay: '0s' }),
    )) as { ID: string };
    // What api.Semaphore writes: a contender entry acquired with its session, then .lock by CAS.
    expect(
      await put(dev, `/v1/kv/${prefix}/${ID}?acquire=${ID}&flags=${SEMAPHORE_FLAGS}`, ''),
    ).toBe(true);
    const lock = JSON.stringify({ Limit: 1, Holders: { [ID]: true } });
    expect(await put(dev, `/v1/kv/${prefix}/.lock?cas=0&flags=${SEMAPHORE_FLAGS}`, lock)).toBe(
      true,
    );
    const semaphore = client(dev.address).semaphore(prefix, 1, quick);
    expect(await semaphore.tryAcquire()).toBeUndefined();
    const waiting = semaphore.acquire();
    await put(dev, `/v1/session/destroy/${ID}`); // the Go process ends: its contender entry goes
    await waiting;
    expect(semaphore.held).toBe(true);
  });

  it('refuses to join a semaphore whose contenders agreed on another limit', async () => {
    const dev = await server();
    const prefix = `${uniquePrefix('sem')}limit`;
    await client(dev.address).semaphore(prefix, 3, quick).acquire();
    await expect(client(dev.address).semaphore(prefix, 2, quick).acquire()).rejects.toThrow(
      /limit conflict \(lock: 3, local: 2\)/,
    );
  });
});

describe('leader', () => {
  it('hands over when the leader process dies without a word, after its session expires', async () => {
    const dev = await server();
    const key = `${uniquePrefix('leader')}crash`;
    const script = `
      const { createConsulWatch } = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)});
      const client = createConsulWatch({ address: ${JSON.stringify(dev.address)} });
      client.leader(${JSON.stringify(key)}, { ttlMs: 600, lockDelayMs: 300, onElected: () => process.send('elected') });
    `;
    // Another process, running the built package: killed, it cannot release anything.
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    cleanup.push(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    await new Promise((resolve) => child.once('message', resolve));
    let electedAt = 0;
    const elected = new Promise<void>((resolve) => {
      const election = client(dev.address).leader(key, {
        ...quick,
        onElected: () => {
          electedAt = performance.now();
          resolve();
        },
      });
      cleanup.push(() => election.close());
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(electedAt).toBe(0); // the child still leads: it renews its session
    child.kill('SIGKILL');
    const killedAt = performance.now();
    await exited;
    await elected;
    // Its session lapses twice its TTL (1.2 s) after its last renewal, which came every 300 ms,
    // and then its lock-delay (300 ms) runs: nobody could take the key in between.
    expect(electedAt - killedAt).toBeGreaterThanOrEqual(300);
  });

  it('elects one leader and hands over when it closes', async () => {
    const dev = await server();
    const key = `${uniquePrefix('leader')}job`;
    const events: string[] = [];
    const elected = (name: string) =>
      new Promise<AbortSignal>((resolve) => {
        const election = client(dev.address).leader(key, {
          ...quick,
          onElected: (signal) => {
            events.push(`${name} elected`);
            resolve(signal);
          },
          onDemoted: (reason) => events.push(`${name} demoted (${reason})`),
        });
        cleanup.push(() => election.close());
        elections.push(election);
      });
    const elections: import('./leader').LeaderElection[] = [];
    const first = elected('first');
    const firstTerm = await first;
    const second = elected('second');
    expect(elections[0]!.isLeader).toBe(true);
    expect(elections[1]!.isLeader).toBe(false);
    await elections[0]!.close();
    expect(firstTerm.aborted).toBe(true);
    await second;
    expect(elections[1]!.isLeader).toBe(true);
    expect(events).toEqual(['first elected', 'first demoted (released)', 'second elected']);
  });

  it('names the leader in the key value: its session name, host and pid', async () => {
    const dev = await server();
    const key = `${uniquePrefix('leader')}who`;
    const c = client(dev.address);
    await new Promise<void>((resolve) => {
      const election = c.leader(key, { ...quick, onElected: () => resolve() });
      cleanup.push(() => election.close());
    });
    const entry = JSON.parse((await rawEntry(dev, key))!)[0];
    expect(entry.Flags).toBe(Number(LOCK_FLAGS)); // still Go's api.Lock key
    expect(JSON.parse(Buffer.from(entry.Value, 'base64').toString())).toEqual({
      session: 'Consul API Lock',
      host: hostname(),
      pid: process.pid,
    });
    // A value of the caller's own stays theirs.
    const own = `${uniquePrefix('leader')}own`;
    await new Promise<void>((resolve) => {
      const election = c.leader(own, { ...quick, value: 'me', onElected: () => resolve() });
      cleanup.push(() => election.close());
    });
    expect(await c.kv.getString(own)).toBe('me');
  });

  it('resumes leadership within about a second of Consul answering again after an outage longer than the TTL', async () => {
    const dev = await server();
    const proxy = await startFaultProxy(dev.address);
    cleanup.push(() => proxy.close());
    const key = `${uniquePrefix('leader')}outage`;
    // Consul (behind the proxy) keeps the old session 1.5 to 2 TTLs after the outage began,
    // and the leader steps down after one: a TTL of 3 s leaves Consul's return (at the step-down)
    // at least 1.5 s before that expiry, more than the client's probes take to hear it (at most
    // 1 s apart). With a lock-delay of 10 s, leadership can resume at once only if the key is
    // given back, never by waiting for the old session to expire.
    const settings = { ttlMs: 3_000, lockDelayMs: 10_000, retryMs: 50 };
    const elected: string[] = [];
    let onElected: (name: string) => void = () => {};
    const demoted: LockLossReason[] = [];
    let onDemoted: () => void = () => {};
    for (const name of ['a', 'b']) {
      const election = client(proxy.address).leader(key, {
        ...settings,
        onElected: () => onElected(name),
        onDemoted: (reason) => {
          demoted.push(reason);
          onDemoted();
        },
      });
      cleanup.push(() => election.close());
    }
    const next = () =>
      new Promise<string>((resolve) => {
        onElected = (name) => {
          elected.push(name);
          resolve(name);
        };
      });
    await next();
    // Consul goes away: every connection is reset, new ones as soon as they send a request.
    const stepDown = new Promise<void>((resolve) => {
      onDemoted = resolve;
    });
    proxy.resetNext(1_000_000);
    proxy.resetConnections();
    await stepDown;
    expect(demoted).toEqual(['unreachable']);
    // Back before Consul's own deadline for the old session (twice its TTL): it still holds.
    const resumed = next();
    proxy.resetNext(0);
    const backAt = performance.now();
    await resumed;
    expect(performance.now() - backAt).toBeLessThan(1_500);
    expect(elected).toHaveLength(2);
  }, 15_000);
});
