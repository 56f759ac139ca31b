import { describe, expect, it } from 'vitest';
import { stableDigits, stableHash } from './simulation.ts';

describe('stableHash', () => {
  it('is FNV-1a 32: the empty string hashes to the offset basis', () => {
    expect(stableHash('')).toBe(0x811c9dc5);
  });

  it('matches the published FNV-1a 32 value of "a"', () => {
    // http://www.isthe.com/chongo/tech/comp/fnv/ test vectors: FNV1a_32("a") = 0xe40c292c.
    expect(stableHash('a')).toBe(0xe40c292c);
  });
});

describe('stableDigits', () => {
  it('pads to the number of digits asked for', () => {
    expect(stableDigits('U-CLEAN-1', 9)).toMatch(/^\d{9}$/);
  });

  it('refuses more digits than a 32-bit hash gives', () => {
    expect(() => stableDigits('x', 10)).toThrow(RangeError);
  });
});
