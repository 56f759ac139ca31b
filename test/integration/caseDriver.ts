// Drives a case through the public API as the citizen and the agencies' systems would:
// submit, wait for a step to open, send an agency's signed decision.
import type { SignedStatement } from '../../domain/statement.ts';
import type { SigningKey } from '../../ledger/keys.ts';
import { signDecision } from '../../activities/sign.ts';
import { decidingAgency, type DecisionOpening } from '../../domain/decisions.ts';
import type { Agency } from '../../domain/agency.ts';
import { writeFileSync } from 'node:fs';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { Stack, Timeline } from './stack.ts';

/** What the drivers need of a stack: the API and its callers' credentials. */
export type Caller = Pick<Stack, 'app' | 'citizen' | 'supervisor' | 'officer'>;
/** And the agencies' keys, to sign as their systems do. */
export type Agencies = Caller & Pick<Stack, 'keys'>;

/** Applies as the stack's citizen. */
export async function submit(stack: Caller, application: Record<string, unknown>): Promise<string> {
  const response = await stack.app.inject({
    method: 'POST',
    url: '/cases',
    headers: stack.citizen,
    payload: application,
  });
  if (response.statusCode !== 201)
    throw new Error(`submission refused: ${response.statusCode} ${response.body}`);
  return response.json<{ caseId: string }>().caseId;
}

/**
 * The case as its applicant, the stack's citizen, tracks it (GET /cases/:caseId: not an
 * audited read), whole. A case the stack's citizen did not apply for (started directly, or
 * another citizen's) as a supervisor tracks it: its progress alone, without reasons or amounts.
 */
export async function timeline(stack: Caller, caseId: string): Promise<Timeline> {
  const read = (headers: Caller['citizen']) =>
    stack.app.inject({ method: 'GET', url: `/cases/${caseId}`, headers });
  let response = await read(stack.citizen);
  if (response.statusCode === 404) response = await read(stack.supervisor);
  if (response.statusCode !== 200)
    throw new Error(`timeline: ${response.statusCode} ${response.body}`);
  return response.json<Timeline>();
}

/** Polls until `predicate` holds for the timeline, or fails with the last timeline seen. */
export async function waitUntil(
  stack: Caller,
  caseId: string,
  predicate: (t: Timeline) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<Timeline> {
  const deadline = Date.now() + timeoutMs;
  let last: Timeline | undefined;
  for (;;) {
    last = await timeline(stack, caseId).catch(() => last);
    if (last && predicate(last)) return last;
    // A closed case will not change any more: say so at once instead of waiting out the timeout.
    const closed = last !== undefined && last.workflowStatus !== 'RUNNING';
    if (closed || Date.now() > deadline) {
      throw new Error(
        `case ${caseId}: ${what} did not happen ${closed ? `before the case closed (${last?.phase}: ${last?.reason})` : `within ${timeoutMs} ms`}; steps: ${JSON.stringify(last?.steps.map((s) => [s.stepId, s.status, s.outcome]))}`,
      );
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

export function stepStatus(t: Timeline, stepId: string): string | undefined {
  return t.steps.find((s) => s.stepId === stepId)?.status;
}

export const waitForStep = (
  stack: Caller,
  caseId: string,
  stepId: string,
  status: string,
  timeoutMs?: number,
) =>
  waitUntil(
    stack,
    caseId,
    (t) => stepStatus(t, stepId) === status,
    `step ${stepId} ${status}`,
    timeoutMs,
  );

export const waitForClosed = (stack: Caller, caseId: string, timeoutMs?: number) =>
  waitUntil(stack, caseId, (t) => t.workflowStatus !== 'RUNNING', 'closing', timeoutMs);

/** A decision as the agency's own system signs it (decided by `system`, with no reason). */
export function signedDecision(
  key: SigningKey,
  agency: string,
  caseId: string,
  stepId: string,
  outcome: string,
): SignedStatement {
  return signDecision({
    key,
    agency: agency as SignedStatement['statement']['agency'],
    caseId,
    stepId,
    outcome,
    decidedBy: 'system',
  }).signed;
}

/**
 * Sends a decision the agency's own system signed, with the opening of its commitment if
 * given, signed in as the officer of the agency that decides the step (so a decision signed
 * by another agency's key reaches the case, which must refuse it).
 */
export async function decide(
  stack: Caller,
  caseId: string,
  stepId: string,
  signed: SignedStatement,
  opening?: DecisionOpening,
) {
  const agency = decidingAgency(stepId) ?? (signed.statement.agency as Agency);
  return stack.app.inject({
    method: 'POST',
    url: `/cases/${caseId}/decisions`,
    headers: stack.officer[agency],
    payload: { stepId, signed, ...(opening ? { opening } : {}) },
  });
}

/** The tax bureau confirms the payment (its facts carry no amount: the log is public). */
export const pay = (stack: Agencies, caseId: string) =>
  decide(
    stack,
    caseId,
    'confirmPayment',
    signedDecision(stack.keys.tax!, 'tax', caseId, 'confirmPayment', 'paid'),
  );

/** The registry's officer approves the review. */
export const approve = (stack: Agencies, caseId: string) =>
  decide(
    stack,
    caseId,
    'review',
    signedDecision(stack.keys.registry!, 'registry', caseId, 'review', 'approved'),
  );

/** A supervisor's action on an escalation of the case. */
export const supervise = (
  stack: Caller,
  caseId: string,
  stepId: string,
  action: 'retry' | 'resolve',
  reason: string,
) =>
  stack.app.inject({
    method: 'POST',
    url: `/cases/${caseId}/escalations`,
    headers: stack.supervisor,
    payload: { stepId, action, reason },
  });

/**
 * With ONEWINDOW_RECORD_HISTORIES=1, writes the closed case's history to test/histories, which
 * the replay test runs against the current workflow code (TEMPORAL-NOTES: patched()).
 */
export async function recordHistory(
  stack: Caller & Pick<Stack, 'client'>,
  name: string,
  caseId: string,
): Promise<void> {
  if (!process.env.ONEWINDOW_RECORD_HISTORIES) return;
  const t = await waitForClosed(stack, caseId);
  const history = await stack.client.workflow.getHandle(`case:${t.unitId}`).fetchHistory();
  writeFileSync(new URL(`../histories/${name}.json`, import.meta.url), historyToJSON(history));
}
