import { defineConfig } from 'tsup';

// tsup emits decorator metadata when @swc/core is installed, which Nest's injection needs.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
});
