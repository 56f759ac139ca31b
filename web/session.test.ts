// What a page asks before it keeps a token that came in a link (`#token=`): a link can carry
// anyone's token, so a tab without a session asks too (login CSRF), not only one that has one.
import { describe, expect, test } from 'vitest';
import { sameHolder, signInQuestion } from './session.ts';

/** An unsigned JWT with these claims: the page reads them for display only, the API verifies. */
function token(claims: Record<string, string>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'EdDSA' })}.${part(claims)}.c2lnbmF0dXJl`;
}

const mine = token({ role: 'citizen', sub: 'citizen-mine' });
const theirs = token({ role: 'citizen', sub: 'citizen-theirs' });

describe('the question before a token from a link is kept', () => {
  test('asks a tab without a session, naming who the link signs in as', () => {
    expect(signInQuestion(theirs, null)).toBe(
      'Sign in as citizen citizen-theirs? Accept only if that is you.',
    );
  });

  test('asks a tab with a session whether to replace it, naming both', () => {
    expect(signInQuestion(theirs, mine)).toBe(
      'Sign in as citizen citizen-theirs instead of citizen citizen-mine?',
    );
  });

  test('asks nothing for the token the tab already keeps, nor for what is no token', () => {
    expect(signInQuestion(mine, mine)).toBeUndefined();
    expect(signInQuestion('not-a-token', null)).toBeUndefined();
  });
});

describe('whether a new token may be taken in place of the one the API refused', () => {
  test('yes for the same role and subject, in another token', () => {
    expect(sameHolder(mine, token({ role: 'citizen', sub: 'citizen-mine', jti: 'later' }))).toBe(
      true,
    );
  });

  test('no for another subject, role or agency, nor for what cannot be read', () => {
    const officer = token({ role: 'officer', sub: 'o-17', agency: 'registry' });
    expect(sameHolder(mine, theirs)).toBe(false);
    expect(sameHolder(mine, token({ role: 'officer', sub: 'citizen-mine' }))).toBe(false);
    expect(sameHolder(officer, token({ role: 'officer', sub: 'o-17', agency: 'tax' }))).toBe(false);
    expect(sameHolder('not-a-token', 'not-a-token')).toBe(false);
  });
});
