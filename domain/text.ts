import type { z } from 'zod';

// Text people write (names, addresses, reasons). It is stored in PostgreSQL, whose text and
// jsonb refuse U+0000, and sent as UTF-8, in which an unpaired surrogate has no form (the
// driver would put U+FFFD in its place). Accepted here, either failed only later: a case with
// a NUL in a name was started and then stuck at intake for good. So they are refused at the
// door, as are the other C0 controls and DEL; line breaks and tabs only where text has lines.

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const LINE_BREAK_OR_TAB = /[\t\n\r]/;
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `text` cannot be stored as it is, or undefined. */
export function plainTextProblem(
  text: string,
  options: { lines?: boolean } = {},
): string | undefined {
  if (CONTROL.test(text) || (!options.lines && LINE_BREAK_OR_TAB.test(text)))
    return options.lines
      ? 'must not contain control characters other than line breaks and tabs'
      : 'must be one line without control characters';
  if (UNPAIRED_SURROGATE.test(text)) return 'must be well-formed Unicode (an unpaired surrogate)';
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
