/** Stable codes, one per failure a caller can act on. */
export type ConsulWatchErrorCode =
  | 'INVALID_INPUT'
  | 'NOT_FOUND'
  | 'PERMISSION_DENIED'
  | 'CONSUL_UNAVAILABLE'
  | 'CONSUL_ERROR'
  | 'DECODE_FAILED'
  | 'TIMEOUT'
  | 'HANDLER_FAILED'
  | 'CONFIG_INVALID'
  | 'NOT_READY'
  | 'LOCK_LOST'
  | 'LOCK_CONFLICT'
  | 'CLIENT_CLOSED'
  | 'TLS_UNTRUSTED';

/** The base of every error consul-watch raises; `code` is stable across versions. */
export class ConsulWatchError extends Error {
  readonly code: ConsulWatchErrorCode;

  constructor(code: ConsulWatchErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A key, value, option or watch parameter that cannot be sent to Consul. */
export class InvalidInputError extends ConsulWatchError {
  constructor(message: string) {
    super('INVALID_INPUT', message);
  }
}

/** The key (or other entity) does not exist, where the caller asked for an error. */
export class NotFoundError extends ConsulWatchError {
  constructor(
    message: string,
    readonly key: string,
  ) {
    super('NOT_FOUND', message);
  }
}

/** Consul answered 403: the token is missing, unknown or lacks the rights. */
export class PermissionDeniedError extends ConsulWatchError {
  constructor(message: string) {
    super('PERMISSION_DENIED', message);
  }
}

/** Consul could not be reached, or answered 5xx/429. */
export class ConsulUnavailableError extends ConsulWatchError {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
    code: ConsulWatchErrorCode = 'CONSUL_UNAVAILABLE',
  ) {
    super(code, message, options);
  }
}

/**
 * The agent's TLS certificate failed verification (an unknown CA, a self-signed certificate, a
 * host name it does not name, expired), so nothing was sent. `reason` is Node's code for why,
 * such as `DEPTH_ZERO_SELF_SIGNED_CERT` or `ERR_TLS_CERT_ALTNAME_INVALID`. Consul cannot be
 * talked to until the certificate or the client's `ca` changes, so it counts as unavailable:
 * watches wait for the availability probe and keep their last state, as in an outage.
 */
export class TlsCertificateError extends ConsulUnavailableError {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message, undefined, undefined, 'TLS_UNTRUSTED');
  }
}

/** Consul refused the request (4xx other than 403/404), with its reason. */
export class ConsulRequestError extends ConsulWatchError {
  constructor(
    message: string,
    readonly status: number,
    code: ConsulWatchErrorCode = 'CONSUL_ERROR',
  ) {
    super(code, message);
  }
}

/**
 * Consul could not parse or check a watch's `filter` expression. It answers that with a 500,
 * but the fault is the filter's, not the agent's: the watch retries slowly, as after a 400,
 * and reports the filter and Consul's reason until the filter is fixed.
 */
export class InvalidFilterError extends ConsulRequestError {
  constructor(
    message: string,
    readonly filter: string,
    status: number,
  ) {
    super(message, status, 'INVALID_INPUT');
  }
}

/** A value is not the JSON/YAML it should be; the last good value stays in force. */
export class DecodeError extends ConsulWatchError {
  constructor(
    message: string,
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super('DECODE_FAILED', message, options);
  }
}

/** A wait bounded by the caller (`ready()`, a handler, `acquire()`) ran out. */
export class TimeoutError extends ConsulWatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TIMEOUT', message, options);
  }
}

/** A change handler threw or rejected; the watch went on. */
export class HandlerError extends ConsulWatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HANDLER_FAILED', message, options);
  }
}

/** A config update failed its schema; the last valid config stays in force. */
export class ConfigValidationError extends ConsulWatchError {
  constructor(
    message: string,
    readonly issues: readonly { message: string; path?: string }[],
  ) {
    super('CONFIG_INVALID', message);
  }
}

/** Asked for something that exists only once the first state has arrived. */
export class NotReadyError extends ConsulWatchError {
  constructor(message: string) {
    super('NOT_READY', message);
  }
}

/** Why a lock, a semaphore slot or a session stopped being held. */
export type LockLossReason =
  /** release() or close() was called. */
  | 'released'
  /** Consul invalidated the session (destroyed, TTL ran out, a check it names failed). */
  | 'session-invalidated'
  /** The key no longer names this holder: deleted, or taken after an invalidation. */
  | 'lock-taken'
  /** No renewal of the session got through for a whole TTL: Consul may have invalidated it. */
  | 'unreachable';

/**
 * The reason of an aborted lock signal: from this moment the holder must act as if another
 * process holds the lock.
 */
export class LockLostError extends ConsulWatchError {
  constructor(
    message: string,
    readonly reason: LockLossReason,
  ) {
    super('LOCK_LOST', message);
  }
}

/** The key or prefix is used in a way this lock or semaphore does not recognise (flags, limit). */
export class LockConflictError extends ConsulWatchError {
  constructor(
    message: string,
    readonly key: string,
  ) {
    super('LOCK_CONFLICT', message);
  }
}

/**
 * A call on a client after its `close()`: core's own calls, and `client.api` through a
 * reference kept from before (no request is sent). `what` names the call.
 */
export class ClientClosedError extends ConsulWatchError {
  constructor(what: string, happened = 'is closed') {
    super(
      'CLIENT_CLOSED',
      `${what}: this consul-watch client ${happened}; create a new one with createConsulWatch()`,
    );
  }
}

/** Errors of reaching Consul, which come and go in spells (unavailable, refused); the rest are about data or handlers. */
export const isConnectionError = (error: ConsulWatchError): boolean =>
  error instanceof ConsulUnavailableError ||
  error instanceof PermissionDeniedError ||
  error instanceof ConsulRequestError;
