// Typed search attributes for supervisor lists. They are never encrypted, so none may
// carry personal data: status words, step ids, agency ids and flags only.
export const SEARCH_ATTRIBUTES = {
  OneWindowStatus: 'Keyword',
  OneWindowCurrentSteps: 'KeywordList',
  OneWindowAgencies: 'KeywordList',
  OneWindowOverdue: 'Bool',
} as const;
