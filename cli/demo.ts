// The demo: a citizen submits a mix of sample cases through the public API; then the people
// act through the same routes as the pages — the citizen pays the tax and settles arrears,
// the registry officer approves, a supervisor resolves an escalation — and each agency's own
// worker signs its decision with the agency's key. It prints every outcome.
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { caseWorkflowId } from '../domain/application.ts';

interface TimelineEntry {
  index: number;
  leafHash: string;
  statement: {
    stepId: string;
    agency: string;
    outcome: string;
    keyId: string;
    facts: Record<string, unknown>;
  };
}

interface Timeline {
  caseId: string;
  unitId: string;
  workflowStatus: string;
  phase: string | null;
  reason: string | null;
  overdue: boolean;
  steps: {
    stepId: string;
    agency: string;
    status: string;
    outcome?: string;
    ledgerIndex?: number;
    /** Whether the step missed its deadline (the case's own flag clears once none is overdue). */
    overdue?: boolean;
  }[];
  records: { stepId: string; outcome: string; ledgerIndex: number }[];
  escalations: { stepId: string; resolved: boolean }[];
  entries: TimelineEntry[];
}

/** The scenarios the demo walks through; each fixture unit is described in agencies/README.md. */
export const DEMO_SCENARIOS = [
  {
    title: 'a clean sale with all three utilities',
    unitId: undefined,
    utilities: ['electricity', 'water', 'gas'],
  },
  { title: 'a unit under court seizure', unitId: 'U-SEIZED-1', utilities: ['electricity'] },
  {
    title: 'water arrears the buyer settles first',
    unitId: 'U-WATER-ARREARS-1',
    utilities: ['water'],
  },
  {
    title: 'a seizure that appears after the title check',
    unitId: 'U-SEIZED-LATER-1',
    utilities: [],
  },
  {
    title: 'a gas transfer held for its safety inspection, then retried by a supervisor',
    unitId: 'U-GAS-INSPECTION-1',
    utilities: ['gas'],
  },
] as const;

/**
 * Ends the open cases of the demo's fixture units (of the first `count` scenarios) that an earlier demo, stopped before they
 * closed, left in the data directory's Temporal: each unit takes one open case, so the next
 * demo's application for it was refused, every time. The simulated agency systems those cases
 * talked to kept their state in memory, gone with that run, so there is nothing to undo there.
 * Returns the workflow ids it ended.
 */
export async function endLeftoverDemoCases(
  temporal: Client,
  count: number,
  say: (line: string) => void,
): Promise<string[]> {
  const ended: string[] = [];
  // Only the units a demo of `count` cases applies for.
  for (const { unitId } of DEMO_SCENARIOS.slice(0, count)) {
    if (!unitId) continue;
    const handle = temporal.workflow.getHandle(caseWorkflowId(unitId));
    try {
      if ((await handle.describe()).status.name !== 'RUNNING') continue;
      await handle.terminate(
        'left open by an earlier demo that was stopped; the demo applies again',
      );
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) continue;
      throw error;
    }
    ended.push(handle.workflowId);
    say(`ended the open case of ${unitId}, left by an earlier demo that was stopped`);
  }
  return ended;
}

export function demoApplication(i: number, runTag: string) {
  const scenario = DEMO_SCENARIOS[(i - 1) % DEMO_SCENARIOS.length]!;
  // Fixture units appear once per demo; further cases are clean sales of their own units.
  const unitId =
    i <= DEMO_SCENARIOS.length && scenario.unitId ? scenario.unitId : `DEMO-${runTag}-${i}`;
  return {
    title: i <= DEMO_SCENARIOS.length ? scenario.title : DEMO_SCENARIOS[0].title,
    application: {
      unitId,
      address: `${10 + i} Harbour Lane, Apt ${i}B`,
      priceCents: 42_500_000 + i * 100_000,
      areaSqm: 84.5,
      contractFilingNumber: `HF-${runTag}-${i}`,
      buyer: { name: 'Mina Park', idNumber: 'B1234567' },
      seller: { name: 'Jon Lee', idNumber: 'S7654321' },
      utilities:
        i <= DEMO_SCENARIOS.length ? [...scenario.utilities] : ['electricity', 'water', 'gas'],
      consent: true,
    },
  };
}

/** Bearer tokens of the demo's people: the applicant, a registry and a gas officer, a supervisor. */
export interface DemoTokens {
  citizen: string;
  registryOfficer: string;
  gasOfficer: string;
  supervisor: string;
}

async function call(
  url: string,
  token: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<unknown> {
  const response = await fetch(url, {
    ...(signal ? { signal } : {}),
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (response.status >= 400)
    throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response.json();
}

/**
 * Plays the people on one case until it closes, through the same routes the pages use: the
 * citizen pays (the tax bureau's and utilities' payment systems sign the confirmation), the
 * registry officer approves (the registry's worker signs it), the gas officer records a passed
 * safety inspection and a supervisor retries the held holder change; another escalation a
 * supervisor resolves by hand.
 */
async function drive(
  apiUrl: string,
  caseId: string,
  tokens: DemoTokens,
  signal?: AbortSignal,
): Promise<Timeline> {
  const acted = new Set<string>();
  const deadline = Date.now() + 180_000;
  for (;;) {
    const t = (await call(
      `${apiUrl}/cases/${caseId}`,
      tokens.citizen,
      undefined,
      signal,
    )) as Timeline;
    if (t.workflowStatus !== 'RUNNING') return t;
    if (Date.now() > deadline) throw new Error(`demo case ${caseId} did not finish within 180 s`);
    for (const step of t.steps ?? []) {
      // A step escalated again (a retry that failed) is acted on again.
      const times = (t.escalations ?? []).filter((e) => e.stepId === step.stepId).length;
      const key = `${step.stepId}:${step.status}:${times}`;
      if (acted.has(key)) continue;
      if (
        step.status === 'waiting' &&
        (step.stepId === 'confirmPayment' || step.stepId.startsWith('settleArrears.'))
      ) {
        await call(
          `${apiUrl}/cases/${caseId}/payments`,
          tokens.citizen,
          { stepId: step.stepId },
          signal,
        );
      } else if (step.status === 'waiting' && step.stepId === 'review') {
        await call(
          `${apiUrl}/cases/${caseId}/decisions`,
          tokens.registryOfficer,
          { stepId: step.stepId, outcome: 'approved', reason: 'title clear, duties paid' },
          signal,
        );
      } else if (step.status === 'escalated' && step.stepId === 'transferAccount.gas') {
        // The gas company's officer records the passed inspection; the supervisor's retry of
        // the held holder change then succeeds, the company's own signed answer.
        await call(
          `${apiUrl}/cases/${caseId}/inspections`,
          tokens.gasOfficer,
          { unitId: t.unitId, outcome: 'passed' },
          signal,
        );
        await call(
          `${apiUrl}/cases/${caseId}/escalations`,
          tokens.supervisor,
          {
            stepId: step.stepId,
            action: 'retry',
            reason: 'the gas company recorded a passed safety inspection',
          },
          signal,
        );
      } else if (step.status === 'escalated') {
        await call(
          `${apiUrl}/cases/${caseId}/escalations`,
          tokens.supervisor,
          { stepId: step.stepId, action: 'resolve', reason: 'settled on site; recorded by hand' },
          signal,
        );
      } else continue;
      acted.add(key);
    }
    await sleep(250, undefined, signal ? { signal } : {});
  }
}

export async function runDemo(opts: {
  apiUrl: string;
  count: number;
  tokens: DemoTokens;
  say: (line: string) => void;
  /** Stops the demo: its requests are aborted, and it rejects. */
  signal?: AbortSignal;
}): Promise<Timeline[]> {
  const runTag = Date.now().toString(36).toUpperCase();
  const cases: { caseId: string; title: string }[] = [];
  for (let i = 1; i <= opts.count; i++) {
    const { title, application } = demoApplication(i, runTag);
    const response = await fetch(`${opts.apiUrl}/cases`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${opts.tokens.citizen}`,
      },
      body: JSON.stringify(application),
    });
    const body = (await response.json()) as { caseId?: string };
    if (response.status !== 201 || !body.caseId)
      throw new Error(`demo case ${i} was refused: ${response.status} ${JSON.stringify(body)}`);
    cases.push({ caseId: body.caseId, title });
    opts.say(`submitted demo case ${i} (${title}): ${body.caseId}`);
  }
  const timelines = await Promise.all(
    cases.map((c) => drive(opts.apiUrl, c.caseId, opts.tokens, opts.signal)),
  );
  timelines.forEach((t, i) => printTimeline(t, cases[i]!.title, opts.say));
  const first = cases[0];
  if (first) {
    // A supervisor reads the first case's personal data; the citizen sees that read, signed.
    const purpose = 'demo: checking the first case end to end';
    await call(
      `${opts.apiUrl}/cases/${first.caseId}/timeline?purpose=${encodeURIComponent(purpose)}`,
      opts.tokens.supervisor,
    );
    const { accesses } = (await call(
      `${opts.apiUrl}/cases/${first.caseId}/access-log`,
      opts.tokens.citizen,
    )) as {
      accesses: {
        at: string;
        actor: string;
        fields: string[];
        purpose: string;
        ledgerIndex: number;
      }[];
    };
    opts.say('');
    opts.say(`who accessed the personal data of case ${first.caseId} (as its citizen sees it):`);
    for (const a of accesses)
      opts.say(
        `  ${a.at}  ${a.actor} read ${a.fields.join(', ')} — "${a.purpose}" → ledger #${a.ledgerIndex}`,
      );
  }
  return timelines;
}

function printTimeline(t: Timeline, title: string, say: (line: string) => void): void {
  say('');
  say(`case ${t.caseId}  unit ${t.unitId}  — ${title}`);
  say(
    `  outcome: ${t.phase ?? t.workflowStatus.toLowerCase()}${t.reason ? ` (${t.reason})` : ''}${t.steps.some((s) => s.overdue) ? ', was overdue' : ''}`,
  );
  for (const s of t.steps) {
    say(
      `  step  ${s.stepId.padEnd(26)} ${s.agency.padEnd(12)} ${s.status.padEnd(11)} ${s.outcome ?? ''}${s.ledgerIndex === undefined ? '' : `  → ledger #${s.ledgerIndex}`}`,
    );
  }
  for (const r of t.records)
    say(`  record ${r.stepId.padEnd(25)} ${r.outcome.padEnd(24)} → ledger #${r.ledgerIndex}`);
  say(
    `  ${t.entries.length} signed ledger entries: ${t.entries.map((e) => `#${e.index} ${e.statement.agency}`).join(', ')}`,
  );
}
