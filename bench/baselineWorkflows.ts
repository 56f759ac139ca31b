// The cases benchmark's baseline (bench/cases.ts): a bare Temporal workflow with the same
// activities, in the same order and parallel branches, as a clean three-utility
// jointTransferCase, and the same two waits for an outside Update (payment, review) — but
// every activity is a no-op: no signing, no ledger, no payload codec, no search attributes,
// no deadline timers. Bundled on its own and run by its own worker on its own task queue; as
// in the real case, each agency's steps go to that agency's task queue and worker, so they
// take the same trip through matching (the server hands only activities on the workflow's own
// queue to the worker eagerly).
//
// Activities of a clean case with electricity, water and gas (26):
//   agencies: verifyContract, checkTitle, 3 prechecks, assessTax,
//             registerTransfer, 3 transferAccounts (activity tasks)                  10
//   orchestrator, local activities of the workflow's worker as in the real case:
//             intake, signRecord (the close record), notify (the citizen)             3
//             appendToLedger, one per signed statement: the 10 agency steps, the
//             payment and the review decisions (inside their Updates), the close    13
import {
  allHandlersFinished,
  condition,
  defineQuery,
  defineUpdate,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';
import { AGENCIES, UTILITIES, type Agency } from '../domain/agencyIds.ts';
import { AGENCY_STEP_OPTIONS, ORCHESTRATOR_STEP_OPTIONS } from '../workflows/activityOptions.ts';

export const BASELINE_TASK_QUEUE = 'bench.baseline';

/** The no-op activities; each returns at once. */
export interface BaselineActivities {
  intake(caseId: string): Promise<void>;
  agencyStep(caseId: string, stepId: string): Promise<void>;
  appendToLedger(caseId: string, stepId: string): Promise<void>;
  signRecord(caseId: string): Promise<void>;
  notify(caseId: string): Promise<void>;
}

export const BASELINE_ACTIVITY_COUNT = 26;

/** The task queue of an agency's bare worker, which runs only `agencyStep`. */
export function baselineAgencyQueue(agency: Agency): string {
  return `${BASELINE_TASK_QUEUE}.${agency}`;
}

/** The steps now waiting for an outside decision, and whether the case is done. */
export const baselineStatusQuery = defineQuery<{ waiting: string[]; done: boolean }>(
  'baselineStatus',
);
export const baselineDecideUpdate = defineUpdate<void, [string]>('baselineDecide');

// The real workflow's timeouts and retry policies, and, as there, the orchestrator's own
// steps are local activities of the workflow's worker.
const orchestrator = proxyLocalActivities<BaselineActivities>(ORCHESTRATOR_STEP_OPTIONS);
const agencies = new Map(
  AGENCIES.map((agency) => [
    agency,
    proxyActivities<BaselineActivities>({
      taskQueue: baselineAgencyQueue(agency),
      ...AGENCY_STEP_OPTIONS,
    }),
  ]),
);

export async function baselineCase(caseId: string): Promise<{ activities: number }> {
  let activities = 0;
  const waiting = new Set<string>();
  const decided = new Set<string>();
  let done = false;

  setHandler(baselineStatusQuery, () => ({ waiting: [...waiting], done }));
  setHandler(
    baselineDecideUpdate,
    async (stepId) => {
      await orchestrator.appendToLedger(caseId, stepId);
      activities++;
      decided.add(stepId);
    },
    {
      validator: (stepId: string) => {
        if (!waiting.has(stepId) || decided.has(stepId))
          throw new Error(`step ${stepId} is not open for a decision`);
      },
    },
  );

  /** An agency step and the append of its statement, as runAuto does. */
  const step = async (agency: Agency, stepId: string) => {
    await agencies.get(agency)!.agencyStep(caseId, stepId);
    await orchestrator.appendToLedger(caseId, stepId);
    activities += 2;
  };
  /** A wait for an outside Update, with the real step's deadline as the timeout. */
  const wait = async (stepId: string, deadline: string) => {
    waiting.add(stepId);
    await condition(() => decided.has(stepId), deadline);
    waiting.delete(stepId);
  };

  await orchestrator.intake(caseId);
  activities++;
  // The real graph: review needs the title check and the payment; each utility's transfer
  // needs its precheck and the registration.
  const prechecks = UTILITIES.map((u) => step(u, `precheck.${u}`));
  await Promise.all([
    (async () => {
      await step('housing', 'verifyContract');
      await step('tax', 'assessTax');
      await wait('confirmPayment', '7 days');
    })(),
    step('registry', 'checkTitle'),
  ]);
  await wait('review', '3 days');
  await step('registry', 'registerTransfer');
  await Promise.all(
    UTILITIES.map(async (u, i) => {
      await prechecks[i];
      await step(u, `transferAccount.${u}`);
    }),
  );
  await orchestrator.signRecord(caseId);
  await orchestrator.appendToLedger(caseId, 'close');
  await orchestrator.notify(caseId);
  activities += 3;
  done = true;
  await condition(allHandlersFinished);
  return { activities };
}
