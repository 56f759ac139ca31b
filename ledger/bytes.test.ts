import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, fromUtf8, isBase64Of, toBase64 } from './bytes.ts';

describe('isBase64Of', () => {
  it('holds exactly when the text is toBase64 of the bytes, for any bytes and any text', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 70 }),
        fc.string({ maxLength: 96 }),
        (bytes, other) => {
          const text = toBase64(bytes);
          expect(isBase64Of(text, bytes)).toBe(true);
          expect(isBase64Of(other, bytes)).toBe(other === text);
        },
      ),
    );
  });

  it('fails for any one character changed, dropped or added', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.nat(),
        fc.constantFrom(...'AQgw+/=a_-'),
        (bytes, at, replacement) => {
          const text = toBase64(bytes);
          const i = at % text.length;
          const changed = text.slice(0, i) + replacement + text.slice(i + 1);
          expect(isBase64Of(changed, bytes)).toBe(changed === text);
          expect(isBase64Of(text.slice(0, i) + text.slice(i + 1), bytes)).toBe(false);
          expect(isBase64Of(text + 'A', bytes)).toBe(false);
        },
      ),
    );
  });

  it('refuses a non-canonical encoding of the same bytes (pad bits set)', () => {
    const hash = new Uint8Array(32).fill(7);
    // Ends "Bwc=": the "c" (28) carries two unused bits, zero; "d" (29) is the same bytes
    // with one of them set, which a lenient decoder reads alike.
    const text = toBase64(hash);
    expect(text.endsWith('c=')).toBe(true);
    const padBitsSet = `${text.slice(0, -2)}d=`;
    expect(fromBase64(padBitsSet)).toEqual(hash);
    expect(isBase64Of(text, hash)).toBe(true);
    expect(isBase64Of(padBitsSet, hash)).toBe(false);
  });
});

describe('fromUtf8', () => {
  it('keeps a leading byte-order mark as the text it is, never dropping bytes silently', () => {
    expect(fromUtf8(new Uint8Array([0xef, 0xbb, 0xbf, 0x61]))).toBe('\uFEFFa');
  });

  it('refuses bytes that are not UTF-8', () => {
    expect(() => fromUtf8(new Uint8Array([0xc3, 0x28]))).toThrow(TypeError);
  });
});
