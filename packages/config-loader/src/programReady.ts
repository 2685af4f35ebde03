import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidInputError, TimeoutError } from '@consul-watch/core';

/** When a restarted program counts as ready. */
export interface ReadyCheck {
  /** Polled until it answers 2xx. */
  url?: string;
  /** Without a URL: ready once the program has run this long, ms. */
  afterMs: number;
  /** With a URL: a restart fails when no 2xx came within this long, ms. */
  timeoutMs: number;
}

/** The user's names for the ready options, for messages. */
export interface ReadyNames {
  url: string;
  timeout: string;
}

const POLL_MS = 100;

/** Refuses a ready URL that is not http(s). */
export function checkReadyUrl(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {}
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new InvalidInputError(
      `${name} must be an http:// or https:// URL that answers 2xx once the program is ready, such as "http://127.0.0.1:3000/health", got ${JSON.stringify(value)}`,
    );
  return url.href;
}

/**
 * Resolves once the program is ready by `check`, with how long that took; rejects with a
 * TimeoutError naming the URL and its last answer when it never answered 2xx in time.
 */
export async function waitUntilReady(
  check: ReadyCheck,
  names: ReadyNames,
  signal: AbortSignal,
): Promise<number> {
  const started = performance.now();
  if (!check.url) {
    await sleep(check.afterMs, undefined, { signal });
    return Math.round(performance.now() - started);
  }
  const deadline = started + check.timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    signal.throwIfAborted();
    const left = deadline - performance.now();
    if (left <= 0) break;
    try {
      const res = await fetch(check.url, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(Math.max(1, Math.min(left, 2_000)))]),
      });
      await res.body?.cancel();
      if (res.status >= 200 && res.status < 300) return Math.round(performance.now() - started);
      last = `HTTP ${res.status}`;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const cause = (error as { cause?: { code?: string } }).cause;
      last = cause?.code ?? (error as Error).name;
    }
    await sleep(Math.min(POLL_MS, Math.max(0, deadline - performance.now())), undefined, {
      signal,
    });
  }
  throw new TimeoutError(
    `the restarted program did not answer 2xx at ${names.url} ${check.url} within ${check.timeoutMs} ms (last: ${last}); its roll-out slot is released. Fix the program, or raise ${names.timeout}.`,
  );
}
