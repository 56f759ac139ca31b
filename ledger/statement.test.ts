import { describe, expect, it } from 'vitest';
import { toBase64 } from './bytes.ts';
import { commitTo, opensCommitment, stepSalt } from './statement.ts';

// A case's salt of bytes 0..31; the expected salts were computed apart from this code, with
// Python's hmac module: hmac.new(salt, b"onewindow/step-salt/v1\n" + step, sha256).
const CASE_SALT = Uint8Array.from({ length: 32 }, (_, i) => i);

describe('stepSalt', () => {
  it("is HMAC-SHA256 of the step id under the case's salt, as computed elsewhere", () => {
    expect(toBase64(stepSalt(CASE_SALT, 'assessTax'))).toBe(
      '9rGZETF7H6z7OfCrb5RNi/63s4ILbt9UGVwgIYsBoi4=',
    );
    expect(toBase64(stepSalt(CASE_SALT, 'precheck.water'))).toBe(
      'uzdqrfkyxfrWEniCTUZAskTM1znHP+jFIgMYC3f1ijs=',
    );
  });

  it("gives salts of which none opens another step's commitment, and the case's salt opens none", () => {
    const result = { totalCents: 1_234_500 };
    const taxes = commitTo(stepSalt(CASE_SALT, 'assessTax'), result);
    const water = toBase64(stepSalt(CASE_SALT, 'precheck.water'));
    expect(opensCommitment(water, result, taxes)).toBe(false);
    expect(opensCommitment(toBase64(CASE_SALT), result, taxes)).toBe(false);
    expect(opensCommitment(toBase64(stepSalt(CASE_SALT, 'assessTax')), result, taxes)).toBe(true);
  });

  it('refuses a case salt shorter than 16 bytes', () => {
    expect(() => stepSalt(new Uint8Array(15), 'assessTax')).toThrow(/at least 16 bytes, got 15/);
  });
});
