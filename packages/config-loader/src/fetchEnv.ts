// Run by the preload entry in a child process: loads the environment from Consul as
// CONSUL_ENV_* describe and prints it as JSON, so the preload can stay synchronous.
import { consoleLogger } from '@consul-watch/core';
import { FALLBACK_HINT, loadConsulEnv } from './consulEnv';
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
  // This runs from environment variables: name those, not the API's options.
  const message = (error as Error).message.replace(
    FALLBACK_HINT,
    'Set CONSUL_ENV_LAST_KNOWN_GOOD or CONSUL_ENV_DOTENV to a file for a fallback.',
  );
  process.stderr.write(`consul-env: ${message}\n`);
  process.exit(1);
}
