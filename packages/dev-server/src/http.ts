import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request as the routes see it: path already split from its query. */
export interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  query: URLSearchParams;
  /**
   * The `X-Consul-Default-ACL-Policy` a GET answers with, once the router has checked the
   * request (Consul sends it with every read's query metadata).
   */
  defaultAclPolicy?: string;
}

export const DEFAULT_ACL_POLICY_HEADER = 'X-Consul-Default-ACL-Policy';

/** An error that becomes an HTTP answer with Consul's status and a plain-text reason. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Reply {
  status?: number;
  body: string | Buffer;
  contentType?: string;
}

const JSON_TYPE = 'application/json';

export function json(value: unknown, pretty = false): Reply {
  return {
    body: pretty ? JSON.stringify(value, null, 4) : JSON.stringify(value),
    contentType: JSON_TYPE,
  };
}

export function rawJson(body: string): Reply {
  return { body, contentType: JSON_TYPE };
}

export function send(res: ServerResponse, reply: Reply, headers?: Record<string, string>): void {
  if (res.writableEnded || res.destroyed) return;
  const body = reply.body;
  res.writeHead(reply.status ?? 200, {
    ...headers,
    'Content-Type': reply.contentType ?? 'text/plain; charset=utf-8',
    'Content-Length': String(typeof body === 'string' ? Buffer.byteLength(body) : body.length),
  });
  res.end(body);
}

/**
 * Reads a request body up to `limit` bytes. Past the limit it answers 413 the way Consul
 * does for KV values, naming the size and the limit. Plain listeners, not `for await`, and
 * none removed once the body is in (a flag ignores what comes after): this is on every
 * write's path, where the iterator and the removals cost several µs a request.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(tooLarge(declared, limit));
  return new Promise((resolve, reject) => {
    // A small body comes in one chunk: no array for it.
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let size = 0;
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        // Stop buffering; the router answers with Connection: close, which ends the upload.
        req.resume();
        fail(tooLarge(size, limit));
      } else if (!first) first = chunk;
      else if (more) more.push(chunk);
      else more = [first, chunk];
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(more ? Buffer.concat(more, size) : (first ?? Buffer.alloc(0)));
    });
    req.on('error', fail);
    // After 'end' a request closes too; before it, the client went away mid-upload.
    req.on('close', () => {
      if (!settled)
        fail(new HttpError(400, 'request body ended early: the client closed the connection'));
    });
  });
}

function tooLarge(size: number, limit: number): HttpError {
  return new HttpError(413, `Request body(${size} bytes) too large, max size: ${limit} bytes.`);
}

export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await readBody(req, limit);
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new HttpError(400, `Request decode failed: ${(error as Error).message}`);
  }
}

/** Decodes one path segment; a malformed escape is the client's mistake, not ours. */
export function decodePath(text: string): string {
  // Most paths hold no escape, and decodeURIComponent copies the text even then.
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(400, `Invalid URL escape in path: ${JSON.stringify(text)}`);
  }
}
