import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineProject, mergeConfig, type UserWorkspaceConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Tests import workspace packages by name and get their sources, so `pnpm test` never
 * runs against a stale build. Each export subpath `./x` maps to `src/x.ts`.
 */
function workspaceAliases(): { find: RegExp; replacement: string }[] {
  const aliases: { find: RegExp; replacement: string }[] = [];
  for (const group of ['packages', 'apps']) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const manifestPath = join(dir, name, 'package.json');
      if (!existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
        name: string;
        exports?: Record<string, unknown>;
      };
      for (const subpath of Object.keys(manifest.exports ?? {})) {
        if (subpath === './package.json') continue;
        const file = subpath === '.' ? 'index' : subpath.slice(2);
        const specifier = subpath === '.' ? manifest.name : `${manifest.name}/${file}`;
        const escaped = specifier.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
        aliases.push({
          find: new RegExp(`^${escaped}$`),
          replacement: join(dir, name, 'src', `${file}.ts`),
        });
      }
    }
  }
  return aliases;
}

/** The vitest project of one package or app directory. */
export function defineConsulProject(dir: string, extra: UserWorkspaceConfig = {}) {
  return mergeConfig(
    defineProject({
      test: {
        name: basename(dir),
        root: dir,
        include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
        setupFiles: [join(root, 'vitest.handles.ts')],
        testTimeout: 15_000,
        hookTimeout: 15_000,
      },
      resolve: { alias: workspaceAliases() },
    }),
    extra,
  );
}
