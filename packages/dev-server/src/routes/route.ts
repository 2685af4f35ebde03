import type { DevState } from '../devState';
import type { Request } from '../http';

export type Handler = (r: Request, rest: string) => void | Promise<void>;

export interface Route {
  /** Exact path, or a prefix when it ends with '/' (the rest is passed to the handler). */
  path: string;
  /** Status endpoints answer without a token, as Consul's do. */
  public?: boolean;
  /**
   * Its GET answers through serveBlocking (or an error), which sends the default-ACL header
   * with the rest of the query metadata. On any other GET the router sets it up front.
   */
  blocking?: boolean;
  GET?: Handler;
  PUT?: Handler;
  DELETE?: Handler;
}

export interface RouteContext {
  state: DevState;
  datacenter: string;
  pretty: (r: Request) => boolean;
}
