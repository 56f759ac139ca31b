// The JSON body parser's own checks, as pure functions: which member name an object holds
// twice (RFC 8259 §4), which charsets a Content-Type declares, and which of those name UTF-8.
// What a request gets for each: api/caseRoutes.test.ts ("a request body").
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { charsetsOf, duplicateMemberPath, isUtf8Label } from './jsonBody.ts';

describe('duplicateMemberPath', () => {
  it.each([
    ['{"a":1,"a":2}', 'a'],
    ['{"a":1,"\\u0061":2}', 'a'],
    ['{"buyer":{"name":"x","idNumber":"y","name":"z"}}', 'buyer.name'],
    ['{"items":[{"id":1},{"id":2,"id":3}]}', 'items.1.id'],
    ['[[{}],{"k":[1,2],"k":{}}]', '1.k'],
    ['{"a\\"b":1,"a\\"b":2}', 'a"b'],
    ['{"a.b":1,"a.b":2}', 'a.b'],
    ['{"x":{"":1,"":2}}', 'x.'],
  ])('finds the name %s holds twice at %j', (text, path) => {
    expect(duplicateMemberPath(text)).toBe(path);
  });

  it.each([
    '{"a":"a","b":"a"}',
    '{"a":{"a":{"a":1}}}',
    '[{"a":1},{"a":1}]',
    '{"a":"\\"a\\":1","b":"}{,"}',
    '{"a\\\\":1,"a":2}',
    '"a"',
    '{}',
  ])(
    'finds none in %s: a name again in another object, or inside a string, is no duplicate',
    (text) => {
      expect(duplicateMemberPath(text)).toBeUndefined();
    },
  );

  it('finds a duplicate exactly when JSON.parse would keep fewer members than were written', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ maxLength: 3 }), { minLength: 1, maxLength: 4 }),
        fc.nat(3),
        fc.boolean(),
        (names, repeat, nested) => {
          const written = [...names, ...(repeat < names.length ? [names[repeat]!] : [])];
          const members = written.map((n, i) => `${JSON.stringify(n)}:${i}`).join(',');
          const text = nested ? `{"outer":[{${members}}]}` : `{${members}}`;
          const found = duplicateMemberPath(text);
          if (repeat < names.length)
            expect(found).toBe(nested ? `outer.0.${names[repeat]}` : names[repeat]);
          else expect(found).toBeUndefined();
        },
      ),
    );
  });
});

describe('charsetsOf', () => {
  it.each([
    ['application/json', []],
    ['application/json; charset=UTF-8', ['utf-8']],
    ['application/json;charset="utf-16"', ['utf-16']],
    ['application/json; foo="a;charset=x"; Charset = latin1', ['latin1']],
    ['application/json; charset=utf-8; charset=iso-8859-1', ['utf-8', 'iso-8859-1']],
  ])('reads %j as declaring %j', (contentType, charsets) => {
    expect(charsetsOf(contentType)).toEqual(charsets);
  });
});

describe('isUtf8Label', () => {
  // The Encoding Standard's labels of UTF-8 (https://encoding.spec.whatwg.org/#names-and-labels),
  // in any case and with white space at their ends, as its "get an encoding" reads them.
  it.each([
    'unicode-1-1-utf-8',
    'unicode11utf8',
    'unicode20utf8',
    'utf-8',
    'utf8',
    'x-unicode20utf8',
    'UTF8',
    'Utf-8',
    ' utf-8\t',
  ])('takes %j as UTF-8, as TextDecoder does', (label) => {
    expect(isUtf8Label(label)).toBe(true);
    expect(new TextDecoder(label).encoding).toBe('utf-8');
  });

  it.each(['latin1', 'iso-8859-1', 'utf-16', 'utf_8', 'utf-8;', 'u tf-8', ''])(
    'takes %j as no label of UTF-8',
    (label) => {
      expect(isUtf8Label(label)).toBe(false);
    },
  );
});
