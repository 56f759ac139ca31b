// Timeouts and retry policies of a case's activities. Shared with the cases benchmark's
// baseline (bench/baselineWorkflows.ts), which gives every agency step AGENCY_STEP_OPTIONS: on
// the clean cases it runs no step fails, so how long a failing one is retried does not show.
import { NON_RETRYABLE_LEDGER_ERRORS } from '../domain/errors.ts';

/** An agency step: retried with backoff, then reported to the workflow. */
export const AGENCY_STEP_OPTIONS = {
  // Agency systems answer in seconds; a worker that died mid-step is retried elsewhere
  // after this long.
  startToCloseTimeout: '10s',
  // A task that no worker takes is never attempted, so its attempts never run out: with the
  // agency's workers down, the step would wait for them with nobody told (no deadline watches
  // a compensation, nor, in a case started before jointTransferCase-v11, a supervisor's retry
  // of a step past its deadline). After this long it fails to the workflow, which escalates it.
  scheduleToCloseTimeout: '15m',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '10s',
    maximumAttempts: 4,
  },
} as const;

/**
 * An agency step before the point of no return, whose failure undoes the whole case
 * (ARCHITECTURE.md §2): the citizen would have to apply again, with a new contract filing.
 * An agency's system down for minutes (a restart, a maintenance window) must not cost that,
 * so such a step is retried for a quarter of an hour before it counts as failed; a step from
 * the registration on fails sooner, to a supervisor, who can retry it (AGENCY_STEP_OPTIONS).
 */
export const BEFORE_REGISTRATION_STEP_OPTIONS = {
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '15m',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '1m',
  },
} as const;

/**
 * A person's request carried to an agency's worker while they wait on the page (a decision
 * to sign, workflows/agencyDecision.ts; an inspection to record, workflows/safetyInspection.ts):
 * a few quick retries, then the API says so. Each adds the failure type its agency refuses with.
 */
export const PERSON_WAITING_OPTIONS = {
  startToCloseTimeout: '10 seconds',
  scheduleToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
} as const;

/** The orchestrator's own steps: retried until they succeed, except a statement the ledger refuses. */
export const ORCHESTRATOR_STEP_OPTIONS = {
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    nonRetryableErrorTypes: NON_RETRYABLE_LEDGER_ERRORS,
  },
} as const;
