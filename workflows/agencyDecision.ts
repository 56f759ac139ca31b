// Carries a person's decision to the owning agency's worker and back, signed. Short-lived:
// the API runs it to completion, then sends the signed decision to the case (decideUpdate).
import { proxyActivities } from '@temporalio/workflow';
import { agencyTaskQueue } from '../domain/agencyIds.ts';
import type { Decision, DeskRequest } from '../domain/decisions.ts';
import type { DeskActivities } from '../activities/desk.ts';
import { PERSON_WAITING_OPTIONS } from './activityOptions.ts';

export async function agencyDecision(request: DeskRequest): Promise<Decision> {
  const { decideStep } = proxyActivities<DeskActivities>({
    taskQueue: agencyTaskQueue(request.agency),
    ...PERSON_WAITING_OPTIONS,
    retry: { ...PERSON_WAITING_OPTIONS.retry, nonRetryableErrorTypes: ['DecisionRefused'] },
  });
  return decideStep(request);
}
