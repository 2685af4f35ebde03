import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/internal.ts', 'src/cli.ts'],
  format: ['esm', 'cjs'],
  // Members marked @internal (constructors that take core's private parts) stay out of the types.
  // `pnpm demo` builds without type declarations (it runs the code, nothing reads the types).
  dts: process.env.CONSUL_WATCH_DEMO_BUILD ? false : { compilerOptions: { stripInternal: true } },
  clean: true,
  sourcemap: true,
  target: 'node20',
  // import.meta.url in the CommonJS build (metrics.ts resolves the optional OpenTelemetry API from here).
  shims: true,
});
