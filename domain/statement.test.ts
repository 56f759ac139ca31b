import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Base64Hash, Base64Salt, Base64Signature, Statement, STATEMENT_TYPE } from './statement.ts';

/** SHA-256("abc") (FIPS 180-2 §B.1), base64: `createHash('sha256').update('abc').digest('base64')`. */
const SHA256_ABC = 'ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=';
/** RFC 8032 §7.1 TEST 1's Ed25519 signature (e5564300…7a100b), base64. */
const RFC8032_TEST1_SIGNATURE =
  '5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQCw==';

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
/** RFC 4648 §5's alphabet, unpadded: what a standard base64 field must not take. */
const base64url = (text: string) => Buffer.from(text, 'base64').toString('base64url');

describe('base64 values of a fixed length', () => {
  it('accept a real SHA-256 digest and Ed25519 signature', () => {
    expect(SHA256_ABC).toBe(createHash('sha256').update('abc').digest('base64'));
    expect(Base64Hash.parse(SHA256_ABC)).toBe(SHA256_ABC);
    expect(Base64Salt.parse(base64(randomBytes(32)))).toHaveLength(44);
    expect(Base64Signature.parse(RFC8032_TEST1_SIGNATURE)).toBe(RFC8032_TEST1_SIGNATURE);
  });

  it('accept the standard base64 of any 32 or 64 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        expect(Base64Hash.safeParse(base64(bytes)).success).toBe(true);
        expect(Base64Salt.safeParse(base64(bytes)).success).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), (bytes) => {
        expect(Base64Signature.safeParse(base64(bytes)).success).toBe(true);
      }),
    );
  });

  it.each([
    ['44 × A, which is 33 bytes', 'A'.repeat(44)],
    ['42 × A and ==, which is 31 bytes', `${'A'.repeat(42)}==`],
    ['31 bytes, encoded', base64(new Uint8Array(31))],
    ['33 bytes, encoded', base64(new Uint8Array(33))],
    ['a digest whose last character sets a pad bit', SHA256_ABC.replace('a0=', 'a1=')],
    ['a digest without its padding', SHA256_ABC.slice(0, -1)],
    ['a digest in base64url', base64url(SHA256_ABC)],
    ['a digest in hex', createHash('sha256').update('abc').digest('hex')],
  ])('refuse as 32 bytes %s', (_, text) => {
    for (const schema of [Base64Hash, Base64Salt])
      expect(schema.safeParse(text).error?.issues[0]?.message).toBe(
        'must be the canonical standard base64 of exactly 32 bytes (RFC 4648 §4, §3.5)',
      );
  });

  it.each([
    ['88 × A, which is 66 bytes', 'A'.repeat(88)],
    ['85 × A and ===, 63 bytes and a pad too many', `${'A'.repeat(85)}===`],
    ['63 bytes, encoded', base64(new Uint8Array(63))],
    ['65 bytes, encoded', base64(new Uint8Array(65))],
    [
      'a signature whose last character sets a pad bit',
      RFC8032_TEST1_SIGNATURE.replace('Cw==', 'Cx=='),
    ],
    ['a signature in base64url', base64url(RFC8032_TEST1_SIGNATURE)],
  ])('refuse as 64 bytes %s', (_, text) => {
    expect(Base64Signature.safeParse(text).error?.issues[0]?.message).toBe(
      'must be the canonical standard base64 of exactly 64 bytes (RFC 4648 §4, §3.5)',
    );
  });
});

describe('a statement id', () => {
  const statement = {
    type: STATEMENT_TYPE,
    statementId: 'c1/checkTitle',
    caseId: 'c1',
    stepId: 'checkTitle',
    agency: 'registry',
    outcome: 'passed',
    commitment: SHA256_ABC,
    facts: { seizure: false },
    issuedAt: '2026-11-24T10:00:00.000+01:00',
    keyId: 'registry.agency.onewindow+0123abcd',
  };
  const withId = (statementId: string) => Statement.safeParse({ ...statement, statementId });

  it.each(['c1/checkTitle', 'c1/checkTitle/1', 'c1/checkTitle/2', 'c1/checkTitle/10'])(
    'is <caseId>/<stepId> or a repeat numbered from 1: %s',
    (statementId) => {
      expect(withId(statementId).success).toBe(true);
    },
  );

  it.each(['c1/checkTitle/0', 'c1/checkTitle/007', 'c1/checkTitle/x', 'c1/checkTitle/'])(
    'refuses %s, which would be a second id for one answer or no number',
    (statementId) => {
      expect(withId(statementId).error?.issues).toEqual([
        expect.objectContaining({
          path: ['statementId'],
          message: 'the optional suffix must be a repeat number: 1, 2, … without leading zeros',
        }),
      ]);
    },
  );
});
