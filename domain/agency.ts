import { z } from 'zod';
import { AGENCIES, UTILITIES } from './agencyIds.ts';

export { agencyTaskQueue, ORCHESTRATOR_TASK_QUEUE } from './agencyIds.ts';

/** The agencies of ../shared/ARCHITECTURE.md §2; each runs its own worker and key. */
export const Agency = z.enum(AGENCIES);
export type Agency = z.infer<typeof Agency>;

export const Utility = z.enum(UTILITIES);
export type Utility = z.infer<typeof Utility>;

/** Who may sign statements: the agencies and the orchestrator itself (intake, close). */
export const Signer = z.union([Agency, z.literal('orchestrator')]);
export type Signer = z.infer<typeof Signer>;
