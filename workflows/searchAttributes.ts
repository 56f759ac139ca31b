// Typed search attribute keys (names and types registered from domain/searchAttributes.ts).
// @temporalio/common is the SDK's deterministic core, safe inside the workflow sandbox.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const caseStatusKey = defineSearchAttributeKey(
  'OneWindowStatus',
  SearchAttributeType.KEYWORD,
);
export const currentStepsKey = defineSearchAttributeKey(
  'OneWindowCurrentSteps',
  SearchAttributeType.KEYWORD_LIST,
);
export const agenciesKey = defineSearchAttributeKey(
  'OneWindowAgencies',
  SearchAttributeType.KEYWORD_LIST,
);
export const overdueKey = defineSearchAttributeKey('OneWindowOverdue', SearchAttributeType.BOOL);
