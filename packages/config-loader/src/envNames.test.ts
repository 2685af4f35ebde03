import { describe, expect, it } from 'vitest';
import { parseDotenv } from './dotenv';
import { envNameOf, mapEntries } from './envNames';
import { expandValues } from './expand';

describe('envNameOf', () => {
  it.each([
    ['db/host', 'DB_HOST'],
    ['feature-flags/new ui', 'FEATURE_FLAGS_NEW_UI'],
    ['9lives', '_9LIVES'],
    ['a.b/c', 'A_B_C'],
  ])('maps %s to %s', (key, name) => {
    expect(envNameOf(key)).toBe(name);
  });

  it('takes a separator, keeps case, or lets a transform decide', () => {
    expect(envNameOf('db/host', { separator: '__' })).toBe('DB__HOST');
    expect(envNameOf('db/host', { uppercase: false })).toBe('db_host');
    expect(envNameOf('db/host', { transform: (name) => `APP_${name}` })).toBe('APP_DB_HOST');
  });
});

describe('mapEntries', () => {
  const entry = (key: string, value: string) => ({ key, value: Buffer.from(value) });

  it('skips folder keys and refuses two keys that map to one name, naming both', () => {
    expect([
      ...mapEntries([entry('p/', ''), entry('p/a/', ''), entry('p/a/b', '1')], 'p/').keys(),
    ]).toEqual(['A_B']);
    expect(() => mapEntries([entry('p/db-host', '1'), entry('p/db/host', '2')], 'p/')).toThrow(
      /Keys "p\/db-host" and "p\/db\/host" both map to the environment variable DB_HOST/,
    );
  });
});

describe('parseDotenv', () => {
  it('reads the dotenv syntax', () => {
    const text = [
      '# comment',
      'export PLAIN=value # trailing comment',
      "SINGLE='raw $HOME \\n'",
      'DOUBLE="line one\\nline two"',
      'MULTI="a',
      'b"',
      'EMPTY=',
      '  SPACED = padded  ',
    ].join('\n');
    expect(parseDotenv(text)).toEqual({
      PLAIN: 'value',
      SINGLE: 'raw $HOME \\n',
      DOUBLE: 'line one\nline two',
      MULTI: 'a\nb',
      EMPTY: '',
      SPACED: 'padded',
    });
  });
});

describe('dotenv compatibility', () => {
  it("reads what only dotenv's own parser reads: `KEY: value`, escaped quotes kept as written", () => {
    expect(
      parseDotenv(['COLON: yes', 'QUOTED="say \\"hi\\""', 'TICKS=`a "b" c`'].join('\n')),
    ).toEqual({ COLON: 'yes', QUOTED: 'say \\"hi\\"', TICKS: 'a "b" c' });
  });

  it('expands as dotenv-expand does: earlier values only, and :+ / - / + operators', () => {
    const out = expandValues(
      {
        EARLY: '${LATE}', // a value defined further down is not seen yet
        LATE: 'late',
        SET: 'x',
        ALT: '${SET:+alternate}',
        UNSET_ALT: '${NOPE:+alternate}',
        DASH: '${NOPE-fallback}',
      },
      {},
    );
    expect(out).toEqual({
      EARLY: '',
      LATE: 'late',
      SET: 'x',
      ALT: 'alternate',
      UNSET_ALT: '',
      DASH: 'fallback',
    });
  });

  it('never writes the environment it expands against', () => {
    const env: Record<string, string | undefined> = { HOME: '/home/app' };
    expect(expandValues({ DIR: '$HOME/data' }, env)).toEqual({ DIR: '/home/app/data' });
    expect(env).toEqual({ HOME: '/home/app' });
  });
});

describe('expandValues', () => {
  it('expands references from the values, then the environment, with defaults and escapes', () => {
    const out = expandValues(
      {
        HOST: 'db.internal',
        URL: 'postgres://${HOST}:${PORT:-5432}/$NAME',
        PRICE: '\\$5',
        LOOP: '${LOOP}x',
      },
      { NAME: 'app' },
    );
    expect(out).toEqual({
      HOST: 'db.internal',
      URL: 'postgres://db.internal:5432/app',
      PRICE: '$5',
      LOOP: 'x',
    });
  });
});
