// The citizen's case: one generic workflow that interprets the process graph of
// domain/process.ts. Deterministic: every agency step is an activity on that agency's task
// queue, every signed result goes to the ledger through the orchestrator's append activity,
// and this code only orders steps, waits, compensates and escalates (ARCHITECTURE.md §2).
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CaseInput } from '../domain/application.ts';
import { agencyTaskQueue, ORCHESTRATOR_TASK_QUEUE, type Agency } from '../domain/agencyIds.ts';
import type { CasePhase, CaseStatus, StepState } from '../domain/caseStatus.ts';
import type { Decision, EscalationAction } from '../domain/decisions.ts';
import { KEY_REFUSALS, STATEMENT_ID_TAKEN } from '../domain/errors.ts';
import {
  allowedOutcomes,
  decisionFactsProblem,
  extraStatementFields,
  REFUSING_OUTCOMES,
} from '../domain/outcomes.ts';
import type { StepDefinition } from '../domain/process.ts';
import { agenciesOf, durationMs, jointTransferProcess } from '../domain/processGraph.ts';
import type { SignedStatement } from '../domain/statement.ts';
import { viewFor } from '../domain/viewCuts.ts';
import type {
  AppendReceipt,
  OrchestratorActivities,
  SignRecordInput,
} from '../activities/orchestrator.ts';
import type { StepResult } from '../activities/sign.ts';
import {
  AGENCY_STEP_OPTIONS,
  BEFORE_REGISTRATION_STEP_OPTIONS,
  ORCHESTRATOR_STEP_OPTIONS,
} from './activityOptions.ts';
import { decideUpdate, resolveEscalationUpdate, statusQuery } from './messages.ts';
import { Turns } from './turns.ts';
import { agenciesKey, caseStatusKey, currentStepsKey, overdueKey } from './searchAttributes.ts';

/**
 * The orchestrator's own steps (intake, ledger appends, records, notices) are quick writes
 * on the worker that runs the case, so they run as local activities: no activity task
 * through the server and no extra workflow task after each (in bench/cases.ts a case's
 * history went from 157 events and 17 workflow tasks to 104 and 10). Each is idempotent or
 * harmless to repeat (appends are idempotent on statementId), which a local activity needs:
 * one cut short by a crash runs again. Cases started before the patch keep activity tasks.
 */
const orchestratorLocal = proxyLocalActivities<OrchestratorActivities>(ORCHESTRATOR_STEP_OPTIONS);
const orchestratorTasks = proxyActivities<OrchestratorActivities>({
  taskQueue: ORCHESTRATOR_TASK_QUEUE,
  ...ORCHESTRATOR_STEP_OPTIONS,
});

interface AgencyStepInput {
  caseId: string;
  stepId: string;
  salt: string;
  view: unknown;
  n?: number;
}
type AgencyCall = (input: AgencyStepInput) => Promise<StepResult<unknown>>;

const agencyProxies = new Map<string, Record<string, AgencyCall>>();

/** The fields of a supervisor's action (EscalationAction), and no others. */
const ACTION_FIELDS: readonly string[] = ['stepId', 'action', 'reason', 'supervisor'];

/**
 * The activity `name` on `agency.<id>`: retried with backoff, then reported to the workflow;
 * retried longer while its failure would undo the case (BEFORE_REGISTRATION_STEP_OPTIONS).
 * Retry options are not part of what a replay compares, so this holds for running cases too.
 */
function agencyActivity(agency: Agency, name: string, beforeRegistration = false): AgencyCall {
  const key = `${agency}${beforeRegistration ? ' before registration' : ''}`;
  let proxy = agencyProxies.get(key);
  if (!proxy) {
    proxy = proxyActivities<Record<string, AgencyCall>>({
      taskQueue: agencyTaskQueue(agency),
      ...(beforeRegistration ? BEFORE_REGISTRATION_STEP_OPTIONS : AGENCY_STEP_OPTIONS),
    });
    agencyProxies.set(key, proxy);
  }
  return proxy[name]!;
}

/** Whether two statements under one id differ in what they say (not in when or by which key). */
function saysOtherwise(a: SignedStatement['statement'], b: SignedStatement['statement']): boolean {
  const keys = Object.keys(a.facts);
  const sameFacts =
    keys.length === Object.keys(b.facts).length &&
    keys.every((key) => Object.hasOwn(b.facts, key) && a.facts[key] === b.facts[key]);
  return (
    a.agency !== b.agency || a.outcome !== b.outcome || a.commitment !== b.commitment || !sameFacts
  );
}

/**
 * Why an agency's answer is not the statement of this call, or undefined. The statement must
 * name the case, the step, the step's agency and the statement id the call asked for
 * (`<caseId>/<stepId>[/<n>]`): another case's statement would be appended and counted as
 * this step's, or, already in the log, stand for it unseen (appends are idempotent on
 * statementId). Plain comparisons, no command: a recorded history replays the same.
 */
function misdirection(
  signed: SignedStatement | undefined,
  call: { caseId: string; stepId: string; agency: string; n: number },
): string | undefined {
  const s = signed?.statement;
  const expected = `${call.caseId}/${call.stepId}${call.n > 0 ? `/${call.n}` : ''}`;
  if (
    s?.caseId === call.caseId &&
    s.stepId === call.stepId &&
    s.agency === call.agency &&
    s.statementId === expected
  )
    return undefined;
  return `${call.agency} answered ${call.stepId} with statement ${s?.statementId ?? '(none)'} of ${s?.agency ?? 'nobody'}, not ${expected} of ${call.agency}`;
}

/**
 * Whether a failed append was the ledger refusing the signer's key (domain/errors.ts): the
 * failure the activity raised, as the error itself or a cause of it.
 */
function refusesKey(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause)
    if (e instanceof ApplicationFailure && KEY_REFUSALS.includes(e.type ?? '')) return true;
  return false;
}

/**
 * How a step waits for its supervisor. `retryOnly`: only a retry settles it, never a
 * resolution by hand (the case needs what the ledger must hold). `ownRecord`: what waits is a
 * record of the orchestrator's own, which the ledger refused under its key, so a retry is not
 * recorded (that record would be refused the same way; the retried one lands in its place).
 */
type HoldOptions = { retryOnly?: true; ownRecord?: true; settledAs?: string };

/** The suffix of a supervisor's retry record's step id (`<step>.retried`). */
const RETRIED = '.retried';

/**
 * What a failed call says: an activity's failure wraps what its agency said (its cause).
 * `String()` of the wrapper only says "Activity task failed".
 */
function failureMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? error.cause.message : error.message;
}

/** Who owes the action on an open step, for reminders. */
function owingParty(def: StepDefinition): string {
  return def.kind === 'human'
    ? `${def.agency}.officer`
    : def.kind === 'wait'
      ? 'citizen'
      : def.agency;
}

/**
 * The case. Since v8 it runs in a scope that a cancellation request (the Temporal UI's Cancel,
 * `temporal workflow cancel`) never cancels: the request rejected whatever the case awaited
 * and ended it Canceled with nothing undone (a title lock held, a filing open, the tax kept),
 * and the unit could not be applied for again. The request goes to the case instead, which
 * withdraws as far as the law lets it (see `cancelRequested` in `runCase`).
 */
export async function jointTransferCase(input: CaseInput): Promise<CaseStatus> {
  // The same first commands as runCase's own first calls: each patch is asked once a run,
  // and a case started now asks for v11 alone.
  if (
    !patched('jointTransferCase-v11') &&
    !patched('jointTransferCase-v10') &&
    !patched('jointTransferCase-v9') &&
    !patched('jointTransferCase-v8')
  )
    return runCase(input);
  const { cancelRequested } = CancellationScope.current();
  return CancellationScope.nonCancellable(() => runCase(input, cancelRequested));
}

async function runCase(input: CaseInput, cancelRequested?: Promise<never>): Promise<CaseStatus> {
  const { caseId, application } = input;
  // A case started since this patch takes every patched path below without asking for
  // each: the first call of each patch records a marker and an upsert of
  // TemporalChangeVersion (sdk-core always adds it), so asking for the three the start of
  // a case passes cost three upserts a case. Cases started before it ask as they did.
  // v5: nothing is undone once the registration is in flight or done, a failed
  // compensation goes to a supervisor, and a decision being recorded holds its step open.
  // v6: an automatic step past its deadline is reported to a supervisor too, not only to
  // the agency that owes it (which may be the party that is down).
  // v7: a step resolved by hand stays in flight until its resolution is recorded (a
  // registration's other steps waited only for the call, saw it neither running nor done,
  // and could undo a property already transferred), and a deadline is reported only for a
  // step still open when its turn in the watch comes.
  // v8: a cancellation request withdraws the case instead of cutting it short.
  // v9: a step gated on the facts of a step resolved by hand goes to a supervisor (the facts
  // are not known; before, the gate read them as false and skipped the step: arrears never
  // settled), and a supervisor's retry is a signed entry, as a resolution is.
  // v10: a case's overdue flag clears once no step of it is overdue (`overdue-clears`, which
  // v10 stands for without a marker of its own: see askOverdueClears).
  // v11: an automatic step's deadline is watched until its agency answers, not until the
  // answer is on the ledger, and each attempt a supervisor asks for is watched afresh (see
  // runAuto); a step a supervisor asks again (a retry, a wait opened again) is not overdue in
  // its fresh period (see askedAgain).
  // Each stands for every patch before it too.
  const v11 = patched('jointTransferCase-v11');
  const v10 = v11 || patched('jointTransferCase-v10');
  const v9 = v10 || patched('jointTransferCase-v9');
  const v8 = v9 || patched('jointTransferCase-v8');
  const v7 = v8 || patched('jointTransferCase-v7');
  const v6 = v7 || patched('jointTransferCase-v6');
  const v5 = v6 || patched('jointTransferCase-v5');
  const v4 = v5 || patched('jointTransferCase-v4');
  const since = (patchId: string) => v4 || patched(patchId);
  // Orchestrator steps as local activities, one at a time, in the order they were asked
  // for. Live, the SDK resolves concurrent local activities in the order they finish; on
  // replay, in the order they were scheduled (sdk-rust#1075, sdk-python#1578), so two
  // appends racing could replay as a different case. Queued, both orders are the same.
  // `turns.busy` is also what search attributes wait for (see `publish`).
  const turns = new Turns(condition);
  const orchestrator: typeof orchestratorTasks = since('orchestrator-local-activities')
    ? new Proxy(orchestratorLocal, {
        get(target, name) {
          const call = Reflect.get(target, name) as (...args: unknown[]) => Promise<unknown>;
          return (...args: unknown[]) => turns.run(() => call(...args));
        },
      })
    : orchestratorTasks;
  const scale = input.timeScale ?? 1;
  const ms = (duration: string) => Math.max(1, Math.round(durationMs(duration) * scale));
  const process = jointTransferProcess(application.utilities);
  const now = () => new Date().toISOString();

  const status: CaseStatus = {
    caseId,
    unitId: application.unitId,
    phase: 'running',
    overdue: false,
    steps: [],
    records: [],
    escalations: [],
  };
  const intake: StepState = {
    stepId: 'intake',
    agency: 'orchestrator',
    kind: 'auto',
    status: 'running',
    startedAt: now(),
  };
  status.steps.push(intake);
  const states = new Map<string, StepState>();
  for (const def of process.steps) {
    const state: StepState = {
      stepId: def.id,
      agency: def.agency,
      kind: def.kind,
      status: 'pending',
    };
    states.set(def.id, state);
    status.steps.push(state);
  }
  const definitions = new Map(process.steps.map((d) => [d.id, d]));
  const results: Record<string, unknown> = {};
  const facts: Record<string, Record<string, unknown>> = {};
  const compensations: StepDefinition[] = [];
  const decisions = new Map<string, { decision: Decision; ledgerIndex: number }>();
  const escalationActions = new Map<string, EscalationAction>();
  /** Steps whose decision was accepted and is being appended: they stay open until it lands. */
  const deciding = new Set<string>();
  /** Steps and compensations (by activity) waiting for a supervisor's action now. */
  const awaitingSupervisor = new Set<string>();
  /**
   * Since v11, what a running automatic step does with its deadline watch when a supervisor's
   * action on it comes (runAuto), in the activation of the Update that brought it.
   */
  const onSupervisorsAction = new Map<string, (action: EscalationAction) => void>();
  let refusal: { phase: Exclude<CasePhase, 'running' | 'completed'>; reason: string } | undefined;
  let pastPointOfNoReturn = false;
  let pointOfNoReturnRunning = false;

  const refuse = (phase: 'rejected' | 'expired' | 'failed', reason: string) => {
    refusal ??= { phase, reason };
  };
  /**
   * Past the registration a step held for its agency's key (one the registration did not
   * need, such as a utility's precheck) may be resolved by hand, as any step failing past it
   * may: its escalation is no longer retry-only. No command: the status alone changes.
   */
  const passPointOfNoReturn = () => {
    pastPointOfNoReturn = true;
    for (const e of status.escalations)
      if (!e.resolved && e.retryOnly && definitions.has(e.stepId)) delete e.retryOnly;
  };

  // Structured logs of every step transition: case id, step id, agency, status, outcome and
  // ledger index, never personal data. The SDK drops workflow logs during replay.
  const logged = new Map<string, string>();
  const logTransitions = () => {
    for (const step of status.steps) {
      if (logged.get(step.stepId) === step.status) continue;
      logged.set(step.stepId, step.status);
      log.info('step', {
        caseId,
        stepId: step.stepId,
        agency: step.agency,
        status: step.status,
        ...(step.outcome ? { outcome: step.outcome } : {}),
        ...(step.ledgerIndex === undefined ? {} : { ledgerIndex: step.ledgerIndex }),
      });
    }
  };

  // Each upsert is a history event and a visibility write for the server: about 3 ms of CPU
  // a case each, measured in bench/cases.ts. Since the 'search-attributes-when-waiting'
  // patch, a change is only marked here and one loop publishes it once the case waits on
  // something outside the workflow task (an agency, a person, a timer): no orchestrator
  // step in flight. Supervisors list the state a case waits in, not each step it passed
  // through within one task (in bench/cases.ts: 16 upserts a case before, 10 after).
  /**
   * Whether the case's overdue flag clears once no step of it is overdue (patch
   * `overdue-clears`, upsertStatus). Asked when a deadline first falls due, in its timer's
   * activation: code run after a local activity's resolution can fall in another workflow
   * task live than on replay (0e88c58), and a patch is looked for in the task it is asked in.
   * That was not enough: a payment's deadline asks it while the decision's append is in
   * flight, and an append that resolves in the timer's own activation on replay (local
   * activities group differently live and on replay) settles the wait first, so replay does
   * not ask, and sdk-core refuses a patch marker the code does not ask for. Since v10 the
   * answer is v10's, and no marker is recorded whenever it is asked.
   */
  let overdueClears: boolean | undefined;
  const askOverdueClears = () => {
    overdueClears ??= v10 || patched('overdue-clears');
  };
  /**
   * Since v11: steps a supervisor asked again (an automatic step retried, a wait opened again
   * after its final limit), each with a fresh deadline, until they miss it. Each keeps its
   * overdue flag (it was late), but no longer makes the case overdue: nobody owes anything late
   * while the fresh period runs. Before, the case stayed flagged through it (and in
   * supervisors' overdue list).
   */
  const askedAgain = new Set<string>();
  const overdueNow = (s: StepState) => s.overdue === true && !askedAgain.has(s.stepId);
  /**
   * Since v11: whether the step's retry waits for a supervisor because the ledger refused its
   * record (held as `<step>.retried`). Set after a local activity, so it words notices only.
   */
  const retryRecordHeld = (stepId: string) => v11 && awaitingSupervisor.has(`${stepId}${RETRIED}`);

  const whenWaiting = since('search-attributes-when-waiting');
  let agenciesPublished = false;
  let published = '';
  let changed = false;
  const upsertStatus = () => {
    changed = false;
    const open = status.steps.filter((s) => ['running', 'waiting', 'escalated'].includes(s.status));
    // A case whose overdue steps have all been settled (done late, paid late, resolved by a
    // supervisor, or closed with the case) owes nobody anything late any more: supervisors'
    // overdue filter and the overdue gauge look for cases someone must chase. Each step keeps
    // its own flag. Cleared at the case's next publication (markOverdue asks the patch).
    if (status.overdue && overdueClears === true && !open.some(overdueNow)) status.overdue = false;
    const current = open.map((s) => s.stepId);
    // Since v5 a compensation waiting for a supervisor is listed too, under its activity.
    if (v5) current.push(...[...awaitingSupervisor].filter((id) => !states.has(id)));
    const fingerprint = JSON.stringify([status.phase, current, status.overdue]);
    // Since this patch, only a change is published. Cases started before it replay with the
    // old behaviour.
    if (fingerprint === published && since('search-attributes-only-on-change')) return;
    published = fingerprint;
    upsertSearchAttributes([
      ...(agenciesPublished ? [] : [{ key: agenciesKey, value: agenciesOf(process) }]),
      { key: caseStatusKey, value: status.phase },
      { key: currentStepsKey, value: current },
      { key: overdueKey, value: status.overdue },
    ]);
    agenciesPublished = true;
  };
  const publish = () => {
    logTransitions();
    if (whenWaiting) changed = true;
    else upsertStatus();
  };

  /**
   * Whether a refusal may still unwind the case is known only once the registration is not in
   * flight (ARCHITECTURE.md §2: after it nothing is undone): since v5 a refusal waits for it,
   * or one landing beside a successful registration would refund the tax and cancel the filing
   * of a property that changed hands. Callers await this only while it is in flight, so every
   * other refusal stays as synchronous as before (no extra turn of the event loop).
   */
  const registrationSettled = () => condition(() => !pointOfNoReturnRunning);
  // A cancellation request (since v8) is a refusal like any other before the registration:
  // what was done is undone in reverse order, each compensation a signed entry, and the case
  // closes. Past it nothing is undone (ARCHITECTURE.md §2), so the case goes on to its end.
  cancelRequested?.catch(async () => {
    if (pointOfNoReturnRunning) await registrationSettled();
    if (pastPointOfNoReturn) {
      log.warn('cancellation request ignored: the case is past its point of no return', {
        caseId,
      });
      return;
    }
    refuse('failed', 'withdrawn: cancelled by an operator before the registration');
  });
  if (whenWaiting) {
    (async () => {
      for (;;) {
        await condition(() => changed && turns.busy === 0);
        upsertStatus();
      }
    })().catch((error: unknown) => {
      if (!isCancellation(error))
        log.warn('search attribute loop failed', { caseId, error: String(error) });
    });
  } else {
    upsertSearchAttributes([{ key: agenciesKey, value: agenciesOf(process) }]);
    agenciesPublished = true;
  }

  setHandler(statusQuery, () => status);

  /** Why `s` cannot decide step `stepId` of this case, or undefined (the step exists). */
  function decisionProblem(
    stepId: string,
    s: SignedStatement['statement'] | undefined,
  ): string | undefined {
    const def = definitions.get(stepId)!;
    if (!s || s.caseId !== caseId) return `the decision names case ${s?.caseId}, not ${caseId}`;
    if (s.stepId !== stepId) return `the decision is for step ${s.stepId}, not ${stepId}`;
    // One decision a step, under one id: a repeat number (`/<n>`) would put a second decision
    // for the step on the ledger beside one whose answer was lost.
    if (s.statementId !== `${caseId}/${stepId}`)
      return `a decision's statement id is ${caseId}/${stepId}, not ${s.statementId}`;
    if (s.agency !== def.agency)
      return `step ${def.id} is decided by ${def.agency}, not ${s.agency}`;
    if (!s.keyId.startsWith(`${def.agency}.`))
      return `key ${s.keyId} is not a key of ${def.agency}`;
    if (!allowedOutcomes(def.id).includes(s.outcome))
      return `step ${def.id} takes one of ${allowedOutcomes(def.id).join(', ')}, not ${s.outcome}`;
    // The entry is public for good: its facts name the deciding role and nothing else, and
    // the statement has no field beside its own. No patch: the validator adds no command,
    // and the handler judges by this only a decision already logged under the step's id.
    const extra = extraStatementFields(s);
    if (extra.length > 0)
      return `a decision's statement holds only its own fields, not ${extra.join(', ')}`;
    const factsProblem = decisionFactsProblem(s.facts, stepId);
    return factsProblem ? `the decision's facts ${factsProblem}` : undefined;
  }

  // A decision must name this case and an open step, come from the step's agency, and carry
  // an outcome that step can take; the ledger then checks the signature against the key
  // registry, and only a decision the ledger accepted changes the case.
  // Since v8 the case runs where a cancellation request does not reach (jointTransferCase),
  // but an Update's handler runs in the workflow's root scope, which the request cancels: its
  // body is shielded too, or every payment and decision after a cancellation past the
  // registration would be refused, and one being recorded at the request cut off mid-append.
  // The body starts at once either way (deciding is set in the same job), and no command.
  const shielded = <T>(body: () => Promise<T>): Promise<T> =>
    v8 ? CancellationScope.nonCancellable(body) : body();
  setHandler(
    decideUpdate,
    (decision) =>
      shielded(async () => {
        // Held open from acceptance until the entry lands: a second decision on the step is
        // refused meanwhile, and the step's wait does not end without this one.
        if (v5) deciding.add(decision.stepId);
        try {
          // With its opening, the record must open the commitment (the API checked it too).
          const { opening } = decision;
          const receipt = opening
            ? await orchestrator.appendToLedger(decision.signed, {
                salt: opening.salt,
                result: opening.record,
              })
            : await orchestrator.appendToLedger(decision.signed);
          // The log already holds another decision under this step's statement id: one whose
          // Update's answer was lost (its append went through, the case never heard) and that
          // was then decided again. The logged one is the agency's public record and cannot be
          // replaced, so the case follows it (without its opening: no reason). The same outcome
          // signed again is answered as accepted; another is refused. Behind a patch: a worker
          // of the code before took the new decision. A logged statement that cannot decide the
          // step (none the validator let through can be logged under its id) leaves the step
          // open until its deadline and final limit.
          if (receipt.logged && patched('decide-follows-logged')) {
            const { statement } = receipt.logged;
            const problem = decisionProblem(decision.stepId, statement);
            if (!problem) {
              const adopted = { stepId: decision.stepId, signed: receipt.logged };
              decisions.set(decision.stepId, { decision: adopted, ledgerIndex: receipt.index });
              if (statement.outcome === decision.signed.statement.outcome)
                return { ledgerIndex: receipt.index };
            }
            throw ApplicationFailure.nonRetryable(
              `the ledger already holds a decision ${statement.outcome} under ${statement.statementId} (entry ${receipt.index})${problem ? `, which cannot decide the step: ${problem}` : ', and the case follows it'}; this decision was not recorded`,
              STATEMENT_ID_TAKEN,
            );
          }
          decisions.set(decision.stepId, { decision, ledgerIndex: receipt.index });
          return { ledgerIndex: receipt.index };
        } finally {
          deciding.delete(decision.stepId);
        }
      }),
    {
      validator: (decision: Decision) => {
        const def = definitions.get(decision.stepId);
        const state = states.get(decision.stepId);
        if (!def || !state) throw new Error(`case ${caseId} has no step ${decision.stepId}`);
        if (deciding.has(decision.stepId))
          throw new Error(`step ${decision.stepId} already has a decision being recorded`);
        // A late decision only while no supervisor's action is waiting to be taken up.
        const open =
          state.status === 'waiting' ||
          (state.takesLateDecision === true && !escalationActions.has(decision.stepId));
        if (!open || decisions.has(decision.stepId)) {
          throw new Error(
            `step ${decision.stepId} is not open for a decision (it is ${state.status})`,
          );
        }
        const s = decision.signed?.statement;
        const problem = decisionProblem(decision.stepId, s);
        if (problem) throw new Error(problem);
        // The API checked the opening against the commitment; here only what the step reads
        // of it, so no update can fail the workflow task that applies it.
        if (decision.opening !== undefined) {
          const record = (decision.opening as { record?: unknown } | null)?.record as
            { outcome?: unknown; reason?: unknown } | null | undefined;
          if (
            typeof record !== 'object' ||
            record === null ||
            record.outcome !== s.outcome ||
            !['string', 'undefined'].includes(typeof record.reason)
          )
            throw new Error(`the decision's opening must record outcome ${s.outcome}`);
        }
      },
    },
  );

  setHandler(
    resolveEscalationUpdate,
    (action) => {
      escalationActions.set(action.stepId, action);
      // Since v11, here, in the Update's own activation: awaitSupervisor takes the action only
      // once its notice to the supervisor (a local activity) has resolved, which may be later.
      // The retry of a supervisor's retry record the ledger refused (held as `<step>.retried`)
      // is the step's too: its attempt runs once that record lands.
      onSupervisorsAction.get(action.stepId)?.(action);
      if (action.stepId.endsWith(RETRIED))
        onSupervisorsAction.get(action.stepId.slice(0, -RETRIED.length))?.(action);
      return Promise.resolve({});
    },
    {
      validator: (action: EscalationAction) => {
        // Exactly the action's own fields (domain/decisions.ts EscalationAction), as the API
        // sends it. Sent past the API, anything beside them was committed to with the
        // resolution's record, and a value canonical JSON cannot hold (1e400 parses to
        // Infinity) failed its signing on every retry, with every later call of the case
        // queued behind it.
        const extra = Object.keys(action).filter((key) => !ACTION_FIELDS.includes(key));
        if (extra.length > 0)
          throw new Error(
            `a supervisor action holds only ${ACTION_FIELDS.join(', ')}, not ${extra.join(', ')}`,
          );
        if (typeof action.stepId !== 'string') throw new Error('stepId must be a string');
        // Only while the case waits for one: an action after the first was taken (a second
        // supervisor, a retried request) would be accepted and then never used.
        if (!awaitingSupervisor.has(action.stepId))
          throw new Error(`step ${action.stepId} is not escalated`);
        if (escalationActions.has(action.stepId))
          throw new Error(`step ${action.stepId} already has a supervisor's action`);
        // A late decision being recorded settles the step if the ledger takes it.
        if (deciding.has(action.stepId))
          throw new Error(
            `a decision on step ${action.stepId} is being recorded; act once it is, if still needed`,
          );
        if (!['retry', 'resolve'].includes(action.action))
          throw new Error(`action must be retry or resolve`);
        const open = status.escalations.find((e) => e.stepId === action.stepId && !e.resolved);
        // A held agency step of a case being undone is not run again. A guard for one short
        // window (the refusal landed while the hold's notice was being sent): otherwise the
        // hold has ended, and the step is no longer escalated at all. An action accepted in
        // the refusal's own activation is dropped by the hold, which says so. Without the
        // refusal's reason: it may quote an officer's, which only a logged read shows.
        if (open?.retryOnly && definitions.has(action.stepId) && refusal !== undefined)
          throw new Error(`case ${caseId} is being undone: ${action.stepId} is not run again`);
        // What the ledger must hold: nobody can make it by hand (past the registration, an
        // agency step it did not need may be, as any step failing there).
        if (
          open?.retryOnly &&
          action.action !== 'retry' &&
          !(definitions.has(action.stepId) && pastPointOfNoReturn)
        )
          throw new Error(
            definitions.has(action.stepId)
              ? `${action.stepId} needs its agency's signed answer on the ledger: retry it once the agency's worker signs with a key the ledger accepts`
              : `${action.stepId} is a record the ledger must hold: retry it once the orchestrator signs with a key the ledger accepts`,
          );
        if (typeof action.reason !== 'string' || !action.reason.trim())
          throw new Error('a supervisor action needs a reason');
        // Sent past the API (another client of Temporal), an action must still say who took
        // it: the resolution on the ledger names them.
        if (typeof action.supervisor !== 'string' || !action.supervisor.trim())
          throw new Error('a supervisor action names its supervisor');
      },
    },
  );

  /**
   * The salt an agency commits to `stepId`'s result under: the step's own (activities/
   * orchestrator.ts intake), so no agency holds the salt of another's commitments; the case's
   * for a case whose intake came before step salts.
   */
  const saltOf = (stepId: string): string => {
    if (!stepSalts) return salt;
    // Fail the task, never fall back to the case's salt: that would open every agency's
    // commitments to this one. Only a step list drifting from the intake's could get here.
    const own = stepSalts[stepId];
    if (own === undefined) throw new Error(`the intake gave no salt for step ${stepId}`);
    return own;
  };

  /**
   * Appends `signed`; given the result it commits to (under its step's salt), only if that
   * result opens its commitment: the case goes on with the result, so it must be the signed one.
   * Given instead the `record` it was signed from (one of the orchestrator's own: a resolution,
   * the close), the case waits for a supervisor's retry when the ledger refuses it (see below).
   */
  async function append(
    signed: SignedStatement,
    result?: { of: unknown },
    record?: SignRecordInput,
  ): Promise<number> {
    let receipt: AppendReceipt;
    // One await on the way that succeeds, as before: the same turns for a running case.
    for (;;) {
      try {
        receipt = result
          ? await orchestrator.appendToLedger(signed, {
              salt: saltOf(signed.statement.stepId),
              result: result.of,
            })
          : await orchestrator.appendToLedger(signed);
        break;
      } catch (error) {
        // An orchestrator's record refused for its key (revoked, expired, never registered,
        // or a key file that is not the registered key's) is refused again on every retry, and
        // no agency can answer for it: signed again with a key the ledger accepts, it is not.
        // Since this patch, asked only at such a refusal, the case holds the record for a
        // supervisor's retry under the record's step id instead of failing, and each retry
        // signs it again with the key of the worker that runs it (after `keys rotate` and a
        // restart, the new one), under the same statement id. Nothing accepted is lost
        // meanwhile. Before the patch the refusal went on up: it failed the case, or, in a
        // step's loop, escalated the step again. Any other refusal (a malformed record, a
        // bug no retry cures) goes on up as before.
        if (!record || !refusesKey(error) || !patched('own-record-refused-waits')) throw error;
        await awaitSupervisor(
          record.stepId,
          `the ledger refused the orchestrator's ${record.stepId} record: ${failureMessage(error)}; retry once the orchestrator signs with a key the ledger accepts`,
          undefined,
          { retryOnly: true, ownRecord: true },
        );
        // The record leaves the current steps (awaitSupervisor publishes only the hold).
        publish();
        signed = await orchestrator.signRecord(record);
      }
    }
    // Under this statement id the log holds another agency answer that says something else
    // (a case reset to an earlier point whose agency answered again): the case must not act
    // on an answer the ledger does not hold. The attempt fails as an agency failure does (its
    // caller escalates or refuses), and a retry signs under the next repeat number. Only
    // agency answers (those with a result): the orchestrator's own records are signed again
    // from the case's state, differ only in time and signature, and must not fail a workflow
    // task. Behind a patch: the code before went on.
    const logged = receipt.logged?.statement;
    if (
      result &&
      logged &&
      saysOtherwise(logged, signed.statement) &&
      patched('append-follows-logged')
    )
      throw new Error(
        `the ledger already holds ${logged.statementId} (entry ${receipt.index}) saying otherwise (outcome ${logged.outcome}); this answer was not recorded`,
      );
    return receipt.index;
  }

  // Not async: the caller awaits awaitSupervisor's own promise, so a case started before v5
  // takes the same turns as when this was one function.
  function escalate(
    def: StepDefinition,
    state: StepState,
    reason: string,
  ): Promise<EscalationAction> {
    state.status = 'escalated';
    return awaitSupervisor(def.id, reason);
  }

  /**
   * Tells the supervisor what is stuck at `stepId` and waits for their retry or resolution.
   * Given `settled`, the wait also ends, with no action, once `settled()` holds: a decision
   * on an expired wait that came while the supervisor had not acted. A decision being
   * recorded holds the supervisor's action back until the ledger has answered.
   */
  async function awaitSupervisor(
    stepId: string,
    reason: string,
    settled?: undefined,
    options?: HoldOptions,
  ): Promise<EscalationAction>;
  async function awaitSupervisor(
    stepId: string,
    reason: string,
    settled: () => boolean,
    options?: HoldOptions,
  ): Promise<EscalationAction | undefined>;
  async function awaitSupervisor(
    stepId: string,
    reason: string,
    settled?: () => boolean,
    options: HoldOptions = {},
  ): Promise<EscalationAction | undefined> {
    const { retryOnly } = options;
    status.escalations.push({
      stepId,
      reason,
      at: now(),
      resolved: false,
      ...(retryOnly ? { retryOnly } : {}),
    });
    awaitingSupervisor.add(stepId);
    publish();
    await orchestrator.notify({
      caseId,
      party: 'supervisor',
      kind: 'escalation',
      stepId,
      message: reason,
    });
    await condition(
      settled
        ? () => settled() || (escalationActions.has(stepId) && !deciding.has(stepId))
        : () => escalationActions.has(stepId),
    );
    if (settled?.()) {
      // No action is waiting too: each validator refuses while the other's Update is pending.
      // A refusal of the case is no Update: an action taken in its activation is dropped, and
      // the resolution says so (the API answered the supervisor 200).
      const dropped = escalationActions.get(stepId);
      escalationActions.delete(stepId);
      awaitingSupervisor.delete(stepId);
      const open = status.escalations.find((e) => e.stepId === stepId && !e.resolved)!;
      open.resolved = true;
      open.resolution = `${options.settledAs ?? 'settled by a decision that came before any action'}${dropped ? `; the ${dropped.action} by ${dropped.supervisor} that came with it was not taken` : ''}`;
      publish();
      return undefined;
    }
    const action = escalationActions.get(stepId)!;
    escalationActions.delete(stepId);
    awaitingSupervisor.delete(stepId);
    const open = status.escalations.find((e) => e.stepId === stepId && !e.resolved)!;
    open.resolved = true;
    open.resolution = `${action.action} by ${action.supervisor}: ${action.reason}`;
    // Since v9 a retry is on the ledger too (ARCHITECTURE.md §2: retry or resolve by hand,
    // recorded), before the step runs again. Not the retry of a record the ledger refused
    // under the orchestrator's key: its own record would be refused the same way, and the
    // retried record itself lands in its place.
    if (v9 && action.action === 'retry' && !options.ownRecord) await recordRetry(stepId, action);
    return action;
  }

  /** How many retries of each step a supervisor took, for their records' repeat numbers. */
  const retriesTaken = new Map<string, number>();

  /**
   * A supervisor's retry as a signed record of the orchestrator's, `<stepId>.retried` (then
   * `/1`, `/2` for later retries of the same step): who and why are committed to, off the
   * ledger, as for a resolution; the facts name the step.
   */
  async function recordRetry(stepId: string, action: EscalationAction): Promise<void> {
    const n = retriesTaken.get(stepId) ?? 0;
    retriesTaken.set(stepId, n + 1);
    const record = { ...actionRecord(stepId, action, 'retried'), ...(n > 0 ? { n } : {}) };
    const signed = await orchestrator.signRecord(record);
    recordOwn(record, signed, await append(signed, undefined, record));
  }

  /**
   * Flags the step and the case overdue and reminds whoever owes the action. Called in the
   * activation of the deadline's timer (each caller's first call; later ones have asked).
   */
  async function markOverdue(def: StepDefinition, state: StepState): Promise<void> {
    askOverdueClears();
    askedAgain.delete(def.id);
    state.overdue = true;
    status.overdue = true;
    publish();
    // An escalated step waits for the supervisor, not for its agency (since v5); so does one
    // whose retry's record the ledger refused (since v11: the notice's party and words only).
    const escalated = v5 && (state.status === 'escalated' || retryRecordHeld(def.id));
    await orchestrator.notify({
      caseId,
      party: escalated ? 'supervisor' : owingParty(def),
      kind: 'reminder',
      stepId: def.id,
      message: escalated
        ? `${def.id} is overdue and waits for a supervisor`
        : `${def.id} is overdue`,
    });
  }

  // Deadlines of running automatic steps, watched by ONE timer per case: a timer per step
  // cost two history events and server work each (start, then cancel a moment later). The
  // timer is re-armed only for an earlier deadline, never cancelled when a step finishes in
  // time; when it fires it flags whatever is due and arms for the next. Cases started before
  // this patch keep a timer per step.
  const oneDeadlineTimer = since('one-deadline-timer');
  const deadlines = new Map<string, { at: number; def: StepDefinition; state: StepState }>();
  /** Automatic steps whose agency has answered this attempt (no command: memory only). */
  const answered = new Set<string>();
  const earliestDeadline = () => Math.min(...[...deadlines.values()].map((d) => d.at));
  let deadlineWatcher: Promise<void> | undefined;

  async function watchDeadlines(): Promise<void> {
    for (;;) {
      await condition(() => deadlines.size > 0);
      const armedFor = earliestDeadline();
      // Wakes early only for a deadline before the armed one; the case ending leaves it pending.
      const earlier = await condition(
        () => earliestDeadline() < armedFor,
        Math.max(1, armedFor - Date.now()),
      );
      if (earlier) continue;
      for (const [stepId, due] of [...deadlines]) {
        if (due.at > Date.now()) continue;
        // Since v7: a step that ended (or started again) during an earlier reminder's await
        // is no longer this deadline's.
        if (v7 && deadlines.get(stepId) !== due) continue;
        deadlines.delete(stepId);
        // A missed deadline escalates (ARCHITECTURE.md §2): the agency is reminded, and a
        // supervisor told, unless the step already waits for one or the agency has answered
        // (its entry may still be on its way to the ledger). Judged before the reminder's
        // await, so whatever settles meanwhile does not change the answer.
        const tellSupervisor = v6 && due.state.status === 'running' && !answered.has(stepId);
        await markOverdue(due.def, due.state);
        if (tellSupervisor)
          await orchestrator.notify({
            caseId,
            party: 'supervisor',
            kind: 'overdue',
            stepId: due.def.id,
            // Since v11 a retry's record the ledger refused holds the step for a supervisor
            // before its agency is asked: the notice's words only (the hold starts after a
            // local activity, so it never decides whether a notice is sent).
            message: retryRecordHeld(due.def.id)
              ? `${due.def.id} missed its deadline: its retry's record waits for a supervisor`
              : `${due.def.id} missed its deadline at ${due.def.agency}`,
          });
      }
    }
  }

  /** Calls markOverdue at the step's deadline unless the returned function is called first. */
  function watchDeadline(def: StepDefinition, state: StepState): () => void {
    if (oneDeadlineTimer) {
      const at = Date.now() + ms(def.deadline);
      state.deadlineAt = new Date(at).toISOString();
      deadlines.set(def.id, { at, def, state });
      deadlineWatcher ??= watchDeadlines().catch((error: unknown) =>
        log.warn('deadline watch failed', { caseId, error: String(error) }),
      );
      return () => deadlines.delete(def.id);
    }
    const scope = new CancellationScope();
    state.deadlineAt = new Date(Date.now() + ms(def.deadline)).toISOString();
    scope
      .run(async () => {
        await sleep(ms(def.deadline));
        await markOverdue(def, state);
      })
      .catch((error: unknown) => {
        if (!isCancellation(error))
          log.warn('deadline watch failed', { caseId, stepId: def.id, error: String(error) });
      });
    return () => scope.cancel();
  }

  async function runAuto(def: StepDefinition, state: StepState): Promise<void> {
    let stopWatching = watchDeadline(def, state);
    if (def.pointOfNoReturn) pointOfNoReturnRunning = true;
    try {
      // Since v11 an attempt a supervisor asks for (every one after the first) is watched for
      // the step's full deadline from the moment the retry is taken: the attempt before stopped
      // being watched at its agency's answer, or passed its deadline (before, only what was
      // left of the first attempt's deadline covered it, if any). A resolution by hand ends the
      // watch. Both in the Update's activation (its handler calls this), an event of the
      // history, not once the action's record is appended (a local activity, whose result
      // replay may deliver in another activation, 0e88c58): what the watch reads of the step
      // changes at the same point live and on replay.
      if (v11)
        onSupervisorsAction.set(def.id, (action) => {
          stopWatching();
          if (action.action === 'resolve') return;
          stopWatching = watchDeadline(def, state);
          askedAgain.add(def.id);
          state.status = 'running';
          // The attempt before may have answered; the watch must not take this one as answered.
          answered.delete(def.id);
        });
      for (let n = 0; ; n++) {
        state.status = 'running';
        state.attempts = n + 1;
        publish();
        try {
          const call = agencyActivity(
            def.agency as Agency,
            def.activity!,
            !def.pointOfNoReturn && !pastPointOfNoReturn,
          );
          answered.delete(def.id);
          const out = await call({
            caseId,
            stepId: def.id,
            salt: saltOf(def.id),
            view: viewFor(def.activity!, def.agency as Agency, application, results),
            ...(n > 0 ? { n } : {}),
          });
          answered.add(def.id);
          const wrong = misdirection(out.signed, { caseId, stepId: def.id, agency: def.agency, n });
          if (wrong) throw new Error(wrong);
          // Since v11 an agency meets its deadline by answering for this step: the answer's
          // append is the orchestrator's own work. Before, the watch held until the append
          // ended: an append in flight at the deadline flagged the step and reminded the
          // agency, and whether it was in flight could differ on replay, where a local activity
          // may resolve in the deadline timer's own activation (0e88c58); the answer is an
          // event of the history, live and on replay alike. An answer that escalates (the
          // ledger refuses it, a refusal past the registration) is the supervisor's from then
          // on, told by the escalation and listed among the escalations, and is not flagged
          // overdue at the deadline its agency met (the flag would be decided by when the
          // append's result came, which replay may reorder); a retry is watched afresh (above).
          // An answer that comes in the deadline timer's own activation counts as in time: this
          // continuation is a shorter promise chain than the watcher's timed condition, so it
          // runs first (the SDK's order, the same live and on replay; no recorded history has
          // the two in one activation).
          if (v11) stopWatching();
          state.ledgerIndex = await append(out.signed, { of: out.result });
          state.statementId = out.signed.statement.statementId;
          state.outcome = out.signed.statement.outcome;
          results[def.id] = out.result;
          facts[def.id] = out.signed.statement.facts;
          state.finishedAt = now();
          if (out.signed.statement.outcome === 'rejected') {
            state.status = 'rejected';
            // A refusing agency may still have acted (the registry locks the title while it
            // checks); compensations are idempotent, so undo whatever this step may have done.
            if (!v5 && def.compensation) compensations.push(def);
            if (v5 && !def.pointOfNoReturn && pointOfNoReturnRunning) await registrationSettled();
            if (!v5 || def.pointOfNoReturn || !pastPointOfNoReturn) {
              if (v5 && def.compensation) compensations.push(def);
              refuse('rejected', `${def.id}: ${def.agency} rejected the case`);
              return;
            }
            // Refused after the registration (an account closed since its precheck): nothing
            // is undone, a supervisor retries the step or resolves it by hand.
            const action = await escalate(
              def,
              state,
              `${def.id}: ${def.agency} refused it after the registration`,
            );
            // Since v7 awaited, so that `finally` runs once the resolution is recorded.
            if (action.action === 'resolve')
              return v7
                ? await resolveByHand(def, state, action)
                : resolveByHand(def, state, action);
            continue;
          }
          state.status = 'done';
          if (def.compensation) compensations.push(def);
          if (def.pointOfNoReturn) passPointOfNoReturn();
          return;
        } catch (error) {
          if (isCancellation(error)) throw error;
          const message = failureMessage(error);
          state.error = message;
          // Since v5 the registration's own failure is not undone either: the registry may
          // have registered before it stopped answering. A supervisor retries it (the
          // registry answers a retry with what it did) or records it as done by hand.
          if (v5 && !def.pointOfNoReturn && pointOfNoReturnRunning) await registrationSettled();
          const refusable = v5
            ? !def.pointOfNoReturn && !pastPointOfNoReturn
            : !pastPointOfNoReturn || def.pointOfNoReturn;
          // The ledger refused the agency's answer for its key (revoked, expired, never
          // registered, or a key file that is not the registered key's): an operator's fault,
          // not the case's, and every retry on the same worker is refused the same way. Since
          // this patch, asked only at such a refusal, the step waits for a supervisor's retry
          // once the agency's worker signs with a key the ledger accepts, instead of refusing
          // the citizen's application and undoing the case. Never resolved by hand: the steps
          // after it read its result, until the case is past the registration (a step it did not
          // need, such as a precheck): then, as any step failing there, it may be. A refusal
          // past the registration escalates as any failure. (In a case started before v5 the
          // registration itself counts as refusable, so there it may be held too.)
          // The wait ends with no action once the case is refused elsewhere (another agency
          // rejects it, a cancellation request withdraws it): the step is then cancelled, and
          // undone like a failed one (its agency may have acted before the refusal).
          // A case refused already (or while the retry's record is appended) is undone with no
          // wait: nobody could act on it, and its agency must not be called again.
          if (refusable && refusesKey(error) && patched('agency-key-refused-waits')) {
            let action: EscalationAction | undefined;
            if (refusal === undefined) {
              state.status = 'escalated';
              action = await awaitSupervisor(
                def.id,
                `${def.id}: the ledger refused ${def.agency}'s answer: ${message}; retry once its worker signs with a key the ledger accepts`,
                () => refusal !== undefined,
                { retryOnly: true, settledAs: 'ended by the case being refused before any action' },
              );
            }
            if (action && refusal === undefined) {
              // Only past the registration (the validator): as for any step failing there.
              if (action.action === 'resolve') return await resolveByHand(def, state, action);
              continue;
            }
            state.status = 'cancelled';
            state.finishedAt = now();
            if (def.compensation) compensations.push(def);
            return;
          }
          if (refusable) {
            state.status = 'failed';
            // It may have acted before failing; compensations are idempotent.
            if (def.compensation && since('compensate-failed-steps')) compensations.push(def);
            refuse('failed', `${def.id} failed: ${message}`);
            return;
          }
          // Past the point of no return nothing is undone: a supervisor retries or resolves by hand.
          const action = await escalate(def, state, `${def.id} failed after retries: ${message}`);
          // Since v7 awaited: `finally` clears pointOfNoReturnRunning, and a step waiting for
          // the registration to settle must find it past the point of no return by then.
          if (action.action === 'resolve')
            return v7 ? await resolveByHand(def, state, action) : resolveByHand(def, state, action);
        }
      }
    } finally {
      stopWatching();
      onSupervisorsAction.delete(def.id);
      answered.delete(def.id);
      if (def.pointOfNoReturn) pointOfNoReturnRunning = false;
    }
  }

  /** A supervisor's resolution by hand, recorded on the ledger under the orchestrator's key. */
  async function resolveByHand(
    def: StepDefinition,
    state: StepState,
    action: EscalationAction,
  ): Promise<void> {
    // The calls inline, as before v5 (the same turns for cases started before it).
    const record = actionRecord(def.id, action, 'resolvedByHand');
    const signed = await orchestrator.signRecord(record);
    const index = await append(signed, undefined, record);
    recordOwn(record, signed, index);
    state.status = 'done';
    state.outcome = 'resolvedByHand';
    state.finishedAt = now();
    // A registration resolved by hand was done by hand: the case goes on past it.
    if (v5 && def.pointOfNoReturn) passPointOfNoReturn();
  }

  /**
   * A supervisor's action on `stepId` as a record of the orchestrator's: `<stepId>.resolved`
   * (outcome resolvedByHand) or `<stepId>.retried`. Who and why are its result, committed to.
   */
  const actionRecord = (
    stepId: string,
    action: EscalationAction,
    outcome: 'resolvedByHand' | 'retried',
  ): SignRecordInput => ({
    caseId,
    stepId: `${stepId}${outcome === 'retried' ? RETRIED : '.resolved'}`,
    outcome,
    result: action,
    facts: { step: stepId },
  });
  /** A record of the orchestrator's, as the status lists it once the ledger holds it. */
  const recordOwn = (record: SignRecordInput, signed: SignedStatement, index: number) =>
    status.records.push({
      stepId: record.stepId,
      agency: 'orchestrator',
      outcome: record.outcome,
      statementId: signed.statement.statementId,
      ledgerIndex: index,
      at: now(),
    });

  async function runWaiting(def: StepDefinition, state: StepState): Promise<void> {
    state.status = 'waiting';
    state.startedAt = now();
    // Only for the status query (no command): the amount is in an earlier step's result,
    // which stays off the ledger.
    const amount =
      def.amountDue &&
      (results[def.amountDue.step] as Record<string, unknown>)?.[def.amountDue.result];
    if (typeof amount === 'number') state.amountDueCents = amount;
    state.deadlineAt = new Date(Date.now() + ms(def.deadline)).toISOString();
    publish();
    // A refusal elsewhere ends the wait, except while a decision on it is being recorded
    // (since v5): a payment that lands must be there for the refund.
    const settled = () => decisions.has(def.id) || (refusal !== undefined && !deciding.has(def.id));
    /**
     * Waits up to `timeout` ms; since v5 a decision accepted by then is waited for. Past the
     * timeout only the decision counts, and its wait is a condition: its append may resolve
     * in the timer's activation or after it (local activities group differently live and on
     * replay), and either way this answers the same.
     */
    const settles = v5
      ? async (timeout: number, atDeadline = false): Promise<boolean> => {
          if (await condition(settled, timeout)) return true;
          if (decisions.has(def.id)) return true;
          // A refusal that came in the deadline timer's own activation settles the wait as one
          // before it would: the timer won the race only because conditions are checked last.
          // A cancellation request does (a worker back after an outage finds both), as does
          // another step's expiry; an agency's rejection comes after its append, a later
          // activation. Before, the citizen was reminded, the supervisor told and the case
          // flagged overdue on its way out. Asked only then, so no other case records a marker.
          if (
            atDeadline &&
            refusal !== undefined &&
            !deciding.has(def.id) &&
            patched('refusal-beside-deadline')
          )
            return true;
          if (!deciding.has(def.id)) return false;
          // The decision being recorded may be refused, and the step then flagged overdue
          // after its append: asked now, in the timer's activation.
          if (atDeadline) askOverdueClears();
          await condition(() => !deciding.has(def.id));
          return decisions.has(def.id);
        }
      : (timeout: number, _atDeadline?: boolean) => condition(settled, timeout);
    if (!(await settles(ms(def.deadline), true))) {
      await markOverdue(def, state);
      await orchestrator.notify({
        caseId,
        party: 'supervisor',
        kind: 'overdue',
        stepId: def.id,
        message: `${def.id} missed its deadline`,
      });
      const rest = Math.max(1, ms(def.finalLimit ?? def.deadline) - ms(def.deadline));
      if (!(await settles(rest))) {
        state.status = 'cancelled';
        state.finishedAt = now();
        if (v5 && pointOfNoReturnRunning) await registrationSettled();
        if (!pastPointOfNoReturn) {
          refuse(
            'expired',
            `${def.id} waited past its final limit of ${def.finalLimit ?? def.deadline}`,
          );
          return;
        }
        // Nothing is undone after the registration: a supervisor resolves the wait by hand
        // or opens it again for another full period. Meanwhile the step still takes its
        // decision (a late payment), which settles it as one in time would. Since v5 only:
        // there a decision accepted in time is waited for above, so none lands after the
        // expiry unless taken here. No command decides whether the Update is taken: a
        // history with no late decision replays the same.
        // Query and notice text only (no command): says what the supervisor may wait for.
        const reason = `${def.id} waited past its final limit${v5 ? `; a late ${def.kind === 'wait' ? 'payment' : 'decision'} still settles it` : ''}`;
        if (v5) state.takesLateDecision = true;
        state.status = 'escalated';
        let action: EscalationAction | undefined;
        try {
          // Before v5 nothing settles it: the same wait for an action as before.
          action = await awaitSupervisor(def.id, reason, () => v5 && decisions.has(def.id));
        } finally {
          // Also when the case is cancelled meanwhile: a query must not offer the payment.
          delete state.takesLateDecision;
        }
        if (action) {
          if (since('record-waiting-resolutions')) {
            if (action.action === 'resolve') return resolveByHand(def, state, action);
            if (v11) askedAgain.add(def.id);
            return runWaiting(def, state);
          }
          state.status = 'done';
          state.outcome = action.action === 'resolve' ? 'resolvedByHand' : 'retried';
          return;
        }
        // No action: a late decision settled the step, and is taken below.
      }
    }
    const got = decisions.get(def.id);
    if (!got) {
      state.status = 'cancelled';
      return;
    }
    const outcome = got.decision.signed.statement.outcome;
    // The decider's reason comes from the decision's opening (the API checked it against the
    // commitment), never from the ledger: the status and a refusal show it. No command, so
    // no patch: a recorded history replays the same.
    const reason = got.decision.opening?.record.reason;
    state.outcome = outcome;
    if (reason) state.reason = reason;
    state.statementId = got.decision.signed.statement.statementId;
    state.ledgerIndex = got.ledgerIndex;
    state.finishedAt = now();
    facts[def.id] = got.decision.signed.statement.facts;
    if (REFUSING_OUTCOMES.includes(outcome)) {
      state.status = 'rejected';
      refuse(
        'rejected',
        `${def.id}: ${def.agency} decided ${outcome}${reason ? `: ${reason}` : ''}`,
      );
    } else {
      state.status = 'done';
      if (def.compensation) compensations.push(def);
    }
  }

  const run = (def: StepDefinition, state: StepState) =>
    def.kind === 'auto' ? runAuto(def, state) : runWaiting(def, state);

  /**
   * Since v9: `def` is gated on facts of a step a supervisor resolved by hand, so whether it
   * is due is not known (a utility's precheck failing after the registration leaves no
   * `hasArrears`). A supervisor decides: retry runs the step (the citizen settles the
   * arrears), resolve records it done by hand (none owed, or settled with the utility).
   */
  async function runUnjudged(def: StepDefinition, state: StepState): Promise<void> {
    const { step, fact } = def.when!;
    state.startedAt = now();
    const action = await escalate(
      def,
      state,
      `${def.id}: ${step} was resolved by hand, so whether ${fact} holds is not known; retry to run ${def.id}, or resolve it by hand`,
    );
    if (action.action === 'resolve') return resolveByHand(def, state, action);
    return run(def, state);
  }

  /**
   * Runs `def`'s compensation as a signed entry (since v5). One that fails after its retries
   * goes to a supervisor, who retries it or records it done by hand: a lock left on the title
   * or a refund never paid must not end silently with the case.
   */
  async function compensate(def: StepDefinition): Promise<void> {
    const activity = def.compensation!;
    for (let n = 0; ; n++) {
      try {
        const out = await callCompensation(def, n);
        const wrong = misdirection(out.signed, compensationCall(def, n));
        if (wrong) throw new Error(wrong);
        recordCompensation(def, out.signed, await append(out.signed, { of: out.result }));
        return;
      } catch (error) {
        if (isCancellation(error)) throw error;
        const message = failureMessage(error);
        log.error('compensation failed', { caseId, activity, error: message });
        // The message only, no command: a recorded history replays the same.
        const action = await awaitSupervisor(
          activity,
          `compensation ${activity} failed: ${message}`,
        );
        if (action.action === 'resolve') {
          const record = actionRecord(activity, action, 'resolvedByHand');
          const signed = await orchestrator.signRecord(record);
          recordOwn(record, signed, await append(signed, undefined, record));
          states.get(def.id)!.status = 'compensated';
          return;
        }
      }
    }
  }

  // Both plain functions (the activity's own promise, a record): shared by the loop of cases
  // started before v5, whose awaits must stay where they were.
  const callCompensation = (def: StepDefinition, n = 0) =>
    agencyActivity(
      def.agency as Agency,
      def.compensation!,
    )({
      caseId,
      stepId: def.compensation!,
      salt: saltOf(def.compensation!),
      view: viewFor(def.compensation!, def.agency as Agency, application, results),
      ...(n > 0 ? { n } : {}),
    });
  const compensationCall = (def: StepDefinition, n: number) => ({
    caseId,
    stepId: def.compensation!,
    agency: def.agency,
    n,
  });
  const recordCompensation = (def: StepDefinition, signed: SignedStatement, index: number) => {
    status.records.push({
      stepId: def.compensation!,
      agency: def.agency,
      outcome: signed.statement.outcome,
      statementId: signed.statement.statementId,
      ledgerIndex: index,
      at: now(),
    });
    states.get(def.id)!.status = 'compensated';
  };

  // Intake: the off-ledger case record and the commitment salt.
  publish();
  const { salt, stepSalts } = await orchestrator.intake({
    ...input,
    workflowId: workflowInfo().workflowId,
    // An activity's input is no command: replay compares none of it, so no patch.
    firstRunId: workflowInfo().firstExecutionRunId,
  });
  intake.status = 'done';
  intake.finishedAt = now();

  // Start every step whose needs are settled; independent steps run in parallel.
  const inflight = new Map<string, Promise<void>>();
  const isSettled = (id: string) => ['done', 'skipped'].includes(states.get(id)!.status);
  for (;;) {
    let changed = true;
    while (changed && refusal === undefined) {
      changed = false;
      for (const def of process.steps) {
        const state = states.get(def.id)!;
        if (state.status !== 'pending' || inflight.has(def.id) || !def.needs.every(isSettled))
          continue;
        // Since v9 a gate whose step was resolved by hand is judged by a supervisor: that
        // step's facts, if any, are of an answer the resolution overrode.
        if (def.when && v9 && states.get(def.when.step)?.outcome === 'resolvedByHand') {
          inflight.set(
            def.id,
            runUnjudged(def, state).finally(() => inflight.delete(def.id)),
          );
          continue;
        }
        if (def.when && facts[def.when.step]?.[def.when.fact] !== true) {
          state.status = 'skipped';
          changed = true;
          continue;
        }
        inflight.set(
          def.id,
          run(def, state).finally(() => inflight.delete(def.id)),
        );
      }
    }
    if (inflight.size === 0) break;
    await Promise.race(inflight.values());
  }

  if (refusal) {
    for (const state of states.values()) if (state.status === 'pending') state.status = 'cancelled';
    // Undo in reverse order of completion; each compensation is itself a signed entry.
    await CancellationScope.nonCancellable(async () => {
      if (v5) {
        for (const def of [...compensations].reverse()) await compensate(def);
        return;
      }
      // Cases started before v5, as they ran: a failed compensation is only noted.
      for (const def of [...compensations].reverse()) {
        const activity = def.compensation!;
        try {
          const out = await callCompensation(def);
          const wrong = misdirection(out.signed, compensationCall(def, 0));
          if (wrong) throw new Error(wrong);
          const index = await append(out.signed, { of: out.result });
          recordCompensation(def, out.signed, index);
        } catch (error) {
          log.error('compensation failed', { caseId, activity, error: String(error) });
          status.escalations.push({
            stepId: activity,
            reason: `compensation ${activity} failed: ${String(error)}`,
            at: now(),
            resolved: false,
          });
        }
      }
    });
  }
  // The case ends in this phase once its close is recorded (a close the ledger refuses is held
  // for a supervisor, and the case is running till then). Since 'search-attributes-when-waiting'
  // nothing publishes in between on the way that succeeds: the same commands as when the phase
  // was set here. A case before it publishes at once, and a reminder landing while its close is
  // in flight would publish another phase than its history holds: it sets the phase here still.
  const phase = refusal?.phase ?? 'completed';
  const setPhase = () => {
    status.phase = phase;
    if (refusal) status.reason = refusal.reason;
  };
  if (!whenWaiting) setPhase();

  // Close: a case summary entry and a notice to the citizen.
  const closeRecord: SignRecordInput = {
    caseId,
    stepId: 'close',
    outcome: phase,
    result: {
      phase,
      reason: refusal?.reason ?? null,
      steps: status.steps.map((s) => [s.stepId, s.status]),
    },
    facts: {
      steps: status.steps.length,
      // Whether the case ever went overdue: its flag may have cleared since.
      overdue: status.steps.some((s) => s.overdue === true),
      escalations: status.escalations.length,
    },
  };
  const summary = await orchestrator.signRecord(closeRecord);
  const closeIndex = await append(summary, undefined, closeRecord);
  setPhase();
  recordOwn(closeRecord, summary, closeIndex);
  await orchestrator.notify({
    caseId,
    party: 'citizen',
    kind: 'closed',
    stepId: 'close',
    message: `your case is ${status.phase}`,
  });
  // The last state is published before the result, not left to the loop.
  logTransitions();
  upsertStatus();
  await condition(allHandlersFinished);
  if (status.phase === 'failed') log.warn('case failed', { caseId, reason: status.reason });
  return status;
}
