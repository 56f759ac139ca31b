import { z } from 'zod';
import type { Agency } from './agency.ts';
import { VIEW_CUTS } from './viewCuts.ts';
import { Base64Salt, CaseId, StepId } from './statement.ts';

// Each agency receives only the fields its step needs (ARCHITECTURE.md §2, data
// minimisation): one strict schema per activity's view, and one pure function that cuts the
// view out of the application (and of earlier steps' results), in viewCuts.ts. `viewFor` is
// what the workflow calls.
//
// Who sees what:
//   housing  price, filing number, both parties' ID numbers (it holds the filed contract)
//   registry ID numbers and the buyer's name (it records the owner); never the price
//   tax      price, area, both parties' ID numbers; never the address or utility data
//   utility  unit id and address; for a holder change the new holder's name; never price,
//            tax or ID numbers

/**
 * What every agency activity receives besides its view. Strict, as the views are: a field it
 * does not name (the application, another step's results) is refused, not dropped unseen.
 */
export const StepCall = z.strictObject({
  caseId: CaseId,
  stepId: StepId,
  /**
   * This step's commitment salt, base64, derived from the case's (ledger/statement.ts
   * stepSalt): it opens this step's commitments and no other agency's. Never on the ledger.
   */
  // Checked here, before the agency acts: a salt the commitment cannot take failed only when
  // signing, after (say) the registry had recorded the buyer as owner.
  salt: Base64Salt,
  /**
   * Attempt number of a repeated step: the statement id becomes `<caseId>/<stepId>/<n>`. The
   * first attempt has none, so never 0: `<caseId>/<stepId>/0` would be a second statement id
   * for that first answer.
   */
  n: z.number().int().positive().optional(),
});
export type StepCall = z.infer<typeof StepCall>;

const IdNumber = z.string().min(1);
const Cents = z.number().int().nonnegative();

// --- housing (contract filing authority) ---------------------------------------------------

export const ContractView = z
  .object({
    unitId: z.string(),
    contractFilingNumber: z.string(),
    priceCents: Cents,
    buyerIdNumber: IdNumber,
    sellerIdNumber: IdNumber,
  })
  .strict();
export type ContractView = z.infer<typeof ContractView>;

export const CancelFilingView = z
  .object({ unitId: z.string(), contractFilingNumber: z.string() })
  .strict();
export type CancelFilingView = z.infer<typeof CancelFilingView>;

// --- registry (real-estate registration centre) --------------------------------------------

export const TitleView = z.object({ unitId: z.string(), sellerIdNumber: IdNumber }).strict();
export type TitleView = z.infer<typeof TitleView>;

export const TitleLockView = z.object({ unitId: z.string() }).strict();
export type TitleLockView = z.infer<typeof TitleLockView>;

export const TransferView = z
  .object({
    unitId: z.string(),
    sellerIdNumber: IdNumber,
    buyerIdNumber: IdNumber,
    buyerName: z.string().min(1),
  })
  .strict();
export type TransferView = z.infer<typeof TransferView>;

// --- tax ------------------------------------------------------------------------------------

export const AssessTaxView = z
  .object({
    unitId: z.string(),
    priceCents: Cents,
    /** The declared floor area; the tax office prefers the registered area where it has one. */
    areaSqm: z.number().positive(),
    buyerIdNumber: IdNumber,
    sellerIdNumber: IdNumber,
  })
  .strict();
export type AssessTaxView = z.infer<typeof AssessTaxView>;

export const RefundTaxView = z
  .object({ unitId: z.string(), assessmentId: z.string().min(1), amountCents: Cents })
  .strict();
export type RefundTaxView = z.infer<typeof RefundTaxView>;

// --- utilities (electricity, water, gas) ----------------------------------------------------

/** Utilities never see price, tax or ID numbers: only where the meter is. */
export const UtilityView = z.object({ unitId: z.string(), address: z.string() }).strict();
export type UtilityView = z.infer<typeof UtilityView>;

export const AccountTransferView = z
  .object({ unitId: z.string(), address: z.string(), newHolderName: z.string().min(1) })
  .strict();
export type AccountTransferView = z.infer<typeof AccountTransferView>;

// --- activity inputs: { caseId, stepId, salt, view, n? } -------------------------------------

export const VerifyContractInput = StepCall.extend({ view: ContractView });
export type VerifyContractInput = z.infer<typeof VerifyContractInput>;
export const CancelFilingInput = StepCall.extend({ view: CancelFilingView });
export type CancelFilingInput = z.infer<typeof CancelFilingInput>;
export const TitleCheckInput = StepCall.extend({ view: TitleView });
export type TitleCheckInput = z.infer<typeof TitleCheckInput>;
export const ReleaseTitleLockInput = StepCall.extend({ view: TitleLockView });
export type ReleaseTitleLockInput = z.infer<typeof ReleaseTitleLockInput>;
export const RegisterTransferInput = StepCall.extend({ view: TransferView });
export type RegisterTransferInput = z.infer<typeof RegisterTransferInput>;
export const AssessTaxInput = StepCall.extend({ view: AssessTaxView });
export type AssessTaxInput = z.infer<typeof AssessTaxInput>;
export const RefundTaxInput = StepCall.extend({ view: RefundTaxView });
export type RefundTaxInput = z.infer<typeof RefundTaxInput>;
export const UtilityPrecheckInput = StepCall.extend({ view: UtilityView });
export type UtilityPrecheckInput = z.infer<typeof UtilityPrecheckInput>;
export const TransferAccountInput = StepCall.extend({ view: AccountTransferView });
export type TransferAccountInput = z.infer<typeof TransferAccountInput>;

// --- cutting the views -----------------------------------------------------------------------
// The cuts and `viewFor` live in viewCuts.ts, free of zod, because the workflow calls them
// and the workflow sandbox evaluates its modules anew for every case.

export {
  NoViewError,
  viewFor,
  isAgencyActivity,
  contractView,
  cancelFilingView,
  titleView,
  titleLockView,
  transferView,
  assessTaxView,
  refundTaxView,
  utilityView,
  accountTransferView,
  type StepResults,
  type AgencyActivityName,
  type ActivityView,
  type AgencyView,
} from './viewCuts.ts';

/** Every agency activity: who runs it, its input schema, and how its view is cut. */
export const ACTIVITY_VIEWS = {
  verifyContract: { ...VIEW_CUTS.verifyContract, input: VerifyContractInput },
  cancelFiling: { ...VIEW_CUTS.cancelFiling, input: CancelFilingInput },
  checkTitle: { ...VIEW_CUTS.checkTitle, input: TitleCheckInput },
  releaseTitleLock: { ...VIEW_CUTS.releaseTitleLock, input: ReleaseTitleLockInput },
  registerTransfer: { ...VIEW_CUTS.registerTransfer, input: RegisterTransferInput },
  assessTax: { ...VIEW_CUTS.assessTax, input: AssessTaxInput },
  refundTax: { ...VIEW_CUTS.refundTax, input: RefundTaxInput },
  precheck: { ...VIEW_CUTS.precheck, input: UtilityPrecheckInput },
  transferAccount: { ...VIEW_CUTS.transferAccount, input: TransferAccountInput },
} as const satisfies Record<
  keyof typeof VIEW_CUTS,
  { agencies: readonly Agency[]; input: z.ZodType<{ view: unknown }> }
>;
