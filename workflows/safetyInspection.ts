// Carries a gas officer's record of a passed safety inspection to the gas company's worker
// and back. Short-lived, like agencyDecision: the API runs it to completion. Not part of the
// case: the case sees its effect when a supervisor retries the held holder change.
import { proxyActivities } from '@temporalio/workflow';
import { agencyTaskQueue } from '../domain/agencyIds.ts';
import { INSPECTION_REFUSED } from '../domain/errors.ts';
import type { SafetyInspection, SafetyInspectionRequest } from '../domain/inspections.ts';
import type { SafetyInspectionActivities } from '../activities/agencies.ts';
import { PERSON_WAITING_OPTIONS } from './activityOptions.ts';

export async function safetyInspection(
  request: SafetyInspectionRequest,
): Promise<SafetyInspection> {
  const { recordSafetyInspection } = proxyActivities<SafetyInspectionActivities>({
    taskQueue: agencyTaskQueue('gas'),
    ...PERSON_WAITING_OPTIONS,
    retry: { ...PERSON_WAITING_OPTIONS.retry, nonRetryableErrorTypes: [INSPECTION_REFUSED] },
  });
  return recordSafetyInspection(request);
}
