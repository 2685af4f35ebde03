import { request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection now. RSS read without one measures how far V8 let the heap grow
 * before collecting, which swings by tens of MB with the allocation rate; after one, growth
 * over a run is memory something still holds.
 */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Resolves after `ms`, or at once when `signal` aborts; leaves no timer behind either way. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Polls `condition` every `intervalMs` until it holds (resolves true) or `timeoutMs` has
 * passed (resolves false). Bounded: never waits longer than the timeout.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 20,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await sleep(Math.min(intervalMs, left));
  }
}

export { seededRandom } from '@consul-watch/dev-server/testing';

export type Rng = () => number;

export const between = (rng: Rng, min: number, max: number) =>
  Math.floor(min + rng() * (max - min + 1));

export const pick = <T>(rng: Rng, items: readonly T[]): T =>
  items[Math.floor(rng() * items.length)]!;

export function shuffle<T>(rng: Rng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * JSON with object keys sorted at every depth and Create/ModifyIndex left out: two records
 * that only differ in the indexes Consul raises on no-op writes compare equal, as the
 * watch engine compares them.
 */
export function stableJson(value: unknown): string {
  return JSON.stringify(sortDeep(value));
}

function sortDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortDeep);
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      if (key === 'CreateIndex' || key === 'ModifyIndex') continue;
      out[key] = sortDeep((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return value;
}

export interface HttpAnswer {
  status: number;
  text: string;
}

/**
 * One plain HTTP call to Consul, without keep-alive, so no socket outlives it (the writer
 * and the direct reads survive server restarts this way, and leave no handle behind).
 */
export function consulCall(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 5_000,
): Promise<HttpAnswer> {
  const payload =
    body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${baseUrl}${path}`,
      { method, agent: false, headers: { connection: 'close' }, timeout: timeoutMs },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)),
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A call that must succeed: 2xx, else it throws with the status and body. */
export async function consulOk(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<string> {
  const answer = await consulCall(baseUrl, method, path, body);
  if (answer.status < 200 || answer.status > 299)
    throw new Error(`${method} ${path}: ${answer.status} ${answer.text.trim()}`);
  return answer.text;
}

/** A GET of JSON; a 404 reads as `fallback` (Consul answers 404 for an absent key). */
export async function consulJson<T>(baseUrl: string, path: string, fallback: T): Promise<T> {
  const answer = await consulCall(baseUrl, 'GET', path);
  if (answer.status === 404) return fallback;
  if (answer.status !== 200) throw new Error(`GET ${path}: ${answer.status} ${answer.text.trim()}`);
  return JSON.parse(answer.text) as T;
}
