/** Where consul-watch reports what it does. Silent unless one is given. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const nothing = () => {};
export const silentLogger: Logger = {
  debug: nothing,
  info: nothing,
  warn: nothing,
  error: nothing,
};

/** A logger writing to the console, for demos and CLIs. */
export function consoleLogger(prefix = 'consul-watch'): Logger {
  const line = (message: string, fields?: Record<string, unknown>) =>
    fields && Object.keys(fields).length > 0
      ? `${prefix}: ${message} ${JSON.stringify(fields)}`
      : `${prefix}: ${message}`;
  return {
    debug: (m, f) => console.debug(line(m, f)),
    info: (m, f) => console.info(line(m, f)),
    warn: (m, f) => console.warn(line(m, f)),
    error: (m, f) => console.error(line(m, f)),
  };
}
