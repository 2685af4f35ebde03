import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/app.ts', 'src/main.ts'],
  format: ['esm'],
  // `pnpm demo` builds without type declarations (it runs the code, nothing reads the types).
  dts: process.env.CONSUL_WATCH_DEMO_BUILD ? false : { entry: 'src/app.ts' },
  clean: true,
  sourcemap: true,
  target: 'node20',
});
