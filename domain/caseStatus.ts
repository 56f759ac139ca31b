import { z } from 'zod';
import { Signer } from './agency.ts';

export const StepStatus = z.enum(['pending', 'running', 'signed', 'done', 'failed']);
export type StepStatus = z.infer<typeof StepStatus>;

export const StepState = z.object({
  stepId: z.string(),
  agency: Signer,
  status: StepStatus,
  outcome: z.string().optional(),
  statementId: z.string().optional(),
  ledgerIndex: z.number().int().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  error: z.string().optional(),
});
export type StepState = z.infer<typeof StepState>;

export const CasePhase = z.enum(['running', 'completed', 'failed']);
export type CasePhase = z.infer<typeof CasePhase>;

/** What the workflow's status query returns: no personal data, only steps and outcomes. */
export const CaseStatus = z.object({
  caseId: z.string(),
  unitId: z.string(),
  phase: CasePhase,
  steps: z.array(StepState),
});
export type CaseStatus = z.infer<typeof CaseStatus>;
