import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConsulWatch, createConsulWatch } from '@consul-watch/core';
import { type DevServer, startDevServer } from '@consul-watch/dev-server';
import { type FaultProxy, startFaultProxy } from '@consul-watch/dev-server/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli } from './cliRun';

let dev: DevServer;
let client: ConsulWatch;
let dir: string;
let app: string;
const children = new Set<ChildProcessWithoutNullStreams>();

beforeAll(async () => {
  // Short session TTLs, so a killed instance's session lapses within the test.
  dev = await startDevServer({ sessionTtlMinMs: 100 });
  client = createConsulWatch({ address: dev.address });
  dir = await mkdtemp(join(tmpdir(), 'cw-rollout-'));
  app = join(dir, 'app.mjs');
  // A program that logs its own life to LOG: it takes STOP_MS to stop and answers 2xx on PORT
  // READY_MS after it started (never, when the environment says BROKEN=1).
  await writeFile(
    app,
    `import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
const id = process.env.INSTANCE;
const log = (what) => appendFileSync(process.env.LOG, [Date.now(), id, what, process.env.N ?? '-', process.pid].join(' ') + '\\n');
let ready = false;
const server = createServer((req, res) => { res.statusCode = ready ? 200 : 503; res.end(); });
if (process.env.BROKEN !== '1') server.listen(Number(process.env.PORT), '127.0.0.1');
log('start');
setTimeout(() => { if (process.env.BROKEN !== '1') { ready = true; log('ready'); } }, Number(process.env.READY_MS ?? 0));
process.on('SIGTERM', () => {
  log('stopping');
  setTimeout(() => { server.close(); log('stopped'); process.exit(0); }, Number(process.env.STOP_MS ?? 0));
});
setInterval(() => {}, 1000);
`,
  );
});
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});
afterAll(async () => {
  await client.close();
  await dev.close();
  await rm(dir, { recursive: true, force: true });
});

const unique = (label: string) => `cw-rollcli/${label}-${Math.random().toString(36).slice(2, 8)}`;

function start(address: string, args: string[], env: Record<string, string>) {
  return runCli(['--http-addr', address, ...args, '--', process.execPath, app], env, children);
}

/** The programs' own log: `<ms> <instance> <start|ready|stopping|stopped> <N> <pid>`. */
async function programLog(file: string) {
  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  return lines.map((l) => {
    const [at, id, what, n, pid] = l.split(' ');
    return { at: Number(at), id: id!, what: what!, n: n!, pid: Number(pid) };
  });
}

/** The most programs that were stopping, stopped or not yet ready at one moment, from their logs. */
function mostNotReady(log: Awaited<ReturnType<typeof programLog>>): number {
  const down = new Set<string>();
  let most = 0;
  for (const e of [...log].sort((a, b) => a.at - b.at)) {
    if (e.what === 'stopping') down.add(e.id);
    if (e.what === 'ready') down.delete(e.id);
    most = Math.max(most, down.size);
  }
  return most;
}

describe('consul-env roll-outs', () => {
  it('restarts once for a burst of writes with --wait', async () => {
    const prefix = unique('burst');
    const log = join(dir, `${prefix.replace(/\//g, '_')}.log`);
    await client.kv.put(`${prefix}/n`, '0');
    const run = start(dev.address, ['--prefix', prefix, '--wait', '150'], {
      INSTANCE: 'a',
      LOG: log,
      PORT: String(await freePort()),
    });
    await waitForLog(log, (l) => l.some((e) => e.what === 'start'));
    for (let i = 1; i <= 10; i++) {
      await client.kv.put(`${prefix}/n`, String(i));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await waitForLog(log, (l) => l.some((e) => e.what === 'start' && e.n === '10'));
    // One more change, restarted on its own: nothing of the burst was left to restart for.
    await client.kv.put(`${prefix}/other`, 'x');
    await run.lines(/changed: OTHER/);
    await waitForLog(log, (l) => l.filter((e) => e.what === 'start').length === 3);
    const starts = (await programLog(log)).filter((e) => e.what === 'start');
    expect(starts.map((s) => s.n)).toEqual(['0', '10', '10']);
  });

  it('with --rolling, never has more than --max-restarting programs stopped or not ready', async () => {
    const prefix = unique('bound');
    const key = unique('sem');
    const log = join(dir, `${prefix.replace(/\//g, '_')}.log`);
    await client.kv.put(`${prefix}/n`, '0');
    const runs = [];
    for (let i = 0; i < 5; i++) {
      const port = await freePort();
      runs.push(
        start(
          dev.address,
          [
            '--prefix',
            prefix,
            '--wait',
            '100',
            '--rolling',
            key,
            '--max-restarting',
            '2',
            '--ready-url',
            `http://127.0.0.1:${port}/`,
          ],
          { INSTANCE: `i${i}`, LOG: log, PORT: String(port), STOP_MS: '50', READY_MS: '150' },
        ),
      );
    }
    await waitForLog(log, (l) => l.filter((e) => e.what === 'ready').length === 5);
    await client.kv.put(`${prefix}/n`, '1');
    await waitForLog(log, (l) => l.filter((e) => e.what === 'ready' && e.n === '1').length === 5);
    for (const run of runs) await run.lines(/consul-env: ready after \d+ ms; slot released/);
    expect(runs[0]!.out).toMatch(/consul-env: waiting for a slot of cw-rollcli\/sem-/);
    expect(runs[0]!.out).toMatch(/consul-env: restarting \(slot taken after waiting \d+ ms\)/);
    const events = await programLog(log);
    expect(mostNotReady(events)).toBe(2);
    expect(events.filter((e) => e.what === 'start' && e.n === '1')).toHaveLength(5);
  });

  it('a program that never becomes ready fails loudly and gives its slot back', async () => {
    const prefix = unique('never');
    const key = unique('sem');
    const log = join(dir, `${prefix.replace(/\//g, '_')}.log`);
    await client.kv.put(`${prefix}/n`, '0');
    const flags = (port: number) => [
      '--prefix',
      prefix,
      '--rolling',
      key,
      '--ready-url',
      `http://127.0.0.1:${port}/`,
      '--ready-timeout',
      '400',
    ];
    const [pa, pb] = [await freePort(), await freePort()];
    const a = start(dev.address, flags(pa), { INSTANCE: 'a', LOG: log, PORT: String(pa) });
    const b = start(dev.address, flags(pb), { INSTANCE: 'b', LOG: log, PORT: String(pb) });
    await waitForLog(log, (l) => l.filter((e) => e.what === 'ready').length === 2);
    // The new environment breaks the program: neither comes back ready.
    await client.kv.put(`${prefix}/broken`, '1');
    for (const run of [a, b])
      await run.lines(
        /consul-env: restart failed: the restarted program did not answer 2xx at --ready-url http:\/\/127\.0\.0\.1:\d+\/ within 400 ms .*raise --ready-timeout/,
      );
    // Both got the slot in turn (one at a time): the first one's failure gave it back, and
    // so does the second's.
    const stops = (await programLog(log)).filter((e) => e.what === 'stopping');
    expect(stops).toHaveLength(2);
    await holdersOf(key, (holders) => holders.length === 0);
  });

  it("a killed consul-env's slot comes back once its session lapses", async () => {
    const prefix = unique('killed');
    const key = unique('sem');
    const log = join(dir, `${prefix.replace(/\//g, '_')}.log`);
    await client.kv.put(`${prefix}/n`, '0');
    const flags = ['--prefix', prefix, '--rolling', key, '--session-ttl', '200'];
    const a = start(dev.address, [...flags, '--ready-after', '60000'], {
      INSTANCE: 'a',
      LOG: log,
      PORT: String(await freePort()),
    });
    await waitForLog(log, (l) => l.some((e) => e.id === 'a' && e.what === 'start'));
    await client.kv.put(`${prefix}/n`, '1');
    await a.lines(/consul-env: restarting/);
    // Killed while it holds the slot: nothing gives it back but Consul. (Its program lives
    // on, orphaned; the test ends it.)
    a.child.kill('SIGKILL');
    const killed = performance.now();
    await a.exited;
    const b = start(dev.address, [...flags, '--ready-after', '0'], {
      INSTANCE: 'b',
      LOG: log,
      PORT: String(await freePort()),
    });
    await waitForLog(log, (l) => l.some((e) => e.id === 'b' && e.what === 'start'));
    await client.kv.put(`${prefix}/n`, '2');
    await b.lines(/consul-env: waiting for a slot/);
    await b.lines(/consul-env: ready after \d+ ms; slot released/);
    // Not before a's session lapsed: Consul allows twice its TTL (200 ms) after the last
    // renewal, which a sent at most half a TTL before it was killed.
    expect(performance.now() - killed).toBeGreaterThanOrEqual(300);
    for (const e of await programLog(log))
      if (e.id === 'a' && e.what === 'start') {
        try {
          process.kill(e.pid, 'SIGKILL');
        } catch {}
      }
  });

  it('with Consul away mid-roll-out, restarts nothing without a slot and loses no restart', async () => {
    const prefix = unique('away');
    const key = unique('sem');
    const log = join(dir, `${prefix.replace(/\//g, '_')}.log`);
    await client.kv.put(`${prefix}/n`, '0');
    const proxy: FaultProxy = await startFaultProxy(dev.address);
    try {
      const runs = [];
      for (const id of ['a', 'b', 'c']) {
        const port = await freePort();
        runs.push(
          start(
            proxy.address,
            ['--prefix', prefix, '--rolling', key, '--ready-url', `http://127.0.0.1:${port}/`],
            { INSTANCE: id, LOG: log, PORT: String(port), READY_MS: '100' },
          ),
        );
      }
      await waitForLog(log, (l) => l.filter((e) => e.what === 'start').length === 3);
      await client.kv.put(`${prefix}/n`, '1');
      const first = await Promise.race(
        runs.map((r) => r.lines(/consul-env: restarting/).then(() => r)),
      );
      // Consul goes away: open connections drop, every request from now on is held unanswered.
      proxy.stallNext(100_000);
      proxy.resetConnections();
      // The holder's program comes back ready; giving the slot back waits for Consul too.
      await first.lines(/consul-env: ready after/);
      await proxy.whenStalled(5);
      const during = await programLog(log);
      expect(during.filter((e) => e.what === 'stopping')).toHaveLength(1);
      // Back: the others restart in turn, one at a time, all on the new value.
      proxy.stallNext(0);
      proxy.release();
      await waitForLog(log, (l) => l.filter((e) => e.what === 'start' && e.n === '1').length === 3);
      const events = await programLog(log);
      expect(events.filter((e) => e.what === 'stopping')).toHaveLength(3);
      expect(mostNotReady(events)).toBe(1);
    } finally {
      for (const child of children) child.kill('SIGKILL');
      await proxy.close();
    }
  });
});

/** Resolves once the semaphore's holders satisfy `test`, read again every 20 ms (5 s at most). */
async function holdersOf(key: string, test: (holders: string[]) => boolean): Promise<void> {
  const deadline = performance.now() + 5_000;
  for (;;) {
    const lock = await client.kv.getJson<{ Holders: Record<string, boolean> }>(`${key}/.lock`);
    const holders = Object.keys(lock?.Holders ?? {});
    if (test(holders)) return;
    if (performance.now() > deadline) throw new Error(`holders of ${key}: ${holders.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves once the programs' log satisfies `test`, re-read as it grows. */
async function waitForLog(
  file: string,
  test: (log: Awaited<ReturnType<typeof programLog>>) => boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const { watch } = await import('node:fs');
  await new Promise<void>((resolve, reject) => {
    let done = false;
    const check = async () => {
      if (done) return;
      const log = await programLog(file).catch(() => []);
      if (!test(log) || done) return;
      done = true;
      clearTimeout(timer);
      watcher.close();
      resolve();
    };
    const watcher = watch(dir, () => void check());
    const timer = setTimeout(async () => {
      done = true;
      watcher.close();
      reject(
        new Error(`program log never matched: ${await readFile(file, 'utf8').catch(() => '')}`),
      );
    }, timeoutMs);
    void check();
  });
}
