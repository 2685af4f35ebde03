export { type DevServer, type DevServerOptions, startDevServer } from './devServer';
export type { DevServerSnapshot } from './devState';
export { formatGoDuration, parseGoDuration } from './goDuration';
