import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => JSON.parse(readFileSync(join(root, path), 'utf8'));

/** Every package that is published: not marked private. */
const published = readdirSync(join(root, 'packages'))
  .map(
    (dir) =>
      read(`packages/${dir}/package.json`) as { name: string; version: string; private?: boolean },
  )
  .filter((pkg) => !pkg.private);

describe('published versions', () => {
  it('every published package carries one version, as a user installing them together expects', () => {
    const versions = Object.fromEntries(published.map((pkg) => [pkg.name, pkg.version]));
    const first = published[0]!.version;
    expect(versions).toEqual(Object.fromEntries(published.map((pkg) => [pkg.name, first])));
  });

  it('changesets versions them as one group, so a release cannot split them again', () => {
    const config = read('.changeset/config.json') as { fixed: string[][] };
    const names = published.map((pkg) => pkg.name).sort();
    expect(config.fixed.map((group) => [...group].sort())).toContainEqual(names);
  });
});
