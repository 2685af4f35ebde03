import { defineConfig } from 'tsup';

// tsup emits decorator metadata when @swc/core is installed, which Nest's injection needs.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  // `pnpm demo` builds without type declarations (it runs the code, nothing reads the types).
  dts: !process.env.CONSUL_WATCH_DEMO_BUILD,
  clean: true,
  sourcemap: true,
  target: 'node20',
});
