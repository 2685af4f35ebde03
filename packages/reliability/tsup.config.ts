import { defineConfig } from 'tsup';

// tsup emits decorator metadata when @swc/core is installed, which Nest's injection needs.
export default defineConfig({
  entry: ['src/cli.ts'],
  format: ['esm'],
  clean: true,
  sourcemap: true,
  target: 'node20',
});
