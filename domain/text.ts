import type { z } from 'zod';

// Text people write (names, addresses, reasons). It is stored in PostgreSQL, whose text and
// jsonb refuse U+0000, and sent as UTF-8, in which an unpaired surrogate has no form (the
// driver would put U+FFFD in its place). Accepted here, either failed only later: a case with
// a NUL in a name was started and then stuck at intake for good. So they are refused at the
// door, as are the other C0 controls, DEL and the C1 controls (U+0085 NEL breaks a line,
// U+009B CSI starts a terminal escape as ESC [ does); line breaks and tabs only where text has
// lines, and there only U+2028 and U+2029 (Unicode's line and paragraph separators) besides.
// Bidirectional embeddings, overrides and isolates are refused everywhere: they reorder what a
// reader sees (Unicode UAX #9 §2.1-2.5; "Trojan Source", CVE-2021-42574). And text beyond white
// space must show something: trim() keeps U+200B, so "\u200b" passed as a non-empty name.

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const LINE_BREAK_OR_TAB = /[\t\n\r\u2028\u2029]/;
const BIDI_CONTROL = /[\u202a-\u202e\u2066-\u2069]/;
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** A character that shows: not white space, a control, or default-ignorable (U+200B, U+2060, U+FEFF…). */
const VISIBLE = /[^\p{White_Space}\p{Cc}\p{Default_Ignorable_Code_Point}]/u;

/**
 * Why `text` cannot be stored as it is, or undefined. Text of white space only is left to the
 * schema (its trim and min say whether it may be empty; an untrimmed record keeps it as it is).
 */
export function plainTextProblem(
  text: string,
  options: { lines?: boolean } = {},
): string | undefined {
  if (CONTROL.test(text) || (!options.lines && LINE_BREAK_OR_TAB.test(text)))
    return options.lines
      ? 'must not contain control characters other than line breaks and tabs'
      : 'must be one line without control characters';
  if (BIDI_CONTROL.test(text))
    return 'must not contain bidirectional embedding, override or isolate controls (U+202A-U+202E, U+2066-U+2069)';
  if (UNPAIRED_SURROGATE.test(text)) return 'must be well-formed Unicode (an unpaired surrogate)';
  if (text.trim() !== '' && !VISIBLE.test(text)) return 'must contain a visible character';
  return undefined;
}

/**
 * `schema` refusing what `plainTextProblem` names, with that reason.
 * @example name: plainText(z.string().trim().min(1).max(200))
 */
export function plainText<T extends z.ZodType<string>>(
  schema: T,
  options: { lines?: boolean } = {},
) {
  return schema.superRefine((text, ctx) => {
    const problem = plainTextProblem(text, options);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, input: text });
  });
}
