// The agencies of ../shared/ARCHITECTURE.md §2 and their task queues, as plain constants:
// agency.ts builds its schemas from them. Free of zod, because the workflow imports it and
// the workflow sandbox evaluates the modules it imports anew for every case.

/** Each agency runs its own worker and key. */
export const AGENCIES = ['housing', 'tax', 'registry', 'electricity', 'water', 'gas'] as const;
export type Agency = (typeof AGENCIES)[number];

export const UTILITIES = ['electricity', 'water', 'gas'] as const satisfies readonly Agency[];
export type Utility = (typeof UTILITIES)[number];

/** Who may sign statements: the agencies and the orchestrator itself (intake, close). */
export type Signer = Agency | 'orchestrator';

/** Temporal task queue of an agency's worker (ARCHITECTURE.md §4). */
export function agencyTaskQueue(agency: Agency): string {
  return `agency.${agency}`;
}

export const ORCHESTRATOR_TASK_QUEUE = 'onewindow.orchestrator';
