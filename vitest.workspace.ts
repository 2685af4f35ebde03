// One vitest project per package and app; each directory's vitest.config.ts names it.
export default ['packages/*/vitest.config.ts', 'apps/*/vitest.config.ts'];
