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
    for (let i = 0; i < 200_000; i++) {
      // Every fourth id repeats one from earlier.
      const id = i % 4 === 3 ? `case-${(i * 7919) % i}/step` : `case-${i}/step`;
      const expected = reference.get(id);
      if (expected === undefined) reference.set(id, i);
      expect(seen.firstOrAdd(id, i)).toBe(expected);
    }
    expect(seen.size).toBe(reference.size);
  });
});
