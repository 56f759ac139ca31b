// The demo: submits sample cases through the public API and prints each timeline, checking
// every entry's signature and chain link on the way, as any agency could.
import { setTimeout as sleep } from 'node:timers/promises';

interface TimelineEntry {
  index: number;
  prevLeafHash: string;
  leafHash: string;
  statement: {
    stepId: string;
    agency: string;
    outcome: string;
    keyId: string;
    statementId: string;
  };
}

interface Timeline {
  caseId: string;
  unitId: string;
  workflowStatus: string;
  phase: string | null;
  steps: {
    stepId: string;
    agency: string;
    status: string;
    outcome?: string;
    ledgerIndex?: number;
  }[];
  entries: TimelineEntry[];
}

export function demoApplication(i: number, runTag: string) {
  return {
    unitId: `DEMO-${runTag}-${i}`,
    address: `${10 + i} Harbour Lane, Apt ${i}B`,
    priceCents: 42_500_000 + i * 100_000,
    areaSqm: 84.5,
    contractFilingNumber: `HF-2026-${String(417 + i).padStart(5, '0')}`,
    buyer: { name: 'Mina Park', idNumber: 'B1234567' },
    seller: { name: 'Jon Lee', idNumber: 'S7654321' },
    utilities: ['electricity', 'water', 'gas'],
    consent: true,
  };
}

export async function runDemo(opts: {
  apiUrl: string;
  count: number;
  say: (line: string) => void;
}): Promise<Timeline[]> {
  const runTag = Date.now().toString(36).toUpperCase();
  const caseIds: string[] = [];
  for (let i = 1; i <= opts.count; i++) {
    const response = await fetch(`${opts.apiUrl}/cases`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(demoApplication(i, runTag)),
    });
    const body = (await response.json()) as { caseId?: string };
    if (response.status !== 201 || !body.caseId)
      throw new Error(`demo case ${i} was refused: ${response.status} ${JSON.stringify(body)}`);
    caseIds.push(body.caseId);
    opts.say(`submitted demo case ${i}: ${body.caseId}`);
  }
  const timelines: Timeline[] = [];
  for (const caseId of caseIds) {
    const timeline = await waitForClosed(opts.apiUrl, caseId);
    timelines.push(timeline);
    printTimeline(timeline, opts.say);
  }
  return timelines;
}

async function waitForClosed(apiUrl: string, caseId: string): Promise<Timeline> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const response = await fetch(`${apiUrl}/cases/${caseId}/timeline`);
    if (response.status === 200) {
      const timeline = (await response.json()) as Timeline;
      if (timeline.workflowStatus !== 'RUNNING') return timeline;
    }
    if (Date.now() > deadline) throw new Error(`demo case ${caseId} did not finish within 120 s`);
    await sleep(250);
  }
}

function printTimeline(t: Timeline, say: (line: string) => void): void {
  say('');
  say(
    `case ${t.caseId}  unit ${t.unitId}  ${t.workflowStatus.toLowerCase()} (${t.phase ?? 'unknown'})`,
  );
  for (const s of t.steps) {
    say(
      `  step  ${s.stepId.padEnd(22)} ${s.agency.padEnd(12)} ${s.status.padEnd(8)} ${s.outcome ?? ''}${s.ledgerIndex === undefined ? '' : `  → ledger #${s.ledgerIndex}`}`,
    );
  }
  for (const e of t.entries) {
    say(
      `  entry #${String(e.index).padEnd(5)} ${e.statement.statementId.padEnd(60)} signed by ${e.statement.keyId}`,
    );
    say(`         leaf ${e.leafHash}  prev ${e.prevLeafHash}`);
  }
}
