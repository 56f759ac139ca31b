// The agency's desk: where a person's decision on an open step (an officer's review, a
// citizen's payment) is checked and signed with the agency's key, on the agency's own worker.
// The API forwards the request (workflow `agencyDecision`); it never holds an agency key.
import { ApplicationFailure } from '@temporalio/activity';
import { UTILITIES, type Agency } from '../domain/agencyIds.ts';
import {
  allowedOutcomes,
  decidingAgency,
  DeskRequest,
  type Decision,
} from '../domain/decisions.ts';
import { roleDecides, type DecidingRole } from '../domain/outcomes.ts';
import { jointTransferProcess } from '../domain/processGraph.ts';
import { CaseId, StepId } from '../domain/statement.ts';
import type { SigningKey } from '../ledger/keys.ts';
import { signDecision } from './sign.ts';

/** Who may decide at the desk: the people among the deciding roles. */
const DESK_ROLES: readonly DecidingRole[] = ['citizen', 'officer'];

/** The failure type of a desk request this agency can never sign (never retried). */
export const DECISION_REFUSED = 'DecisionRefused';

/** A desk request whose case and step ids are ids as the statement takes them. */
const DeskInput = DeskRequest.extend({ caseId: CaseId, stepId: StepId });

export function createDeskActivities(deps: { agency: Agency; key: SigningKey; now?: () => Date }) {
  // The steps a person decides at this desk (decidingAgency: exactly their ids in the
  // process), for the refusal to name.
  const decides = jointTransferProcess(UTILITIES)
    .steps.map((def) => def.id)
    .filter((id) => decidingAgency(id) === deps.agency);
  return {
    /** Checks that this agency decides the step with this outcome, then signs the decision. */
    decideStep(input: DeskRequest): Promise<Decision> {
      const parsed = DeskInput.safeParse(input);
      if (!parsed.success)
        throw ApplicationFailure.nonRetryable(
          `decideStep: invalid input: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
          DECISION_REFUSED,
        );
      const request = parsed.data;
      // The key signs the step id it is given, and the ledger checks only that the key is the
      // agency's: exactly the ids of the steps it decides, not any text that starts like one.
      if (request.agency !== deps.agency)
        throw ApplicationFailure.nonRetryable(
          `agency: this is ${deps.agency}'s desk, not ${request.agency}'s`,
          DECISION_REFUSED,
        );
      if (decidingAgency(request.stepId) !== deps.agency)
        throw ApplicationFailure.nonRetryable(
          `stepId: ${deps.agency} does not decide step ${request.stepId} (only ${decides.join(', ')})`,
          DECISION_REFUSED,
        );
      if (!allowedOutcomes(request.stepId).includes(request.outcome))
        throw ApplicationFailure.nonRetryable(
          `${request.stepId} takes ${allowedOutcomes(request.stepId).join(' or ')}, not ${request.outcome}`,
          DECISION_REFUSED,
        );
      // Who decided is the agency's own record; the ledger gets the role only. The reason,
      // which may name people, is committed to and travels in the opening, off the ledger.
      // People only: `system` is an agency's own system, which signs for itself.
      const [role, officerOf] = request.actor.split(':') as [DecidingRole, string | undefined];
      if (!DESK_ROLES.includes(role))
        throw ApplicationFailure.nonRetryable(
          `${request.actor} may not decide a step: only ${DESK_ROLES.join(', ')} do`,
          DECISION_REFUSED,
        );
      // An officer (`officer:<agency>:<id>`) decides for their own agency only: another
      // agency's officer approving a review would be signed with this agency's key.
      if (role === 'officer' && officerOf !== deps.agency)
        throw ApplicationFailure.nonRetryable(
          `actor: ${request.actor} is not an officer of ${deps.agency}`,
          DECISION_REFUSED,
        );
      // An officer reviews, a citizen pays: the API's routes see to it, and so does this, so
      // the agency's key never signs a review a citizen "approved".
      if (!roleDecides(role, request.stepId))
        throw ApplicationFailure.nonRetryable(
          `a ${role} does not decide ${request.stepId}`,
          DECISION_REFUSED,
        );
      const { signed, opening } = signDecision({
        key: deps.key,
        agency: deps.agency,
        caseId: request.caseId,
        stepId: request.stepId,
        outcome: request.outcome,
        decidedBy: role,
        reason: request.reason,
        ...(deps.now ? { now: deps.now } : {}),
      });
      return Promise.resolve({ stepId: request.stepId, signed, opening });
    },
  };
}

export type DeskActivities = ReturnType<typeof createDeskActivities>;
