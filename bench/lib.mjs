// Small helpers shared by the `*.bench.mjs` files: statistics, a markdown table, RSS, a
// loopback HTTP load loop and a child-process launcher with request/reply over IPC.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { cpus, loadavg } from 'node:os';

// ---------------------------------------------------------------- statistics

/** Nearest-rank percentile (p in 0..100) of numbers; sorts a copy. */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export const median = (values) => percentile(values, 50);

/** p50 / p99 / max of latency samples. */
export function summarize(samples) {
  return {
    count: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: Math.max(...samples),
  };
}

/** A number with a fixed count of decimals and thousands separators. */
export function fmt(value, digits = 0) {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

// ---------------------------------------------------------------- output

/** A GitHub-flavoured markdown table; numbers are right-aligned. */
export function markdownTable(headers, rows) {
  const cells = rows.map((row) => row.map((cell) => String(cell)));
  const widths = headers.map((h, i) => Math.max(h.length, 3, ...cells.map((r) => r[i].length)));
  const numeric = headers.map((_, i) => {
    const filled = cells.map((r) => r[i]).filter((c) => c !== '');
    return filled.length > 0 && filled.every((c) => /^[-+]?[\d,.]+( ?[%x×])?$/.test(c));
  });
  const line = (row) =>
    `| ${row.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(headers), rule, ...cells.map(line)].join('\n');
}

export function printTable(title, headers, rows) {
  console.log(`\n### ${title}\n\n${markdownTable(headers, rows)}`);
}

/** One line naming the machine, so a table is never read without its context. */
export function machineLine() {
  const cpu = cpus();
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return `Node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, load average ${load}`;
}

// ---------------------------------------------------------------- memory and CPU

/** Resident set size of a process in MB, from /proc (Linux), else this process's own. */
export function rssMb(pid = process.pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
    if (Number.isFinite(kb)) return kb / 1024;
  } catch {
    // Not Linux, or the process is gone: fall through.
  }
  if (pid !== process.pid) return Number.NaN;
  return process.memoryUsage().rss / 1024 / 1024;
}

/** Peak resident set size of a process in MB so far (Linux's VmHWM), NaN where /proc is missing. */
export function peakRssMb(pid = process.pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** Collects garbage (needs --expose-gc) so RSS and heap readings are not lagging garbage. */
export function collectGarbage() {
  if (typeof globalThis.gc !== 'function') return;
  for (let i = 0; i < 3; i++) globalThis.gc();
}

/** CPU time (user + system) in ms this process has used since `since` (a cpuUsage()). */
export function cpuMs(since) {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

/**
 * CPU time of this process's main thread, ms, from Linux's per-thread schedstat; undefined
 * elsewhere. `process.cpuUsage()` also counts the other threads (V8's compiler and GC helpers,
 * libuv's pool), and a profile of the main thread sees only this one.
 */
export function mainThreadCpuMs() {
  try {
    const ns = Number(
      readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0],
    );
    return ns / 1e6;
  } catch {
    return undefined;
  }
}

/** CPU counters of the whole machine (Linux /proc/stat), to compare with `busyCores` later. */
export function machineCpuMark() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    const ticks = fields.slice(1, 9).map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    return { total, idle: ticks[3] + ticks[4] };
  } catch {
    return undefined;
  }
}

/**
 * How many cores the whole machine kept busy since `mark`, all processes together: what the
 * benchmark's own processes did not use of that is other people's work, i.e. noise.
 */
export function busyCores(mark) {
  const now = machineCpuMark();
  if (!mark || !now || now.total === mark.total) return Number.NaN;
  const total = now.total - mark.total;
  return ((total - (now.idle - mark.idle)) / total) * cpus().length;
}

// ---------------------------------------------------------------- HTTP client

/** A keep-alive agent holding at most `sockets` connections, with Nagle off. */
export function keepAliveAgent(sockets = 1) {
  return new Agent({ keepAlive: true, maxSockets: sockets, noDelay: true });
}

/**
 * One HTTP request to 127.0.0.1; resolves with status, headers and body once the body has
 * arrived. Rejects after `timeoutMs`, so no loop built on it can hang.
 */
export function httpRequest({ agent, port, method = 'GET', path, body, timeoutMs = 10_000 }) {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'Content-Length': Buffer.byteLength(body) };
    const req = request({ agent, host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`)),
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** PUT /v1/kv/<key> over `agent`; throws unless Consul (or the dev-server) answers 200 `true`. */
export async function putKv({ agent, port, key, body, timeoutMs }) {
  const res = await httpRequest({
    agent,
    port,
    method: 'PUT',
    path: `/v1/kv/${key}`,
    body,
    timeoutMs,
  });
  if (res.status !== 200 || res.body.trim() !== 'true')
    throw new Error(`PUT ${key} answered ${res.status} ${res.body}`);
}

/**
 * Closed-loop load: `concurrency` keep-alive connections, each with one request in flight,
 * until `durationMs` has passed or `maxRequests` have been sent, whichever comes first.
 * `describe(i)` gives the i-th request as { method, path, body }.
 *
 * It writes requests and reads responses on raw sockets: node:http's client costs about
 * 50 µs of CPU per request, so on a 2-core machine it saturated its core at ~20k req/s
 * before a bare node:http server did, and the loop measured itself. Responses must carry
 * Content-Length (both servers here always send it); anything else counts as an error.
 */
export async function loadLoop({ port, concurrency, durationMs, maxRequests = 1e9, describe }) {
  let sent = 0;
  let ok = 0;
  let errors = 0;
  let firstError;
  const fail = (message) => {
    errors++;
    firstError ??= message;
  };
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const deadline = start + durationMs;

  const connection = () =>
    new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      let pending = null;
      const next = () => {
        if (sent >= maxRequests || performance.now() >= deadline) {
          socket.end();
          return;
        }
        const { method, path, body = '' } = describe(sent++);
        socket.write(
          `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      };
      socket.setTimeout(10_000, () => socket.destroy(new Error('no answer for 10 s')));
      socket.on('connect', next);
      socket.on('data', (chunk) => {
        pending = pending ? Buffer.concat([pending, chunk]) : chunk;
        while (pending) {
          const headEnd = pending.indexOf('\r\n\r\n');
          if (headEnd < 0) return;
          const head = pending.toString('latin1', 0, headEnd);
          const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
          if (length === undefined) {
            socket.destroy(new Error(`answer without Content-Length: ${head.split('\r\n')[0]}`));
            return;
          }
          const total = headEnd + 4 + Number(length);
          if (pending.length < total) return;
          const status = Number(head.slice(9, 12));
          if (status >= 200 && status < 300) ok++;
          else fail(`${status} ${pending.toString('utf8', headEnd + 4, total)}`);
          pending = pending.length === total ? null : pending.subarray(total);
          next();
        }
      });
      socket.on('error', (error) => fail(error.message));
      socket.on('close', resolve);
    });

  await Promise.all(Array.from({ length: concurrency }, connection));
  const elapsedMs = performance.now() - start;
  return {
    ok,
    errors,
    firstError,
    elapsedMs,
    perSecond: ok / (elapsedMs / 1000),
    clientCpuMs: cpuMs(cpuBefore),
  };
}

/** `samples` sequential round trips (after `warmup` unmeasured ones), in ms. */
export async function roundTrips({ port, method, path, body, samples, warmup = 20 }) {
  const agent = keepAliveAgent(1);
  const times = [];
  try {
    for (let i = 0; i < warmup + samples; i++) {
      const t0 = performance.now();
      const res = await httpRequest({ agent, port, method, path, body });
      const ms = performance.now() - t0;
      if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}`);
      if (i >= warmup) times.push(ms);
    }
  } finally {
    agent.destroy();
  }
  return times;
}

// ---------------------------------------------------------------- child processes

/**
 * Runs the methods of `handlers` for the process that forked this one (see `launch`). The
 * child exits when its parent goes away, so a crashed benchmark leaves nothing behind.
 */
export function serveParent(handlers) {
  process.on('message', async ({ id, method, args }) => {
    try {
      const handler = handlers[method];
      if (!handler) throw new Error(`no method ${method}`);
      process.send({ id, result: await handler(...args) });
    } catch (error) {
      process.send({ id, error: error?.stack ?? String(error) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/**
 * Forks `file` (node --expose-gc, no shell) and returns a handle whose `call(method, ...args)`
 * runs that method in the child (which called `serveParent`) and resolves with its result.
 * Every call has a time limit; `stop()` ends the child.
 */
export function launch(file, args = [], { callTimeoutMs = 120_000 } = {}) {
  const child = fork(file, args, {
    // BENCH_NODE_FLAGS: extra node/V8 flags for every child (`--trace-deopt`, `--max-semi-space-size=…`).
    execArgv: ['--expose-gc', ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map();
  let nextId = 0;
  let exited = false;
  const exit = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      for (const { reject, timer } of pending.values()) {
        clearTimeout(timer);
        reject(new Error(`${file} ${args.join(' ')} exited (${signal ?? code})`));
      }
      pending.clear();
      resolve();
    });
  });
  child.on('message', ({ id, result, error }) => {
    const call = pending.get(id);
    if (!call) return;
    pending.delete(id);
    clearTimeout(call.timer);
    if (error) call.reject(new Error(`in child ${args.join(' ')}: ${error}`));
    else call.resolve(result);
  });
  return {
    pid: child.pid,
    call(method, ...callArgs) {
      if (exited) return Promise.reject(new Error(`${file} ${args.join(' ')} has exited`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${method} took more than ${callTimeoutMs} ms`));
        }, callTimeoutMs);
        pending.set(id, { resolve, reject, timer });
        child.send({ id, method, args: callArgs });
      });
    },
    async stop() {
      if (!exited) {
        if (child.connected) child.disconnect();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exit;
        clearTimeout(timer);
      }
    },
  };
}

/**
 * Starts a CPU profile of this process with the inspector (100 µs sampling: ten times the
 * default, enough samples for shares of a few µs per change); `stop()` writes it to
 * `<dir>/<name>-<pid>.cpuprofile`.
 */
export async function startCpuProfile(dir, name) {
  const { Session } = await import('node:inspector/promises');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return async function stop() {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(`${dir}/${name}-${process.pid}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  };
}

/** Runs `fn` under `startCpuProfile(dir, name)` when `dir` is set; as it is otherwise. */
export async function profiled(dir, name, fn) {
  if (!dir) return fn();
  const stop = await startCpuProfile(dir, name);
  try {
    return await fn();
  } finally {
    await stop();
  }
}
