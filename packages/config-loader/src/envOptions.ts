import type { ConsulEnvOptions } from './consulEnv';

const flag = (value: string | undefined) => value !== undefined && /^(1|true|yes)$/i.test(value);

/** The loader's options from CONSUL_ENV_* variables, for the preload entry. */
export function optionsFromEnv(env: NodeJS.ProcessEnv): ConsulEnvOptions {
  const prefix = env.CONSUL_ENV_PREFIX;
  if (!prefix) {
    throw new TypeError(
      'CONSUL_ENV_PREFIX is not set: name the KV prefix to load, for example CONSUL_ENV_PREFIX=app/env/',
    );
  }
  return {
    prefix,
    override: flag(env.CONSUL_ENV_OVERRIDE),
    expand: env.CONSUL_ENV_EXPAND === undefined || flag(env.CONSUL_ENV_EXPAND),
    ...(env.CONSUL_ENV_DOTENV ? { dotenvFile: env.CONSUL_ENV_DOTENV } : {}),
    ...(env.CONSUL_ENV_LAST_KNOWN_GOOD
      ? { lastKnownGoodFile: env.CONSUL_ENV_LAST_KNOWN_GOOD }
      : {}),
  };
}
