import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  BACKOFF_OPTIONS,
  type BackoffOptions,
  backoffDelay,
  DEFAULT_BACKOFF,
  pause,
} from '../backoff';
import { HandlerError, InvalidInputError } from '../errors';
import { describeValue, urlForMessage } from '../messageText';
import { checkOptionNames, namesOf } from '../optionNames';
import { MAX_TIMER_MS, positiveMs, wholeNumber } from '../optionValues';
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

const HTTP_OPTIONS = namesOf<HttpHandlerOptions>({
  url: true,
  method: true,
  headers: true,
  timeoutMs: true,
  retries: true,
  backoff: true,
  tls: true,
});
const TLS_OPTIONS = namesOf<NonNullable<HttpHandlerOptions['tls']>>({
  ca: true,
  cert: true,
  key: true,
  rejectUnauthorized: true,
});

interface Checked {
  method: 'POST' | 'PUT';
  headers: Record<string, string>;
  timeoutMs: number;
  tls: NonNullable<HttpHandlerOptions['tls']>;
}

function post(url: URL, checked: Checked, body: string): Promise<number> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: checked.method,
        headers: {
          ...checked.headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
        timeout: checked.timeoutMs,
        agent: false,
        ...(url.protocol === 'https:' ? checked.tls : {}),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${checked.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The characters of an HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The url option, parsed; a message shows it without user:password. */
function checkUrl(value: unknown): URL {
  const hint = 'give an absolute http:// or https:// URL, such as "http://127.0.0.1:8080/hook"';
  let url: URL;
  try {
    if (typeof value !== 'string' && !(value instanceof URL)) throw new TypeError('not a string');
    url = new URL(value);
  } catch {
    const shown =
      typeof value === 'string' ? JSON.stringify(urlForMessage(value)) : describeValue(value);
    throw new InvalidInputError(
      `httpHandler url ${value === undefined ? 'undefined' : shown} is not a valid URL; ${hint}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInputError(
      `httpHandler url must be http or https, not ${url.protocol}; ${hint}`,
    );
  }
  return url;
}

/** The headers option: valid names, string values without CR, LF or other control bytes. */
function checkHeaders(where: string, headers: unknown): Record<string, string> {
  if (headers === undefined) return {};
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
    throw new InvalidInputError(
      `${where}: headers must be an object of header names to string values, such as { authorization: "Bearer …" }, not ${describeValue(headers)}`,
    );
  }
  const checked: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) {
      // Only the valid start: `{ "Authorization: Bearer x": … }` must not show the token.
      const shown = JSON.stringify(
        name.slice(0, Math.max(0, name.search(/[^!#$%&'*+.^_`|~0-9A-Za-z-]/))),
      );
      throw new InvalidInputError(
        `${where}: headers has a name that is not a valid HTTP header name (${shown}…); names are letters, digits and !#$%&'*+.^_\`|~-`,
      );
    }
    if (typeof value !== 'string') {
      throw new InvalidInputError(
        `${where}: header ${name} must be a string, not ${value === null ? 'null' : typeof value}; write it as a string`,
      );
    }
    if (/[\r\n]/.test(value)) {
      throw new InvalidInputError(
        `${where}: header ${name} holds a line break (CR or LF), which would split the request; remove it`,
      );
    }
    // What node accepts in a header value: tab, printable ASCII and bytes 0x80-0xff.
    if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) {
      throw new InvalidInputError(
        `${where}: header ${name} holds a character not allowed in a header value (a control character, or one above U+00FF); remove or encode it`,
      );
    }
    checked[name] = value;
  }
  return checked;
}

function checkMethod(where: string, method: unknown): 'POST' | 'PUT' {
  if (method === undefined) return 'POST';
  const upper = typeof method === 'string' ? method.toUpperCase() : '';
  if (upper !== 'POST' && upper !== 'PUT') {
    throw new InvalidInputError(
      `${where}: method must be "POST" or "PUT", not ${describeValue(method)}; leave it out for POST`,
    );
  }
  return upper;
}

function checkBackoff(where: string, backoff: unknown): Required<BackoffOptions> {
  if (backoff === undefined) return { ...DEFAULT_BACKOFF };
  if (backoff === null || typeof backoff !== 'object' || Array.isArray(backoff)) {
    throw new InvalidInputError(
      `${where}: backoff must be an object such as { baseMs: 100, maxMs: 30000 }, not ${describeValue(backoff)}`,
    );
  }
  checkOptionNames(backoff, BACKOFF_OPTIONS, `${where} backoff`);
  const given = backoff as BackoffOptions;
  const checked = { ...DEFAULT_BACKOFF };
  for (const key of ['baseMs', 'maxMs', 'slowMs'] as const) {
    const value = given[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_TIMER_MS) {
      throw new InvalidInputError(
        `${where}: backoff.${key} must be a number of milliseconds from 0 to ${MAX_TIMER_MS}, got ${describeValue(value)}; leave it out for the default ${DEFAULT_BACKOFF[key]}`,
      );
    }
    checked[key] = value;
  }
  return checked;
}

/**
 * POSTs each change as JSON to a URL, as `consul watch -http-addr` does, retrying network
 * errors, 5xx and 429 with exponential back-off and full jitter. A 4xx other than 429 is not
 * retried. Options are checked when the handler is made (InvalidInputError, never showing a
 * password or a header value). Rejects with a HandlerError after the last attempt.
 */
export function httpHandler(options: HttpHandlerOptions): (change: WatchChange) => Promise<void> {
  if (options !== null && typeof options === 'object')
    checkOptionNames(options, HTTP_OPTIONS, 'httpHandler');
  const url = checkUrl(options?.url);
  // Credentials in the URL would end up in messages; name the host only.
  // Scheme and host only: a webhook's path is often its secret (Slack, Teams, …).
  const where = `${url.protocol}//${url.host}`;
  const name = `httpHandler ${where}`;
  const retries = wholeNumber(name, 'retries', options.retries, 3);
  const backoff = checkBackoff(name, options.backoff);
  const tls = options.tls;
  if (tls !== undefined && (tls === null || typeof tls !== 'object' || Array.isArray(tls))) {
    throw new InvalidInputError(
      `${name}: tls must be an object such as { ca, cert, key }, not ${describeValue(tls)}`,
    );
  }
  if (tls) checkOptionNames(tls, TLS_OPTIONS, `${name} tls`);
  const checked: Checked = {
    method: checkMethod(name, options.method),
    headers: checkHeaders(name, options.headers),
    timeoutMs: positiveMs(name, 'timeoutMs', options.timeoutMs, 10_000),
    tls: { ...tls },
  };
  return async (change) => {
    const body = JSON.stringify(changeToJson(change));
    let last = 'no attempt was made';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0)
        await pause(backoffDelay(attempt - 1, backoff), new AbortController().signal);
      try {
        const status = await post(url, checked, body);
        if (status >= 200 && status < 300) return;
        last = `answered ${status}`;
        if (status < 500 && status !== 429) break;
      } catch (error) {
        last = (error as Error)?.message || String(error);
      }
    }
    throw new HandlerError(
      `HTTP handler ${where} failed for the change at index ${change.index}: ${last}`,
    );
  };
}
