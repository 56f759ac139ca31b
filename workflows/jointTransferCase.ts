// The citizen's case. Deterministic: all I/O happens in activities on the agencies' task
// queues; this code only orders steps and records what came back.
import {
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  log,
} from '@temporalio/workflow';
import type { CaseInput } from '../domain/application.ts';
import {
  agencyTaskQueue,
  ORCHESTRATOR_TASK_QUEUE,
  type Signer,
  type Utility,
} from '../domain/agency.ts';
import type { CaseStatus, StepState } from '../domain/caseStatus.ts';
import { NON_RETRYABLE_LEDGER_ERRORS } from '../domain/errors.ts';
import { titleView, utilityView } from '../domain/views.ts';
import type { RegistryActivities, UtilityActivities } from '../activities/agencies.ts';
import type { OrchestratorActivities } from '../activities/orchestrator.ts';
import type { StepResult } from '../activities/sign.ts';
import { statusQuery } from './messages.ts';
import { caseStatusKey } from './searchAttributes.ts';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' };

const orchestrator = proxyActivities<OrchestratorActivities>({
  taskQueue: ORCHESTRATOR_TASK_QUEUE,
  startToCloseTimeout: '30s',
  retry: { ...retry, nonRetryableErrorTypes: NON_RETRYABLE_LEDGER_ERRORS },
});

const registry = proxyActivities<RegistryActivities>({
  taskQueue: agencyTaskQueue('registry'),
  startToCloseTimeout: '30s',
  retry,
});

function utility(agency: Utility) {
  return proxyActivities<UtilityActivities>({
    taskQueue: agencyTaskQueue(agency),
    startToCloseTimeout: '30s',
    retry,
  });
}

export async function jointTransferCase(input: CaseInput): Promise<CaseStatus> {
  const { caseId, application } = input;
  const status: CaseStatus = { caseId, unitId: application.unitId, phase: 'running', steps: [] };
  setHandler(statusQuery, () => status);

  const step = (stepId: string, agency: Signer): StepState => {
    const state: StepState = { stepId, agency, status: 'pending' };
    status.steps.push(state);
    return state;
  };

  // Runs one agency step: the agency signs its result, the ledger verifies and appends it.
  async function run<R>(state: StepState, call: () => Promise<StepResult<R>>): Promise<R> {
    state.status = 'running';
    state.startedAt = new Date().toISOString();
    const { signed, result } = await call();
    state.status = 'signed';
    state.outcome = signed.statement.outcome;
    state.statementId = signed.statement.statementId;
    const receipt = await orchestrator.appendToLedger(signed);
    state.ledgerIndex = receipt.index;
    state.status = 'done';
    state.finishedAt = new Date().toISOString();
    return result;
  }

  upsertSearchAttributes([{ key: caseStatusKey, value: 'running' }]);
  const intake = step('intake', 'orchestrator');
  intake.status = 'running';
  const { salt } = await orchestrator.intake({ ...input, workflowId: workflowInfo().workflowId });
  intake.status = 'done';

  const checks: Promise<unknown>[] = [
    run(step('checkTitle', 'registry'), () =>
      registry.checkTitle({ caseId, stepId: 'checkTitle', salt, view: titleView(application) }),
    ),
    ...application.utilities.map((agency) =>
      run(step(`precheck.${agency}`, agency), () =>
        utility(agency).precheck({
          caseId,
          stepId: `precheck.${agency}`,
          salt,
          view: utilityView(application),
        }),
      ),
    ),
  ];
  try {
    await Promise.all(checks);
    status.phase = 'completed';
  } catch (error) {
    log.warn('case failed', { caseId, error: String(error) });
    // Let the steps still in flight settle so their ledger entries are recorded.
    await Promise.allSettled(checks);
    for (const s of status.steps) if (s.status !== 'done') s.status = 'failed';
    status.phase = 'failed';
  }
  upsertSearchAttributes([{ key: caseStatusKey, value: status.phase }]);
  return status;
}
