import { describe, expect, it } from 'vitest';
import { InvalidInputError } from './errors';
import { checkOptionNames, closestName } from './optionNames';

describe('option names', () => {
  it('names the closest known option for a slip of the keyboard or of case', () => {
    expect(closestName('adress', ['address', 'token'])).toBe('address');
    expect(closestName('waitMS', ['waitMs', 'burst'])).toBe('waitMs');
    expect(closestName('connnection', ['connection', 'client'])).toBe('connection');
    expect(closestName('prefx', ['prefix', 'layers'])).toBe('prefix');
    expect(closestName('ttl', ['url', 'method'])).toBeUndefined();
  });

  it('refuses an unknown option with the nearest name, or the list of known ones', () => {
    expect(() =>
      checkOptionNames({ adress: 'x' }, ['address', 'token'], 'createConsulWatch'),
    ).toThrow(
      new InvalidInputError("createConsulWatch: unknown option 'adress': did you mean 'address'?"),
    );
    expect(() => checkOptionNames({ zzz: 1 }, ['token', 'address'], 'here')).toThrow(
      "here: unknown option 'zzz': known options: address, token",
    );
    expect(() =>
      checkOptionNames({ address: 'x', token: undefined }, ['address', 'token'], 'here'),
    ).not.toThrow();
  });
});
