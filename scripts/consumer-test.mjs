// The packages as a user gets them: packs every public package as it would be published
// (`pnpm pack` turns workspace:* into versions), installs the tarballs with npm into a fresh
// project outside the workspace, runs an ESM and a CommonJS program against the dev-server,
// and typechecks a consumer TypeScript file under --strict with skipLibCheck false.
// Needs the packages built (`pnpm build`).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const packages = [
  'core',
  'dev-server',
  'express',
  'fastify',
  'nestjs',
  'config-loader',
  'openfeature',
];
const work = mkdtempSync(join(tmpdir(), 'consul-watch-consumer-'));
const run = (cmd, args, cwd) => {
  console.log(`consumer: ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { cwd, stdio: 'inherit' });
};

try {
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  for (const name of packages)
    execFileSync('pnpm', ['pack', '--pack-destination', tarballs], {
      cwd: join(root, 'packages', name),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  const file = (name) =>
    `file:${join(
      tarballs,
      readdirSync(tarballs).find((f) => f.startsWith(`consul-watch-${name}-`)),
    )}`;
  const app = join(work, 'app');
  mkdirSync(app);
  const ours = Object.fromEntries(packages.map((name) => [`@consul-watch/${name}`, file(name)]));
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify(
      {
        name: 'consul-watch-consumer',
        private: true,
        type: 'module',
        dependencies: {
          ...ours,
          '@nestjs/common': '^12.5.1',
          '@nestjs/core': '^12.5.1',
          '@openfeature/core': '^1.12.0',
          '@openfeature/server-sdk': '^1.23.0',
          express: '^5.3.0',
          fastify: '^5.12.8',
          'reflect-metadata': '^0.2.2',
          rxjs: '^7.8.2',
        },
        devDependencies: {
          '@types/express': '^5.0.6',
          '@types/node': '^20.19.0',
          typescript: '5.9.3',
        },
        // The adapters depend on core's published version: take it from the tarball too.
        overrides: { '@consul-watch/core': ours['@consul-watch/core'] },
      },
      null,
      2,
    ),
  );
  for (const f of ['esm.mjs', 'cjs.cjs', 'consumer.ts'])
    cpSync(join(root, 'scripts/consumer', f), join(app, f));
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], app);
  run('node', ['esm.mjs'], app);
  run('node', ['cjs.cjs'], app);
  run(
    'npx',
    [
      'tsc',
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      'false',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--experimentalDecorators',
      'consumer.ts',
    ],
    app,
  );
  console.log(
    'consumer: every package installs with npm, loads from ESM and CommonJS, and typechecks',
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
