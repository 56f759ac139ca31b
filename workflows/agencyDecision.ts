// Carries a person's decision to the owning agency's worker and back, signed. Short-lived:
// the API runs it to completion, then sends the signed decision to the case (decideUpdate).
import { proxyActivities } from '@temporalio/workflow';
import { agencyTaskQueue } from '../domain/agencyIds.ts';
import type { Decision, DeskRequest } from '../domain/decisions.ts';
import type { DeskActivities } from '../activities/desk.ts';

export async function agencyDecision(request: DeskRequest): Promise<Decision> {
  const { decideStep } = proxyActivities<DeskActivities>({
    taskQueue: agencyTaskQueue(request.agency),
    startToCloseTimeout: '10 seconds',
    // A person is waiting on the page: a few quick retries, then the API says so.
    scheduleToCloseTimeout: '30 seconds',
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['DecisionRefused'] },
  });
  return decideStep(request);
}
