import { type Agent, request } from 'node:http';

/** A request sent exactly as given: method, path (dot segments and odd escapes included), headers, body. */
export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * One request to 127.0.0.1 over node:http, for tests that must send what a client library
 * would refuse or rewrite. Rejects on a socket error or after `timeoutMs`.
 */
export function rawRequest(
  base: { port: number; agent?: Agent | false },
  sent: RawRequest,
  timeoutMs = 5_000,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: base.port,
        method: sent.method,
        path: sent.path,
        headers: sent.headers,
        agent: base.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          });
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(sent.body);
  });
}

/** Checks `predicate` every 5 ms until it holds; rejects with `describe()` after `timeoutMs`. */
export function until(
  predicate: () => boolean,
  timeoutMs: number,
  describe: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const look = () => {
      if (predicate()) return resolve();
      if (Date.now() > deadline) return reject(new Error(describe()));
      setTimeout(look, 5);
    };
    look();
  });
}
