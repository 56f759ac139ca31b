// A process as data (ARCHITECTURE.md §2): the schema of a step graph and its validation. The
// joint transfer's graph is in processGraph.ts; the workflow interprets it, so adding an
// agency or a utility is configuration, not new workflow code.
import { z } from 'zod';
import { Signer } from './agency.ts';
import { allowedOutcomes, REFUSING_OUTCOMES } from './outcomes.ts';
import { InvalidProcessError } from './processGraph.ts';

/** auto: an agency activity; wait: the citizen must act (pay); human: an officer decides. */
export const StepKind = z.enum(['auto', 'wait', 'human']);
export type StepKind = z.infer<typeof StepKind>;

const Duration = z
  .string()
  .regex(/^\d+ (ms|seconds?|minutes?|hours?|days?)$/, 'must be like "30 seconds" or "2 days"');

export const StepDefinition = z
  .object({
    id: z.string().regex(/^[a-zA-Z][a-zA-Z0-9.-]{0,63}$/),
    agency: Signer,
    needs: z.array(z.string()),
    kind: StepKind,
    /** The activity on `agency.<id>` that performs an auto step, or opens a wait/human step. */
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

/**
 * Checks a graph: unique ids, known agencies, every dependency declared once, a `when` only on
 * a step needed, a decision for every step that waits for one, no cycle, at most one point of
 * no return. @throws InvalidProcessError saying which step is wrong.
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
    if (step.kind === 'auto' && !step.activity && step.agency !== 'orchestrator') {
      throw new InvalidProcessError(`auto step ${step.id} names no activity`);
    }
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
