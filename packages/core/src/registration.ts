import type { ConsulHttp } from './consulHttp';
import { channels } from './diagnostics';
import { ConsulRequestError, type ConsulWatchError, InvalidInputError } from './errors';
import type { Logger } from './logger';
import { checkOptionNames, namesOf } from './optionNames';

/** A service this process registers with its local Consul agent. */
export interface ServiceRegistrationOptions {
  /** Service name others watch (`{ type: 'service', service: name }`). */
  name: string;
  /** Instance ID, unique on the agent. Default `${name}-${hostname}-${pid}`-like: name plus a random suffix. */
  id?: string;
  address?: string;
  port?: number;
  tags?: string[];
  meta?: Record<string, string>;
  /** TTL of the health check this process keeps passing. Default 15 000 ms (at least 1 000). */
  ttlMs?: number;
  /** The agent removes the service after its check has been critical this long. Default 60 000 ms. */
  deregisterCriticalAfterMs?: number;
  /** Told about each failed heartbeat or re-registration; the registration goes on. */
  onError?: (error: ConsulWatchError) => void;
}

/** A live registration: its check is kept passing until `stop()` deregisters it. */
export interface ServiceRegistration {
  readonly id: string;
  readonly checkId: string;
  /** Marks the check passing/warning/critical with a note, until the next heartbeat (which passes). */
  report(status: 'passing' | 'warning' | 'critical', note?: string): Promise<void>;
  /** Stops the heartbeat and deregisters the service. */
  stop(): Promise<void>;
}

const DAY_MS = 86_400_000;

const REGISTER_OPTIONS = namesOf<ServiceRegistrationOptions>({
  name: true,
  id: true,
  address: true,
  port: true,
  tags: true,
  meta: true,
  ttlMs: true,
  deregisterCriticalAfterMs: true,
  onError: true,
});

function validate(
  options: ServiceRegistrationOptions,
): Required<Pick<ServiceRegistrationOptions, 'ttlMs' | 'deregisterCriticalAfterMs'>> {
  if (options !== null && typeof options === 'object')
    checkOptionNames(options, REGISTER_OPTIONS, 'register');
  if (!options || typeof options.name !== 'string' || options.name.trim() === '')
    throw new InvalidInputError(
      'register: name must be a non-empty string, the service name others watch',
    );
  if (
    options.id !== undefined &&
    (typeof options.id !== 'string' || options.id === '' || options.id.includes('/'))
  )
    throw new InvalidInputError(
      `register: id ${JSON.stringify(options.id)} must be a non-empty string without '/'`,
    );
  if (
    options.port !== undefined &&
    (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)
  )
    throw new InvalidInputError(
      `register: port must be a whole number from 0 to 65535, got ${JSON.stringify(options.port)}`,
    );
  if (
    options.tags !== undefined &&
    (!Array.isArray(options.tags) || options.tags.some((t) => typeof t !== 'string'))
  )
    throw new InvalidInputError('register: tags must be an array of strings');
  if (
    options.meta !== undefined &&
    (typeof options.meta !== 'object' ||
      Object.values(options.meta).some((v) => typeof v !== 'string'))
  )
    throw new InvalidInputError('register: meta must be an object of string values');
  const ttlMs = options.ttlMs ?? 15_000;
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < 1_000 || ttlMs > DAY_MS)
    throw new InvalidInputError(
      `register: ttlMs must be from 1000 to ${DAY_MS} (a day), got ${JSON.stringify(options.ttlMs)}`,
    );
  // Consul accepts shorter values but reaps no sooner than a minute after the check turned critical.
  const deregisterCriticalAfterMs = options.deregisterCriticalAfterMs ?? 60_000;
  if (
    typeof deregisterCriticalAfterMs !== 'number' ||
    !Number.isFinite(deregisterCriticalAfterMs) ||
    deregisterCriticalAfterMs < 1
  )
    throw new InvalidInputError(
      `register: deregisterCriticalAfterMs must be a positive number of milliseconds, got ${JSON.stringify(options.deregisterCriticalAfterMs)}`,
    );
  return { ttlMs, deregisterCriticalAfterMs };
}

/**
 * Registers a service with a TTL check and keeps the check passing every ttl/3; when the
 * agent has forgotten it (an agent restart), registers it again.
 */
export async function registerService(
  http: ConsulHttp,
  options: ServiceRegistrationOptions,
  logger: Logger,
): Promise<ServiceRegistration> {
  const { ttlMs, deregisterCriticalAfterMs } = validate(options);
  const id = options.id ?? `${options.name}-${Math.random().toString(36).slice(2, 10)}`;
  const checkId = `service:${id}`;
  const what = `register service ${JSON.stringify(id)}`;
  const body = {
    Name: options.name,
    ID: id,
    ...(options.address !== undefined ? { Address: options.address } : {}),
    ...(options.port !== undefined ? { Port: options.port } : {}),
    ...(options.tags ? { Tags: options.tags } : {}),
    ...(options.meta ? { Meta: options.meta } : {}),
    Check: {
      CheckID: checkId,
      Name: `${options.name} heartbeat`,
      TTL: `${Math.round(ttlMs)}ms`,
      Status: 'passing',
      DeregisterCriticalServiceAfter: `${Math.round(deregisterCriticalAfterMs)}ms`,
    },
  };
  const register = () =>
    http.request(
      what,
      { idempotent: true },
      {
        method: 'PUT',
        path: '/agent/service/register',
        body,
      },
    );
  const update = (status: string, note?: string) =>
    http.request(
      `heartbeat of ${JSON.stringify(id)}`,
      { idempotent: true },
      {
        method: 'PUT',
        path: `/agent/check/${status === 'passing' ? 'pass' : status === 'warning' ? 'warn' : 'fail'}/${encodeURIComponent(checkId)}`,
        ...(note ? { query: `note=${encodeURIComponent(note)}` } : {}),
      },
    );
  await register();

  let stopped = false;
  let stopping: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const report = (error: ConsulWatchError) => {
    logger.warn(error.message);
    if (channels.heartbeatFailed.hasSubscribers)
      channels.heartbeatFailed.publish({ service: options.name, id, error });
    try {
      options.onError?.(error);
    } catch {
      // a throwing onError must not end the heartbeat
    }
  };
  const beat = async () => {
    try {
      await update('passing');
    } catch (error) {
      // The agent answers 404 or 500 ("does not have associated TTL") once it has forgotten the check.
      const e = error as ConsulWatchError;
      const forgotten =
        e instanceof ConsulRequestError || (e as { status?: number }).status === 500;
      if (!forgotten || stopped) return report(e);
      try {
        await register();
        logger.info(`service ${JSON.stringify(id)} was unknown to the agent; registered it again`);
      } catch (again) {
        report(again as ConsulWatchError);
      }
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(
      () => {
        running = beat().finally(schedule);
      },
      Math.max(500, Math.floor(ttlMs / 3)),
    );
  };
  schedule();

  return {
    id,
    checkId,
    async report(status, note) {
      if (!['passing', 'warning', 'critical'].includes(status))
        throw new InvalidInputError(
          `report: status must be passing, warning or critical, got ${JSON.stringify(status)}`,
        );
      await update(status, note);
    },
    stop() {
      // One stop for every caller: a second stop() (or close()) waits for the same deregister.
      stopping ??= (async () => {
        stopped = true;
        clearTimeout(timer);
        await running;
        // 404: the agent already forgot it, which is what stop() wants.
        await http.request(
          `deregister service ${JSON.stringify(id)}`,
          { idempotent: true, acceptStatus: [404] },
          { method: 'PUT', path: `/agent/service/deregister/${encodeURIComponent(id)}` },
        );
      })();
      return stopping;
    },
  };
}
