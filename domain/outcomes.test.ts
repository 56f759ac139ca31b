import { describe, expect, it } from 'vitest';
import { extraStatementFields, STATEMENT_FIELDS } from './outcomes.ts';
import { Statement } from './statement.ts';

describe("a decision's statement fields", () => {
  it('are the Statement schema’s own, which the workflow checks without zod', () => {
    expect([...STATEMENT_FIELDS].sort()).toEqual(Object.keys(Statement.shape).sort());
  });

  it('leave out nothing beside them', () => {
    const fields = Object.fromEntries(STATEMENT_FIELDS.map((f) => [f, 1]));
    expect(extraStatementFields(fields)).toEqual([]);
    expect(extraStatementFields({ ...fields, reason: 'x', name: 'y' })).toEqual(['reason', 'name']);
  });
});
