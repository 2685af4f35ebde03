// Run by the preload entry in a child process: loads the environment from Consul as
// CONSUL_ENV_* describe and prints it as JSON, so the preload can stay synchronous.
import { consoleLogger } from '@consul-watch/core';
import { loadConsulEnv } from './consulEnv';
import { optionsFromEnv } from './envOptions';

try {
  const target = { ...process.env };
  const result = await loadConsulEnv({
    ...optionsFromEnv(process.env),
    env: target,
    logger: consoleLogger('consul-env'),
  });
  process.stdout.write(JSON.stringify(result));
} catch (error) {
  process.stderr.write(`consul-env: ${(error as Error).message}\n`);
  process.exit(1);
}
