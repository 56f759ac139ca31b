import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { plainText, plainTextProblem } from './text.ts';

describe('text people write', () => {
  it('accepts letters of any script, and astral characters whose surrogates are paired', () => {
    for (const text of ['Jan Novák', 'Łódź, ul. Długa 5', '北京市', 'Zoë 👩‍👩‍👧'])
      expect(plainTextProblem(text), text).toBeUndefined();
  });

  it('refuses NUL and the other control characters, which PostgreSQL or a reader cannot take', () => {
    for (const text of ['Bob\u0000', 'a\u0007b', 'esc\u001b[31m', 'del\u007f'])
      expect(plainTextProblem(text, { lines: true }), JSON.stringify(text)).toMatch(
        /control characters/,
      );
  });

  it('refuses the C1 controls, such as NEL (a line break) and CSI (a terminal escape)', () => {
    for (const text of ['Main St\u00851', 'red\u009b31m', 'a\u0080', 'a\u009f']) {
      expect(plainTextProblem(text), JSON.stringify(text)).toBe(
        'must be one line without control characters',
      );
      expect(plainTextProblem(text, { lines: true }), JSON.stringify(text)).toMatch(
        /control characters/,
      );
    }
  });

  it('takes Unicode’s line and paragraph separators only where the text has lines', () => {
    for (const text of ['Main Street\u20281', 'Main Street\u20291']) {
      expect(plainTextProblem(text), JSON.stringify(text)).toBe(
        'must be one line without control characters',
      );
      expect(plainTextProblem(text, { lines: true }), JSON.stringify(text)).toBeUndefined();
    }
  });

  it('refuses bidirectional embeddings, overrides and isolates, which reorder what a reader sees', () => {
    // U+202E (RLO) before "txt.exe" shows it reversed, as "exe.txt".
    const controls = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e'];
    controls.push('\u2066', '\u2067', '\u2068', '\u2069');
    for (const control of controls)
      for (const lines of [false, true])
        expect(plainTextProblem(`Ann ${control}txt.exe`, { lines }), control).toMatch(
          /^must not contain bidirectional embedding, override or isolate controls/,
        );
    // The implicit marks are part of writing right-to-left text: accepted.
    expect(plainTextProblem('שלום\u200e 12')).toBeUndefined();
  });

  it('refuses text that shows nothing, as a required name that trim() leaves as U+200B', () => {
    for (const text of ['\u200b', '\u200b\u2060\ufeff', ' \u200d ', '\u3164'])
      expect(plainTextProblem(text), JSON.stringify(text)).toBe('must contain a visible character');
    const Name = plainText(z.string().trim().min(1, 'must not be empty'));
    expect(Name.safeParse('\u200b').error?.issues.map((i) => i.message)).toEqual([
      'must contain a visible character',
    ]);
    // A joiner inside visible text, and white space the schema may keep, are accepted.
    expect(plainTextProblem('👩\u200d👩')).toBeUndefined();
    expect(plainTextProblem('  ', { lines: true })).toBeUndefined();
  });

  it('takes line breaks and tabs only where the text has lines', () => {
    expect(plainTextProblem('first line\r\nsecond\tline', { lines: true })).toBeUndefined();
    expect(plainTextProblem('Main Street\n1')).toBe('must be one line without control characters');
  });

  it('refuses an unpaired surrogate, high or low, which has no UTF-8 form', () => {
    for (const text of ['a\ud800', '\ud800b', 'a\udc00', '\udc00\ud800'])
      expect(plainTextProblem(text), JSON.stringify(text)).toMatch(/well-formed Unicode/);
  });

  it('names the problem as the schema issue, after the schema’s own checks', () => {
    const Name = plainText(z.string().trim().min(1, 'must not be empty'));
    expect(Name.parse('  Ann  ')).toBe('Ann');
    expect(Name.safeParse('Ann\u0000').error?.issues[0]?.message).toBe(
      'must be one line without control characters',
    );
    expect(Name.safeParse('  ').error?.issues[0]?.message).toBe('must not be empty');
  });
});
