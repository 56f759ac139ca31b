import { z } from 'zod';

/** The agencies of ../shared/ARCHITECTURE.md §2; each runs its own worker and key. */
export const Agency = z.enum(['housing', 'tax', 'registry', 'electricity', 'water', 'gas']);
export type Agency = z.infer<typeof Agency>;

export const Utility = z.enum(['electricity', 'water', 'gas']);
export type Utility = z.infer<typeof Utility>;

/** Who may sign statements: the agencies and the orchestrator itself (intake, close). */
export const Signer = z.union([Agency, z.literal('orchestrator')]);
export type Signer = z.infer<typeof Signer>;

/** Temporal task queue of an agency's worker (ARCHITECTURE.md §4). */
export function agencyTaskQueue(agency: Agency): string {
  return `agency.${agency}`;
}

export const ORCHESTRATOR_TASK_QUEUE = 'onewindow.orchestrator';
