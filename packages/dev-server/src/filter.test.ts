import { describe, expect, it } from 'vitest';
import { createFilter, FilterError } from './filter';
import { filterSchemas } from './filterSchemas';

// Items shaped as the endpoints return them.
const web1 = {
  ID: 'n1-id',
  Node: 'node-1',
  Address: '10.0.0.1',
  Datacenter: 'dc1',
  TaggedAddresses: { lan: '10.0.0.1' },
  NodeMeta: { os: 'linux', 'rack id': 'r7' },
  ServiceID: 'web-1',
  ServiceName: 'web',
  ServiceTags: ['v1', 'primary'],
  ServiceAddress: '',
  ServiceMeta: { env: 'prod', version: '1.4.2' },
  ServicePort: 8080,
  ServiceWeights: { Passing: 1, Warning: 1 },
  ServiceEnableTagOverride: false,
};
const web2 = {
  ...web1,
  Node: 'node-2',
  NodeMeta: { os: 'darwin' },
  ServiceID: 'web-2',
  ServiceTags: [],
  ServiceMeta: {},
  ServicePort: 9090,
  ServiceEnableTagOverride: true,
};
const instances = [web1, web2];

/** The IDs of the instances a filter over catalog service entries keeps. */
const kept = (expression: string) =>
  instances
    .filter((i) => createFilter(expression, filterSchemas.serviceNode).matches(i))
    .map((i) => i.ServiceID);

/** The message a filter is refused with (what Consul puts after its prefix). */
const refusal = (expression: string, schema = filterSchemas.serviceNode) => {
  try {
    createFilter(expression, schema);
  } catch (error) {
    expect(error).toBeInstanceOf(FilterError);
    return (error as Error).message;
  }
  throw new Error(`${JSON.stringify(expression)} was accepted`);
};

describe('filter operators', () => {
  it.each([
    ['ServiceName == web', ['web-1', 'web-2']],
    ['Node == "node-2"', ['web-2']],
    ['Node != "node-2"', ['web-1']],
    ['ServicePort == 8080', ['web-1']],
    ['ServicePort != 8080', ['web-2']],
    ['ServiceEnableTagOverride == true', ['web-2']],
    ['ServiceEnableTagOverride == false', ['web-1']],
    ['Node contains "-2"', ['web-2']],
    ['Node not contains "-2"', ['web-1']],
    ['"ode-1" in Node', ['web-1']],
    ['"ode-1" not in Node', ['web-2']],
    ['ServiceTags contains v1', ['web-1']],
    ['v1 in ServiceTags', ['web-1']],
    ['"v1" not in ServiceTags', ['web-2']],
    ['ServiceTags is empty', ['web-2']],
    ['ServiceTags is not empty', ['web-1']],
    ['ServiceMeta is empty', ['web-2']],
    ['ServiceMeta is not empty', ['web-1']],
    ['env in ServiceMeta', ['web-1']],
    ['ServiceMeta not contains env', ['web-2']],
    ['ServiceMeta.version matches `^1\\.4\\.`', ['web-1']],
    ['ServiceMeta.version not matches "^1"', ['web-2']],
    ['Node matches "(?i)NODE-1$"', ['web-1']],
  ])('%s keeps %j', (expression, ids) => {
    expect(kept(expression)).toEqual(ids);
  });

  it('selects map values by dotted name or by ["quoted key"]', () => {
    expect(kept('ServiceMeta.env == prod')).toEqual(['web-1']);
    expect(kept('ServiceMeta["env"] == prod')).toEqual(['web-1']);
    expect(kept('NodeMeta["rack id"] == r7')).toEqual(['web-1']);
    expect(kept('"rack id" in NodeMeta')).toEqual(['web-1']);
  });

  it('treats a missing map key as matching only the negated operators', () => {
    expect(kept('ServiceMeta.env == prod')).toEqual(['web-1']);
    expect(kept('ServiceMeta.env != prod')).toEqual(['web-2']);
    expect(kept('"ro" in ServiceMeta.env')).toEqual(['web-1']);
    expect(kept('"ro" not in ServiceMeta.env')).toEqual(['web-2']);
    expect(kept('ServiceMeta.env matches "."')).toEqual(['web-1']);
    expect(kept('ServiceMeta.env not matches "."')).toEqual(['web-2']);
  });

  it('compares a field the item lacks as its zero value', () => {
    expect(kept('ServiceKind == ""')).toEqual(['web-1', 'web-2']);
    expect(kept('ServiceProxy.LocalServicePort == 0')).toEqual(['web-1', 'web-2']);
    expect(kept('ServiceConnect.Native == false')).toEqual(['web-1', 'web-2']);
  });

  it('matches a selector through a list of structs when any element matches', () => {
    const entry = (...statuses: string[]) => ({
      Node: { Node: 'n', Meta: { zone: 'a' } },
      Service: { ID: 's', Service: 's', Tags: ['x'], Meta: {}, Port: 1 },
      Checks: statuses.map((Status, i) => ({ CheckID: `c${i}`, Status, ServiceTags: [] })),
    });
    const matches = (expression: string, item: unknown) =>
      createFilter(expression, filterSchemas.checkServiceNode).matches(item);
    expect(matches('Checks.Status == critical', entry('passing', 'critical'))).toBe(true);
    expect(matches('Checks.Status == critical', entry('passing', 'passing'))).toBe(false);
    // "Some check is not passing", not "no check is passing".
    expect(matches('Checks.Status != passing', entry('passing', 'critical'))).toBe(true);
    expect(matches('Checks.Status != passing', entry())).toBe(false);
    expect(matches('Checks is empty', entry())).toBe(true);
    expect(matches('Node.Meta.zone == a and Service.Tags contains x', entry())).toBe(true);
  });
});

describe('filter logic', () => {
  const n1 = 'Node == "node-1"';
  const n2 = 'Node == "node-2"';
  const never = 'Node == nowhere';

  it('binds not tighter than and, and and tighter than or', () => {
    // (n1 and (not n2)) or never
    expect(kept(`${n1} and not ${n2} or ${never}`)).toEqual(['web-1']);
    // never or (n2 and n2)
    expect(kept(`${never} or ${n2} and ${n2}`)).toEqual(['web-2']);
    expect(kept(`not ${n1} or ${n1}`)).toEqual(['web-1', 'web-2']);
  });

  it('lets parentheses override precedence, nested and around the whole expression', () => {
    expect(kept(`${n1} and (${n2} or ${n1})`)).toEqual(['web-1']);
    expect(kept(`not (${n1} or ${n2})`)).toEqual([]);
    expect(kept(`((${n2}))`)).toEqual(['web-2']);
    expect(kept(`( ${n1} ) or ( ${n2} )`)).toEqual(['web-1', 'web-2']);
  });

  it('cancels a double not', () => {
    expect(kept(`not not ${n1}`)).toEqual(['web-1']);
  });

  it('ignores whitespace between tokens, and needs none around == and !=', () => {
    expect(kept('Node=="node-1"')).toEqual(['web-1']);
    expect(kept('\tNode  !=\n"node-1"  ')).toEqual(['web-2']);
  });
});

describe('filter values', () => {
  it('takes double-quoted strings with escapes, and backtick strings as written', () => {
    const item = { ...web1, ServiceMeta: { a: 'tab\there', b: 'back\\slash', c: 'é' } };
    const matches = (expression: string) =>
      createFilter(expression, filterSchemas.serviceNode).matches(item);
    expect(matches('ServiceMeta.a == "tab\\there"')).toBe(true);
    expect(matches('ServiceMeta.b == `back\\slash`')).toBe(true);
    expect(matches('ServiceMeta.b == "back\\\\slash"')).toBe(true);
    expect(matches('ServiceMeta.c == "\\u00e9"')).toBe(true);
  });

  it('takes bare words, selectors and numbers as values, typed by the field', () => {
    expect(kept('ServiceName == web')).toEqual(['web-1', 'web-2']);
    expect(kept('ServiceName == web.v1')).toEqual([]);
    // Go's integer syntax, but only quoted: a bare number ends at a digit.
    expect(kept('ServicePort == "0x1f90"')).toEqual(['web-1']);
    expect(kept('ServiceMeta.version != 1.4')).toEqual(['web-1', 'web-2']);
  });
});

describe('refused filters, with the texts Consul gives', () => {
  it('reports a number that runs on, at the point it stopped (hashicorp/consul#9441)', () => {
    expect(refusal('Address == 10.10.10.10')).toBe(
      '1:17 (16): rule "number": Invalid number literal',
    );
  });

  it('lists what would have been accepted at the farthest point (hashicorp/consul#6467)', () => {
    expect(refusal('Node==host-name')).toBe(
      '1:11 (10): no match found, expected: ".", "[", [ \\t\\r\\n], [a-zA-Z0-9_] or EOF',
    );
    expect(refusal('Node == x and')).toBe('1:14 (13): no match found, expected: [ \\t\\r\\n]');
  });

  it.each([
    ['Node == "abc', '1:13 (12): rule "string": Unterminated string literal'],
    ['Node == "a\\qb"', '1:9 (8): rule "string": invalid syntax'],
    ['(Node == x', '1:11 (10): rule "grouping": Unmatched parentheses'],
    ['NodeMeta[os] == linux', '1:10 (9): rule "index": Invalid index'],
    ['NodeMeta["os" == linux', '1:15 (14): rule "index": Unclosed index expression'],
    ['"x" in 5', '1:8 (7): rule "match": Invalid selector'],
    [
      'Node == x or\n  Node ==',
      '2:10 (22): no match found, expected: "-", "0", "\\"", "`", [ \\t\\r\\n], [1-9] or [a-zA-Z]',
    ],
  ])('%j: %s', (expression, message) => {
    expect(refusal(expression)).toBe(message);
  });

  it('counts the offset in bytes and the column in characters', () => {
    expect(refusal('Node == "é" or')).toBe('1:15 (15): no match found, expected: [ \\t\\r\\n]');
  });

  it.each([
    ['Foo == x', 'Selector "Foo" is not valid'],
    ['ServiceMeta.a.b == x', 'Selector "ServiceMeta.a.b" is not valid'],
    ['serviceName == web', 'Selector "serviceName" is not valid'],
    ['ServiceTags == v1', 'Invalid match operator "Equal" for selector "ServiceTags"'],
    ['Node is empty', 'Invalid match operator "Is Empty" for selector "Node"'],
    ['ServicePort matches "8"', 'Invalid match operator "Matches" for selector "ServicePort"'],
    [
      'ServicePort == http',
      'Failed to coerce value "http" for selector "ServicePort": strconv.ParseInt: parsing "http": invalid syntax',
    ],
    [
      'ServiceEnableTagOverride == yes',
      'Failed to coerce value "yes" for selector "ServiceEnableTagOverride": strconv.ParseBool: parsing "yes": invalid syntax',
    ],
  ])('%j: %s', (expression, message) => {
    expect(refusal(expression)).toBe(message);
  });

  it('refuses a regular expression that does not compile, naming it', () => {
    expect(refusal('Node matches "(web"')).toMatch(
      /^Failed to compile regular expression "\(web": error parsing regexp: /,
    );
  });

  it('checks selectors against what the endpoint returns', () => {
    expect(refusal('Service.Service == web')).toBe('Selector "Service" is not valid');
    expect(() =>
      createFilter('Service.Service == web', filterSchemas.checkServiceNode),
    ).not.toThrow();
    expect(refusal('ServicePort == 80', filterSchemas.healthCheck)).toBe(
      'Selector "ServicePort" is not valid',
    );
  });
});
