// The agency's desk: where a person's decision on an open step (an officer's review, a
// citizen's payment) is checked and signed with the agency's key, on the agency's own worker.
// The API forwards the request (workflow `agencyDecision`); it never holds an agency key.
import { ApplicationFailure } from '@temporalio/activity';
import type { Agency } from '../domain/agency.ts';
import {
  allowedOutcomes,
  decidingAgency,
  DeskRequest,
  type Decision,
} from '../domain/decisions.ts';
import { roleDecides, type DecidingRole } from '../domain/outcomes.ts';
import type { SigningKey } from '../ledger/keys.ts';
import { signDecision } from './sign.ts';

/** Who may decide at the desk: the people among the deciding roles. */
const DESK_ROLES: readonly DecidingRole[] = ['citizen', 'officer'];

/** The failure type of a desk request this agency can never sign (never retried). */
export const DECISION_REFUSED = 'DecisionRefused';

export function createDeskActivities(deps: { agency: Agency; key: SigningKey; now?: () => Date }) {
  return {
    /** Checks that this agency decides the step with this outcome, then signs the decision. */
    decideStep(input: DeskRequest): Promise<Decision> {
      const parsed = DeskRequest.safeParse(input);
      if (!parsed.success)
        throw ApplicationFailure.nonRetryable(
          `decideStep: invalid input: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`,
          DECISION_REFUSED,
        );
      const request = parsed.data;
      if (request.agency !== deps.agency || decidingAgency(request.stepId) !== deps.agency)
        throw ApplicationFailure.nonRetryable(
          `${deps.agency} does not decide step ${request.stepId}`,
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
      const role = request.actor.split(':')[0] as DecidingRole;
      if (!DESK_ROLES.includes(role))
        throw ApplicationFailure.nonRetryable(
          `${request.actor} may not decide a step: only ${DESK_ROLES.join(', ')} do`,
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
