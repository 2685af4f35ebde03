import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF, pause } from '../backoff';
import { HandlerError, InvalidInputError } from '../errors';
import type { WatchChange } from '../watchTypes';
import { changeToJson } from './changeJson';

export interface HttpHandlerOptions {
  url: string;
  /** Default POST. */
  method?: 'POST' | 'PUT';
  /** Extra headers (for example an Authorization header); never logged. */
  headers?: Record<string, string>;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  /** Further attempts after a failed one (network error, 5xx, 429). Default 3. */
  retries?: number;
  backoff?: BackoffOptions;
  /** TLS for https URLs. */
  tls?: {
    ca?: string | Buffer;
    cert?: string | Buffer;
    key?: string | Buffer;
    rejectUnauthorized?: boolean;
  };
}

function post(
  url: URL,
  options: HttpHandlerOptions,
  body: string,
  timeoutMs: number,
): Promise<number> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: options.method ?? 'POST',
        headers: {
          ...options.headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
        timeout: timeoutMs,
        agent: false,
        ...(url.protocol === 'https:' ? options.tls : {}),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * POSTs each change as JSON to a URL, as `consul watch -http-addr` does, retrying network
 * errors, 5xx and 429 with exponential back-off and full jitter. A 4xx other than 429 is not
 * retried. Rejects with a HandlerError after the last attempt.
 */
export function httpHandler(options: HttpHandlerOptions): (change: WatchChange) => Promise<void> {
  let url: URL;
  try {
    url = new URL(options?.url);
  } catch {
    throw new InvalidInputError(
      `httpHandler url ${JSON.stringify(options?.url)} is not a valid URL`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInputError(`httpHandler url must be http or https, not ${url.protocol}`);
  }
  const retries = options.retries ?? 3;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  // Credentials in the URL would end up in messages; name the host only.
  const where = `${url.protocol}//${url.host}${url.pathname}`;
  return async (change) => {
    const body = JSON.stringify(changeToJson(change));
    let last = '';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0)
        await pause(backoffDelay(attempt - 1, backoff), new AbortController().signal);
      try {
        const status = await post(url, options, body, timeoutMs);
        if (status >= 200 && status < 300) return;
        last = `answered ${status}`;
        if (status < 500 && status !== 429) break;
      } catch (error) {
        last = (error as Error).message;
      }
    }
    throw new HandlerError(
      `HTTP handler ${where} failed for the change at index ${change.index}: ${last}`,
    );
  };
}
