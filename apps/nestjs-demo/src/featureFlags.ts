import { ConsulFlagProvider } from '@consul-watch/openfeature';
import { OpenFeatureModule } from '@openfeature/nestjs-sdk';
import { type EventDetails, OpenFeature, ProviderEvents } from '@openfeature/server-sdk';

/** The demo's flags: one flagd document in Consul, outside the config prefix. */
export const FLAGS_KEY = 'demo/flags/nest.json';

/**
 * The flag document the demo seeds: `new-checkout` on for the users named (the `x-user` request
 * header), `checkout-banner` a 50/50 `fractional` rollout by user, `dark-mode` on for everyone.
 */
export function flagDocument(newCheckoutUsers: string[] = ['ann']): string {
  return JSON.stringify({
    $schema: 'https://flagd.dev/schema/v0/flags.json',
    flags: {
      'new-checkout': {
        state: 'ENABLED',
        variants: { on: true, off: false },
        defaultVariant: 'off',
        targeting: { if: [{ in: [{ var: 'targetingKey' }, newCheckoutUsers] }, 'on', null] },
      },
      'checkout-banner': {
        state: 'ENABLED',
        variants: { blue: 'blue', green: 'green' },
        defaultVariant: 'blue',
        targeting: {
          fractional: [
            ['blue', 50],
            ['green', 50],
          ],
        },
      },
      'dark-mode': {
        state: 'ENABLED',
        variants: { on: true, off: false },
        defaultVariant: 'on',
      },
    },
  });
}

/**
 * Sets the flag provider on OpenFeature and waits for its first read of Consul; the module
 * (@openfeature/nestjs-sdk) then injects clients and takes each request's user from `x-user`.
 */
export async function featureFlagsModule(consulAddress: string) {
  const provider = new ConsulFlagProvider({
    sources: [FLAGS_KEY],
    connection: { address: consulAddress },
  });
  await OpenFeature.setProviderAndWait(provider);
  return OpenFeatureModule.forRoot({
    defaultProvider: provider,
    contextFactory: (context) => {
      const user = context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>()
        .headers['x-user'];
      return { targetingKey: typeof user === 'string' && user !== '' ? user : 'anonymous' };
    },
  });
}

/** Resolves with the flags named by the next PROVIDER_CONFIGURATION_CHANGED. */
export function nextFlagChange(): Promise<string[]> {
  return new Promise((resolve) => {
    const handler = (details?: EventDetails) => {
      OpenFeature.removeHandler(ProviderEvents.ConfigurationChanged, handler);
      resolve((details as { flagsChanged?: string[] } | undefined)?.flagsChanged ?? []);
    };
    OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, handler);
  });
}
