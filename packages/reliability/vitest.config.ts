import swc from 'unplugin-swc';
import { defineConsulProject } from '../../vitest.shared';

// Vitest's esbuild emits no decorator metadata; SWC does, and Nest's injection needs it.
export default defineConsulProject(import.meta.dirname, {
  plugins: [swc.vite({ module: { type: 'es6' } })],
});
