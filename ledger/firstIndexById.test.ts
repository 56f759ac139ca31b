import { describe, expect, it } from 'vitest';
import { FirstIndexById } from './firstIndexById.ts';

describe('FirstIndexById', () => {
  it('answers the first index of an id seen before, and nothing for a new one', () => {
    const seen = new FirstIndexById();
    expect(seen.firstOrAdd('case-1/checkTitle', 0)).toBeUndefined();
    expect(seen.firstOrAdd('case-1/checkTitle/1', 1)).toBeUndefined();
    expect(seen.firstOrAdd('case-1/checkTitl', 2)).toBeUndefined();
    expect(seen.firstOrAdd('case-1/checkTitle', 3)).toBe(0);
    expect(seen.firstOrAdd('case-1/checkTitle', 4)).toBe(0);
    expect(seen.firstOrAdd('case-1/checkTitle/1', 5)).toBe(1);
    expect(seen.size).toBe(3);
  });

  it('tells ids apart by their text, non-ASCII included', () => {
    const seen = new FirstIndexById();
    const ids = ['é', 'e\u0301', '\u{1f3e0}', '\ud83c', '\udc00', '\ufffd', 'ü/ß', '\u00ff', ''];
    ids.forEach((id, i) => expect(seen.firstOrAdd(id, i)).toBeUndefined());
    ids.forEach((id, i) => expect(seen.firstOrAdd(id, 100 + i)).toBe(i));
  });

  it('agrees with a Map over 200,000 ids, through every growth of its table and arena', () => {
    const seen = new FirstIndexById();
    const reference = new Map<string, number>();
    const repeated = new Set<string>();
    for (let i = 0; i < 200_000; i++) {
      // Every fourth id is case-k for a scattered k below i (a multiplicative hash of i): most
      // were seen before, so tens of thousands of different ids, held all over the table and
      // arena, are found again (counted below).
      const id =
        i % 4 === 3 ? `case-${(Math.imul(i, 0x9e3779b1) >>> 0) % i}/step` : `case-${i}/step`;
      const expected = reference.get(id);
      if (expected === undefined) reference.set(id, i);
      else repeated.add(id);
      expect(seen.firstOrAdd(id, i)).toBe(expected);
    }
    expect(seen.size).toBe(reference.size);
    expect(repeated.size).toBe(32_099);
  });
});
