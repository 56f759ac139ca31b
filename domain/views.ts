import { z } from 'zod';
import type { CaseApplication } from './application.ts';

// Each agency receives only the fields its step needs (ARCHITECTURE.md §2, data
// minimisation): one schema per agency view, and a function that cuts the view out.

const StepCall = z.object({
  caseId: z.string(),
  stepId: z.string(),
  /** The case's commitment salt, base64; it never reaches the ledger. */
  salt: z.string(),
});

export const TitleCheckInput = StepCall.extend({
  view: z.object({ unitId: z.string(), sellerIdNumber: z.string() }).strict(),
});
export type TitleCheckInput = z.infer<typeof TitleCheckInput>;

/** Utilities never see price, tax or ID numbers: only where the meter is. */
export const UtilityPrecheckInput = StepCall.extend({
  view: z.object({ unitId: z.string(), address: z.string() }).strict(),
});
export type UtilityPrecheckInput = z.infer<typeof UtilityPrecheckInput>;

export function titleView(application: CaseApplication): TitleCheckInput['view'] {
  return { unitId: application.unitId, sellerIdNumber: application.seller.idNumber };
}

export function utilityView(application: CaseApplication): UtilityPrecheckInput['view'] {
  return { unitId: application.unitId, address: application.address };
}
