import { defineConsulProject } from '../../vitest.shared';

export default defineConsulProject(import.meta.dirname);
