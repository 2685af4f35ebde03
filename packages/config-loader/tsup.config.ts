import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // The library and the preload entry, for both module systems.
    entry: ['src/index.ts', 'src/register.ts'],
    format: ['esm', 'cjs'],
    // `pnpm demo` builds without type declarations (it runs the code, nothing reads the types).
    dts: !process.env.CONSUL_WATCH_DEMO_BUILD,
    sourcemap: true,
    target: 'node20',
    shims: true,
  },
  {
    // Programs: the CLI and the preload's fetcher.
    entry: ['src/cli.ts', 'src/fetchEnv.ts'],
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
  },
]);
