import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';

/** The raw response the npm `consul` client hands back with `ctx.includeResponse`. */
export type Res = IncomingMessage & { statusCode: number };

/** Runs a client call and returns the raw response with the body, or the error's status. */
export async function withResponse<T>(
  call: (ctx: object) => Promise<unknown>,
): Promise<{ res: Res; body: T }> {
  const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
  try {
    const [res, body] = (await call(ctx)) as [Res, T];
    return { res, body };
  } catch (error) {
    const res = (error as { response?: Res & { body: T } }).response;
    if (!res) throw error;
    return { res, body: res.body };
  }
}

/** The answer's X-Consul-Index. */
export const index = (res: Res) => BigInt(res.headers['x-consul-index'] as string);
