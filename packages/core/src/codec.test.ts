import { describe, expect, it } from 'vitest';
import { formatOfKey } from './codec';

describe('formatOfKey', () => {
  it('reads JSON from .json and YAML from .yaml or .yml, in any case, and text otherwise', () => {
    const cases: [string, string][] = [
      ['app/db.json', 'json'],
      ['app/DB.JSON', 'json'],
      ['.json', 'json'],
      ['app/db.yaml', 'yaml'],
      ['app/db.YML', 'yaml'],
      ['app/db.yml', 'yaml'],
      ['app/json', 'text'],
      ['app/db.json.txt', 'text'],
      ['app/db.jsonx', 'text'],
      ['app/db.ymlx', 'text'],
      ['app.json/host', 'text'],
      ['app/host', 'text'],
      ['', 'text'],
    ];
    for (const [key, format] of cases) expect(formatOfKey(key), key).toBe(format);
  });
});
