import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Entry, STATEMENT_TYPE, type SignedStatement } from '../domain/statement.ts';
import { bytesEqual, fromBase64, fromUtf8, toBase64, utf8 } from './bytes.ts';
import { readCanonicalEntry } from './canonicalEntry.ts';
import { canonicalJson } from './canonicalJson.ts';
import { chainEntries } from './entry.ts';

const signed: SignedStatement = {
  statement: {
    type: STATEMENT_TYPE,
    statementId: 'c1/checkTitle/2',
    caseId: 'c1',
    stepId: 'checkTitle',
    agency: 'registry',
    outcome: 'passed',
    commitment: toBase64(new Uint8Array(32).fill(2)),
    facts: { seizure: false, dutyCents: 850000, note: 'é "quoted" \u2028', lien: null },
    issuedAt: '2026-11-24T10:00:00.000+01:00',
    keyId: 'registry.agency.onewindow+0123abcd',
  },
  signature: toBase64(new Uint8Array(64).fill(9)),
};

const [sequenced] = chainEntries([signed], 41, new Uint8Array(32).fill(7), '2026-11-24T10:00:01Z');
const bytes = sequenced!.bytes;
const text = fromUtf8(bytes);

/** The entry with `text` in place of its statement's canonical JSON. */
const withStatement = (json: string) => utf8(text.replace(canonicalJson(signed.statement), json));

describe('readCanonicalEntry', () => {
  it('reads an entry as the sequencer writes it, its statement as the bytes that were signed', () => {
    const read = readCanonicalEntry(bytes)!;
    expect(read.entry).toEqual(Entry.parse(JSON.parse(text)));
    const span = bytes.subarray(read.statementStart, bytes.length - 1);
    expect(bytesEqual(span, utf8(canonicalJson(signed.statement)))).toBe(true);
    expect(read.signature).toEqual(fromBase64(signed.signature));
  });

  it.each([
    ['white space in the statement', JSON.stringify(signed.statement, null, 1)],
    [
      'members out of RFC 8785 order',
      JSON.stringify(Object.fromEntries(Object.entries(signed.statement).reverse())),
    ],
    ['a duplicated member', canonicalJson(signed.statement).replace('{', '{"outcome":"failed",')],
    ['an escape RFC 8785 does not use', canonicalJson(signed.statement).replace('é', '\\u00e9')],
    ['a number not in shortest form', canonicalJson(signed.statement).replace('850000', '8.5e5')],
    [
      'integer-like keys JSON.parse would reorder',
      canonicalJson({ ...signed.statement, facts: { '10': 1, '9': 2 } }),
    ],
    [
      'a "__proto__" member, which zod does not copy',
      canonicalJson(signed.statement).replace('{', '{"__proto__":[],'),
    ],
  ])('declines a statement with %s', (_, json) => {
    expect(() => JSON.parse(fromUtf8(withStatement(json))) as unknown).not.toThrow();
    expect(readCanonicalEntry(withStatement(json))).toBeUndefined();
  });

  it.each([
    [
      'only plain ASCII and integers (read in one pass)',
      { ...signed.statement, facts: { dutyCents: 850000, seizure: false } },
    ],
    [
      'a member beside its own, as a key event has',
      { ...signed.statement, publicKey: 'AAAA', validFrom: '2026-01-01T00:00:00Z' },
    ],
    [
      'negative, null and boolean facts',
      { ...signed.statement, facts: { at: -12, lien: null, ok: true } },
    ],
  ])('reads a statement with %s as the schema does', (_, statement) => {
    const [entry] = chainEntries(
      [{ ...signed, statement }],
      7,
      new Uint8Array(32),
      '2026-11-24T10:00:01Z',
    );
    const read = readCanonicalEntry(entry!.bytes)!;
    expect(read.entry).toEqual(Entry.parse(JSON.parse(fromUtf8(entry!.bytes))));
    expect(Object.keys(read.entry.statement)).toEqual(Object.keys(statement).sort());
  });

  it('reads a statement nested deeper than its one-pass reader goes, and declines one deeper than the stack, without throwing', () => {
    const nested = (depth: number) =>
      withStatement(
        canonicalJson({ ...signed.statement, zz: 0 }).replace(
          '"zz":0',
          `"zz":${'['.repeat(depth)}${']'.repeat(depth)}`,
        ),
      );
    const read = readCanonicalEntry(nested(40))!;
    expect(read.entry).toEqual(Entry.parse(JSON.parse(fromUtf8(nested(40)))));
    expect(readCanonicalEntry(nested(20_000))).toBeUndefined();
  });

  it.each([
    ['a byte-order mark', utf8(`\ufeff${text}`)],
    ['a member after the statement', utf8(`${text.slice(0, -1)},"z":1}`)],
    ['a second statement member', utf8(`${text.slice(0, -1)},"statement":{}}`)],
    ['an unpadded hash', utf8(text.replace(/"prevLeafHash":"([^"]*)="/, '"prevLeafHash":"$1"'))],
    ['an index with a leading zero', utf8(text.replace('"index":41', '"index":041'))],
    ['invalid UTF-8', Uint8Array.from([...bytes.subarray(0, -2), 0xff, 0x7d])],
  ])('declines an entry with %s', (_, mutated) => {
    expect(readCanonicalEntry(mutated)).toBeUndefined();
  });

  it('declines a statement the schema refuses, so the schema can say why', () => {
    for (const statement of [
      { ...signed.statement, statementId: 'c1/other' },
      { ...signed.statement, statementId: 'c1/checkTitle/x' },
      { ...signed.statement, agency: 'bank' },
      { ...signed.statement, issuedAt: '2026-02-30T10:00:00Z' },
      { ...signed.statement, facts: { list: [1] } },
      { ...signed.statement, commitment: `${'_'.repeat(43)}=` },
    ]) {
      const mutated = withStatement(canonicalJson(statement));
      expect(Entry.safeParse(JSON.parse(fromUtf8(mutated))).success).toBe(false);
      expect(readCanonicalEntry(mutated)).toBeUndefined();
    }
  });

  // Its date-time and signer tests are the schema's, not a look-alike: on an entry otherwise
  // canonical, it accepts exactly the values the schema accepts.
  it.each([
    ['issuedAt', '2024-02-29T23:59:59.999Z'],
    ['issuedAt', '2026-02-29T10:00:00Z'],
    ['issuedAt', '2026-11-24T10:00:00+14:00'],
    ['issuedAt', '2026-11-24T24:00:00Z'],
    ['issuedAt', '2026-11-24 10:00:00Z'],
    ['issuedAt', '2026-11-24T10:00:00'],
    ['issuedAt', '2026-11-24T10:00:00.123456789-05:30'],
    ['agency', 'orchestrator'],
    ['agency', 'gas'],
    ['agency', 'Gas'],
    ['agency', 'toString'],
    ['agency', '__proto__'],
  ])('judges %s %j as the schema does', (field, value) => {
    const mutated = withStatement(canonicalJson({ ...signed.statement, [field]: value }));
    const schemaAccepts = Entry.safeParse(JSON.parse(fromUtf8(mutated))).success;
    expect(readCanonicalEntry(mutated) !== undefined).toBe(schemaAccepts);
  });

  it('judges the sequencing time as the schema does', () => {
    for (const sequencedAt of [
      '2024-02-29T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '2026-13-01T00:00:00Z',
    ]) {
      const mutated = utf8(text.replace('2026-11-24T10:00:01Z', sequencedAt));
      const schemaAccepts = Entry.safeParse(JSON.parse(fromUtf8(mutated))).success;
      expect(readCanonicalEntry(mutated) !== undefined, sequencedAt).toBe(schemaAccepts);
    }
  });

  // The shortcut may decline what the schema accepts (that is only slower), never the reverse.
  it('accepts only entries the schema accepts, with the statement in canonical form', () => {
    const field = fc.oneof(
      fc.constantFrom(...Object.values(signed.statement).filter((v) => typeof v === 'string')),
      fc.string({ maxLength: 12 }),
      fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,5}$/),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const key = fc.constantFrom(...Object.keys(signed.statement), 'extra', '1', '__proto__');
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(key, field), { maxLength: 4 }),
        fc.boolean(),
        (changes, canonical) => {
          const statement: Record<string, unknown> = { ...signed.statement };
          for (const [k, v] of changes) statement[k] = v;
          const json = canonical ? canonicalJson(statement) : JSON.stringify(statement);
          const mutated = withStatement(json);
          const read = readCanonicalEntry(mutated);
          if (!read) return;
          accepted++;
          const parsed = Entry.safeParse(JSON.parse(fromUtf8(mutated)));
          expect(parsed.success).toBe(true);
          expect(read.entry).toEqual(parsed.data);
          const span = fromUtf8(mutated.subarray(read.statementStart, mutated.length - 1));
          expect(span).toBe(canonicalJson(parsed.data!.statement));
        },
      ),
      { numRuns: 2000 },
    );
    // The property says something only if some mutations were accepted.
    expect(accepted).toBeGreaterThan(100);
  });

  it('accepts an entry with one byte changed only when the schema does, in canonical form', () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: bytes.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        (at, value) => {
          const mutated = bytes.slice();
          mutated[at] = value;
          const read = readCanonicalEntry(mutated);
          if (!read) return;
          accepted++;
          const parsed = Entry.safeParse(JSON.parse(fromUtf8(mutated)));
          expect(parsed.success).toBe(true);
          expect(read.entry).toEqual(parsed.data);
          const span = fromUtf8(mutated.subarray(read.statementStart, mutated.length - 1));
          expect(span).toBe(canonicalJson(parsed.data!.statement));
        },
      ),
      { numRuns: 3000 },
    );
    // The property says something only if some changed entries were accepted.
    expect(accepted).toBeGreaterThan(100);
  });
});
