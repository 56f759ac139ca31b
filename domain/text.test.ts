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
