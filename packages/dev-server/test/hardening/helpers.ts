import { type Agent, request } from 'node:http';

export { seededRandom as prng } from '../../src/seededRandom';

export interface Sent {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request over node:http; rejects on a socket error or after `timeoutMs`. */
export function call(
  base: { port: number; agent: Agent | false },
  sent: Sent,
  timeoutMs = 5_000,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: base.port,
        method: sent.method,
        path: sent.path,
        headers: sent.headers,
        agent: base.agent,
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

/**
 * Polls `predicate` on every turn of the event loop (setImmediate: no fixed sleep) until it
 * holds, and rejects with `describe()` once `timeoutMs` has passed.
 */
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
      setImmediate(look);
    };
    look();
  });
}
