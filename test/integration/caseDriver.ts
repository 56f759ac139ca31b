// Drives a case through the public API as the citizen and the agencies' systems would:
// submit, wait for a step to open, send an agency's signed decision.
import type { FastifyInstance } from 'fastify';
import type { SignedStatement } from '../../domain/statement.ts';
import type { SigningKey } from '../../ledger/keys.ts';
import { signDecision } from '../../activities/sign.ts';
import type { Timeline } from './stack.ts';

export async function submit(
  app: FastifyInstance,
  application: Record<string, unknown>,
): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/cases', payload: application });
  if (response.statusCode !== 201)
    throw new Error(`submission refused: ${response.statusCode} ${response.body}`);
  return response.json<{ caseId: string }>().caseId;
}

export async function timeline(app: FastifyInstance, caseId: string): Promise<Timeline> {
  const response = await app.inject({ method: 'GET', url: `/cases/${caseId}/timeline` });
  if (response.statusCode !== 200)
    throw new Error(`timeline: ${response.statusCode} ${response.body}`);
  return response.json<Timeline>();
}

/** Polls until `predicate` holds for the timeline, or fails with the last timeline seen. */
export async function waitUntil(
  app: FastifyInstance,
  caseId: string,
  predicate: (t: Timeline) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<Timeline> {
  const deadline = Date.now() + timeoutMs;
  let last: Timeline | undefined;
  for (;;) {
    last = await timeline(app, caseId).catch(() => last);
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
  app: FastifyInstance,
  caseId: string,
  stepId: string,
  status: string,
  timeoutMs?: number,
) =>
  waitUntil(
    app,
    caseId,
    (t) => stepStatus(t, stepId) === status,
    `step ${stepId} ${status}`,
    timeoutMs,
  );

export const waitForClosed = (app: FastifyInstance, caseId: string, timeoutMs?: number) =>
  waitUntil(app, caseId, (t) => t.workflowStatus !== 'RUNNING', 'closing', timeoutMs);

/** A decision as the agency's own system signs it. */
export function signedDecision(
  key: SigningKey,
  agency: string,
  caseId: string,
  stepId: string,
  outcome: string,
  facts: Record<string, string | number | boolean | null> = {},
): SignedStatement {
  return signDecision({
    key,
    agency: agency as SignedStatement['statement']['agency'],
    caseId,
    stepId,
    outcome,
    facts,
  });
}

export async function decide(
  app: FastifyInstance,
  caseId: string,
  stepId: string,
  signed: SignedStatement,
) {
  return app.inject({
    method: 'POST',
    url: `/cases/${caseId}/decisions`,
    payload: { stepId, signed },
  });
}
