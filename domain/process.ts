// A process as data (ARCHITECTURE.md §2): the schema of a step graph and its validation. The
// joint transfer's graph is in processGraph.ts; the workflow interprets it, so adding an
// agency or a utility is configuration, not new workflow code.
import { z } from 'zod';
import { Signer } from './agency.ts';
import { decidingAgency } from './decisions.ts';
import { allowedOutcomes, REFUSING_OUTCOMES } from './outcomes.ts';
import { durationMs, InvalidProcessError } from './processGraph.ts';
import { isAgencyActivity, VIEW_CUTS } from './viewCuts.ts';

/** auto: an agency activity; wait: the citizen must act (pay); human: an officer decides. */
export const StepKind = z.enum(['auto', 'wait', 'human']);
export type StepKind = z.infer<typeof StepKind>;

// At most five digits: 99999 days (about 274 years) is 8.64e12 ms, a safe integer and a date
// JavaScript can hold; more digits made a timer no one could wait for, or Infinity.
const Duration = z
  .string()
  .regex(
    /^\d{1,5} (ms|seconds?|minutes?|hours?|days?)$/,
    'must be like "30 seconds" or "2 days", with at most 5 digits',
  );

export const StepDefinition = z
  .object({
    id: z.string().regex(/^[a-zA-Z][a-zA-Z0-9.-]{0,63}$/),
    agency: Signer,
    needs: z.array(z.string()),
    kind: StepKind,
    /**
     * The activity on `agency.<agency>` that performs an auto step. Wait and human steps run
     * none (a decision closes them): the workflow ignores theirs, though validateProcess still
     * refuses one its agency does not run.
     */
    activity: z.string().optional(),
    /** The activity that undoes this step's effect, if the case fails before the point of no return. */
    compensation: z.string().optional(),
    /** Past this the step is overdue: the case is flagged and the owing party reminded. */
    deadline: Duration,
    /** Waiting this long in all closes the case as expired (wait and human steps). */
    finalLimit: Duration.optional(),
    /** After this step nothing is undone: failures retry and escalate (ARCHITECTURE.md §2). */
    pointOfNoReturn: z.boolean().default(false),
    /** Runs only when the step named here produced a fact with this name set to true. */
    when: z.object({ step: z.string(), fact: z.string() }).optional(),
    /**
     * What a wait step asks to be paid, in cents: a number in the named step's result, which
     * stays off the ledger (its facts carry no amounts: they would tell anyone the price).
     */
    amountDue: z.object({ step: z.string(), result: z.string() }).optional(),
  })
  .strict();
export type StepDefinition = z.infer<typeof StepDefinition>;

export const ProcessDefinition = z.object({
  name: z.string(),
  steps: z.array(StepDefinition).min(1),
});
export type ProcessDefinition = z.infer<typeof ProcessDefinition>;

export {
  agenciesOf,
  durationMs,
  InvalidProcessError,
  jointTransferProcess,
} from './processGraph.ts';

/** Whether `agency` runs `activity` (viewCuts.ts `VIEW_CUTS`; the orchestrator runs none). */
function runs(agency: Signer, activity: string): boolean {
  return (
    isAgencyActivity(activity) &&
    (VIEW_CUTS[activity].agencies as readonly string[]).includes(agency)
  );
}

/**
 * Checks a graph the workflow can run: unique ids, known agencies, every dependency declared
 * once, a `when` only on a step needed, an activity of its own agency for every auto step and
 * compensation, a decision by its own agency for every step that waits for one, a final limit
 * no shorter than the deadline, no cycle, at most one point of no return, and that one an
 * auto step. @throws InvalidProcessError saying which step is wrong.
 */
export function validateProcess(input: unknown): ProcessDefinition {
  const parsed = ProcessDefinition.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidProcessError(`process: ${issue.path.join('.')}: ${issue.message}`);
  }
  const process = parsed.data;
  const ids = new Set<string>();
  for (const step of process.steps) {
    if (ids.has(step.id)) throw new InvalidProcessError(`step ${step.id} is declared twice`);
    ids.add(step.id);
  }
  for (const step of process.steps) {
    for (const [i, need] of step.needs.entries()) {
      if (!ids.has(need))
        throw new InvalidProcessError(`step ${step.id} needs ${need}, which is not a step`);
      if (step.needs.indexOf(need) !== i)
        throw new InvalidProcessError(`step ${step.id} needs ${need} twice`);
    }
    if (step.when && !ids.has(step.when.step))
      throw new InvalidProcessError(
        `step ${step.id} runs when ${step.when.step}, which is not a step`,
      );
    // The workflow reads the fact once the step's needs are done: any other step's fact
    // might not be there yet, and the step would be skipped for it.
    if (step.when && !step.needs.includes(step.when.step))
      throw new InvalidProcessError(
        `step ${step.id} runs when ${step.when.step} says so, so it must need ${step.when.step}`,
      );
    if (step.amountDue && !step.needs.includes(step.amountDue.step))
      throw new InvalidProcessError(
        `step ${step.id} asks for an amount from ${step.amountDue.step}, so it must need ${step.amountDue.step}`,
      );
    if (step.kind !== 'auto' && allowedOutcomes(step.id).length === 0)
      throw new InvalidProcessError(
        `${step.kind} step ${step.id} waits for a decision no one can make: no outcomes are defined for it`,
      );
    // The workflow runs an auto step as `activity` on its agency's queue, with the view
    // viewFor cuts for that agency (so the orchestrator, which has no queue, runs none).
    if (step.kind === 'auto' && !step.activity)
      throw new InvalidProcessError(`auto step ${step.id} names no activity`);
    for (const [role, activity] of [
      ['activity', step.activity],
      ['compensation', step.compensation],
    ] as const)
      if (activity !== undefined && !runs(step.agency, activity))
        throw new InvalidProcessError(
          `step ${step.id} names ${role} ${activity}, which ${step.agency} does not run`,
        );
    // Only the deciding agency's desk signs a decision on it (decisions.ts decidingAgency):
    // a step of another agency would wait for a decision no desk may sign.
    if (step.kind !== 'auto' && decidingAgency(step.id) !== step.agency)
      throw new InvalidProcessError(
        `${step.kind} step ${step.id} belongs to ${step.agency}, but ${decidingAgency(step.id) ?? 'no agency'} decides it`,
      );
    if (step.finalLimit && durationMs(step.finalLimit) < durationMs(step.deadline))
      throw new InvalidProcessError(
        `step ${step.id} has a final limit of ${step.finalLimit}, shorter than its deadline of ${step.deadline}`,
      );
  }
  if (process.steps.filter((s) => s.pointOfNoReturn).length > 1)
    throw new InvalidProcessError('a process has at most one point of no return');
  // Kahn's algorithm: whatever cannot be ordered sits on a cycle.
  const indegree = new Map(process.steps.map((s) => [s.id, s.needs.length]));
  const ready = process.steps.filter((s) => s.needs.length === 0).map((s) => s.id);
  let ordered = 0;
  while (ready.length > 0) {
    const id = ready.pop()!;
    ordered++;
    for (const step of process.steps) {
      if (!step.needs.includes(id)) continue;
      const left = indegree.get(step.id)! - 1;
      indegree.set(step.id, left);
      if (left === 0) ready.push(step.id);
    }
  }
  if (ordered !== process.steps.length) {
    // What is left is the cycles and the steps after them; peel off those that no step left
    // needs, so the message names only the steps on a cycle.
    const left = new Set([...indegree].filter(([, n]) => n > 0).map(([id]) => id));
    for (let peeled = true; peeled;) {
      peeled = false;
      for (const id of left) {
        const needed = process.steps.some((s) => left.has(s.id) && s.needs.includes(id));
        if (!needed) peeled = left.delete(id);
      }
    }
    throw new InvalidProcessError(`steps ${[...left].join(', ')} depend on each other in a cycle`);
  }
  const pointOfNoReturn = process.steps.find((s) => s.pointOfNoReturn);
  if (pointOfNoReturn) {
    // The workflow passes the point of no return when its activity succeeds (runAuto in
    // workflows/jointTransferCase.ts; registerTransfer in ARCHITECTURE.md §2): a wait or human
    // step there would never be passed, and the case would still undo what came before it.
    if (pointOfNoReturn.kind !== 'auto')
      throw new InvalidProcessError(
        `the point of no return ${pointOfNoReturn.id} must be an auto step with an activity, not a ${pointOfNoReturn.kind} step`,
      );
    const byId = new Map(process.steps.map((s) => [s.id, s]));
    /** The steps `id` needs, directly or through others. */
    const before = (id: string, seen = new Set<string>()): Set<string> => {
      for (const need of byId.get(id)!.needs) if (!seen.has(need)) before(need, seen.add(need));
      return seen;
    };
    const settledBefore = before(pointOfNoReturn.id);
    for (const s of process.steps) {
      // The workflow undoes nothing after the point of no return (ARCHITECTURE.md §2), so a
      // compensation there would never run. (The point of no return's own runs when that step
      // itself refuses: it may have acted.)
      const after = before(s.id).has(pointOfNoReturn.id);
      if (after && s.compensation)
        throw new InvalidProcessError(
          `step ${s.id} names compensation ${s.compensation}, which never runs: nothing is undone after the point of no return ${pointOfNoReturn.id}`,
        );
      // A decision that refuses the case unwinds it, compensations and all: one landing after
      // the point of no return would undo a transfer already made. So the point of no return
      // waits for every step whose decision may refuse.
      const refuses =
        s.kind !== 'auto' && allowedOutcomes(s.id).some((o) => REFUSING_OUTCOMES.includes(o));
      if (refuses && !settledBefore.has(s.id))
        throw new InvalidProcessError(
          `step ${s.id} may refuse the case, so the point of no return ${pointOfNoReturn.id} must need it`,
        );
    }
  }
  return process;
}
