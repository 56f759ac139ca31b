// The joint transfer as data (ARCHITECTURE.md §2): which agency does what, after what, by
// when, and how it is undone; process.ts holds the schemas and the validation. Free of zod,
// because the workflow imports it and the workflow sandbox evaluates the modules it imports
// anew for every case.
import type { Agency, Utility } from './agencyIds.ts';
import type { ProcessDefinition, StepDefinition } from './process.ts';

export class InvalidProcessError extends Error {
  override name = 'InvalidProcessError';
}

/** Steps that exist once per chosen utility: `make(u)` for each, in the order given. */
function perUtility(
  utilities: readonly Utility[],
  make: (u: Utility) => StepDefinition,
): StepDefinition[] {
  return utilities.map(make);
}

/**
 * The joint transfer of a second-hand home for the utilities the citizen chose
 * (ARCHITECTURE.md §2). Deadlines are in business terms; tests shorten them by scaling.
 * Not validated here (the workflow calls it for every case): process.test.ts validates it
 * for every choice of utilities.
 */
export function jointTransferProcess(utilities: readonly Utility[]): ProcessDefinition {
  const steps: StepDefinition[] = [
    {
      id: 'verifyContract',
      agency: 'housing',
      needs: [],
      kind: 'auto',
      activity: 'verifyContract',
      compensation: 'cancelFiling',
      deadline: '1 day',
      pointOfNoReturn: false,
    },
    {
      id: 'checkTitle',
      agency: 'registry',
      needs: [],
      kind: 'auto',
      activity: 'checkTitle',
      compensation: 'releaseTitleLock',
      deadline: '1 day',
      pointOfNoReturn: false,
    },
    ...perUtility(utilities, (u) => ({
      id: `precheck.${u}`,
      agency: u,
      needs: [],
      kind: 'auto',
      activity: 'precheck',
      deadline: '1 day',
      pointOfNoReturn: false,
    })),
    {
      id: 'assessTax',
      agency: 'tax',
      needs: ['verifyContract'],
      kind: 'auto',
      activity: 'assessTax',
      deadline: '2 days',
      pointOfNoReturn: false,
    },
    {
      id: 'confirmPayment',
      agency: 'tax',
      needs: ['assessTax'],
      kind: 'wait',
      compensation: 'refundTax',
      amountDue: { step: 'assessTax', result: 'totalCents' },
      deadline: '7 days',
      finalLimit: '30 days',
      pointOfNoReturn: false,
    },
    {
      id: 'review',
      agency: 'registry',
      needs: ['checkTitle', 'confirmPayment'],
      kind: 'human',
      deadline: '3 days',
      finalLimit: '30 days',
      pointOfNoReturn: false,
    },
    {
      id: 'registerTransfer',
      agency: 'registry',
      needs: ['review'],
      kind: 'auto',
      activity: 'registerTransfer',
      deadline: '1 day',
      pointOfNoReturn: true,
    },
    ...perUtility(utilities, (u) => ({
      id: `settleArrears.${u}`,
      agency: u,
      needs: [`precheck.${u}`],
      kind: 'wait' as const,
      when: { step: `precheck.${u}`, fact: 'hasArrears' },
      amountDue: { step: `precheck.${u}`, result: 'arrearsCents' },
      deadline: '7 days',
      finalLimit: '30 days',
      pointOfNoReturn: false,
    })),
    ...perUtility(utilities, (u) => ({
      id: `transferAccount.${u}`,
      agency: u,
      needs: ['registerTransfer', `settleArrears.${u}`],
      kind: 'auto' as const,
      activity: 'transferAccount',
      deadline: '2 days',
      pointOfNoReturn: false,
    })),
  ];
  return { name: 'jointTransfer', steps };
}

/** Agencies that take part in a process (for the search attribute and the workers). */
export function agenciesOf(process: ProcessDefinition): Agency[] {
  return [
    ...new Set(process.steps.map((s) => s.agency).filter((a): a is Agency => a !== 'orchestrator')),
  ].sort();
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

/** Milliseconds of a duration like "7 days". Requires the StepDefinition duration format. */
export function durationMs(text: string): number {
  const match = /^(\d+) (ms|second|minute|hour|day)s?$/.exec(text);
  if (!match) throw new InvalidProcessError(`not a duration: ${JSON.stringify(text)}`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}
