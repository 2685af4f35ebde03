import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // The library and the preload entry, for both module systems.
    entry: ['src/index.ts', 'src/register.ts'],
    format: ['esm', 'cjs'],
    dts: true,
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
