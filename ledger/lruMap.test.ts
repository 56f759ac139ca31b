import { describe, expect, it } from 'vitest';
import { LruMap } from './lruMap.ts';

describe('LruMap', () => {
  it('drops the least recently used value once past its capacity', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    expect(map.get('a')).toBe(1); // now b is the least recently used
    map.set('c', 3);
    expect(map.get('b')).toBeUndefined();
    expect(map.get('a')).toBe(1);
    expect(map.get('c')).toBe(3);
    expect(map.size).toBe(2);
  });

  it('replaces a value set again without growing', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('a', 2);
    expect(map.get('a')).toBe(2);
    expect(map.size).toBe(1);
  });

  it('forgets a value deleted, and keeps the others', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.delete('a');
    expect(map.get('a')).toBeUndefined();
    expect(map.get('b')).toBe(2);
    expect(map.size).toBe(1);
  });

  it('tells whether it keeps a value without making it the newest', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    expect([map.has('a'), map.has('z')]).toEqual([true, false]);
    map.set('c', 3); // a, asked only with has, is still the least recently used
    expect([map.has('a'), map.has('b'), map.has('c')]).toEqual([false, true, true]);
  });
});
