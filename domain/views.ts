import { z } from 'zod';
import { Utility, type Agency } from './agency.ts';
import type { CaseApplication } from './application.ts';
import { CaseId, StepId } from './statement.ts';

// Each agency receives only the fields its step needs (ARCHITECTURE.md §2, data
// minimisation): one strict schema per activity's view, and one pure function that cuts the
// view out of the application (and of earlier steps' results). `viewFor` is what the workflow
// calls: it runs in the workflow sandbox, so this file imports zod and domain files only.
//
// Who sees what:
//   housing  price, filing number, both parties' ID numbers (it holds the filed contract)
//   registry ID numbers and the buyer's name (it records the owner); never the price
//   tax      price, area, both parties' ID numbers; never the address or utility data
//   utility  unit id and address; for a holder change the new holder's name; never price,
//            tax or ID numbers

/** What every agency activity receives besides its view. */
export const StepCall = z.object({
  caseId: CaseId,
  stepId: StepId,
  /** The case's commitment salt, base64; it never reaches the ledger. */
  salt: z.string(),
  /** Attempt number of a repeated step: the statement id becomes `<caseId>/<stepId>/<n>`. */
  n: z.number().int().nonnegative().optional(),
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

/** Earlier steps' full results, by step id (e.g. `assessTax` for the refund). */
export type StepResults = Readonly<Record<string, unknown>>;

/** The view cannot be cut: an unknown activity, the wrong agency, or a missing earlier result. */
export class NoViewError extends Error {
  override name = 'NoViewError';
}

export function contractView(application: CaseApplication): ContractView {
  return {
    unitId: application.unitId,
    contractFilingNumber: application.contractFilingNumber,
    priceCents: application.priceCents,
    buyerIdNumber: application.buyer.idNumber,
    sellerIdNumber: application.seller.idNumber,
  };
}

export function cancelFilingView(application: CaseApplication): CancelFilingView {
  return { unitId: application.unitId, contractFilingNumber: application.contractFilingNumber };
}

export function titleView(application: CaseApplication): TitleView {
  return { unitId: application.unitId, sellerIdNumber: application.seller.idNumber };
}

export function titleLockView(application: CaseApplication): TitleLockView {
  return { unitId: application.unitId };
}

export function transferView(application: CaseApplication): TransferView {
  return {
    unitId: application.unitId,
    sellerIdNumber: application.seller.idNumber,
    buyerIdNumber: application.buyer.idNumber,
    buyerName: application.buyer.name,
  };
}

export function assessTaxView(application: CaseApplication): AssessTaxView {
  return {
    unitId: application.unitId,
    priceCents: application.priceCents,
    areaSqm: application.areaSqm,
    buyerIdNumber: application.buyer.idNumber,
    sellerIdNumber: application.seller.idNumber,
  };
}

/** The part of the `assessTax` result a refund needs (the full result carries more). */
const AssessmentRef = z.object({ assessmentId: z.string().min(1), totalCents: Cents });

/** Requires `results.assessTax`, the tax assessment. @throws NoViewError without it. */
export function refundTaxView(application: CaseApplication, results: StepResults): RefundTaxView {
  const assessment = AssessmentRef.safeParse(results['assessTax']);
  if (!assessment.success)
    throw new NoViewError('refundTax needs the assessTax result (assessmentId, totalCents)');
  return {
    unitId: application.unitId,
    assessmentId: assessment.data.assessmentId,
    amountCents: assessment.data.totalCents,
  };
}

export function utilityView(application: CaseApplication): UtilityView {
  return { unitId: application.unitId, address: application.address };
}

export function accountTransferView(application: CaseApplication): AccountTransferView {
  return {
    unitId: application.unitId,
    address: application.address,
    newHolderName: application.buyer.name,
  };
}

type Cut<V> = (application: CaseApplication, results: StepResults) => V;

const utilities: readonly Agency[] = Utility.options;

/** Every agency activity: who runs it, its input schema, and how its view is cut. */
export const ACTIVITY_VIEWS = {
  verifyContract: { agencies: ['housing'], input: VerifyContractInput, cut: contractView },
  cancelFiling: { agencies: ['housing'], input: CancelFilingInput, cut: cancelFilingView },
  checkTitle: { agencies: ['registry'], input: TitleCheckInput, cut: titleView },
  releaseTitleLock: { agencies: ['registry'], input: ReleaseTitleLockInput, cut: titleLockView },
  registerTransfer: { agencies: ['registry'], input: RegisterTransferInput, cut: transferView },
  assessTax: { agencies: ['tax'], input: AssessTaxInput, cut: assessTaxView },
  refundTax: { agencies: ['tax'], input: RefundTaxInput, cut: refundTaxView },
  precheck: { agencies: utilities, input: UtilityPrecheckInput, cut: utilityView },
  transferAccount: { agencies: utilities, input: TransferAccountInput, cut: accountTransferView },
} as const satisfies Record<
  string,
  { agencies: readonly Agency[]; input: z.ZodType<{ view: unknown }>; cut: Cut<unknown> }
>;

export type AgencyActivityName = keyof typeof ACTIVITY_VIEWS;
export type ActivityView<A extends AgencyActivityName> = ReturnType<
  (typeof ACTIVITY_VIEWS)[A]['cut']
>;
export type AgencyView = ActivityView<AgencyActivityName>;

export function isAgencyActivity(activity: string): activity is AgencyActivityName {
  return Object.hasOwn(ACTIVITY_VIEWS, activity);
}

/**
 * The view `agency` receives for `activity` (an activity or compensation name of the process
 * graph). Pure and deterministic. Requires the earlier results the view draws on (refundTax:
 * `assessTax`). @throws NoViewError for an unknown activity, an agency that does not run it,
 * or a missing earlier result.
 * @example viewFor('precheck', 'water', application, {}) // { unitId, address }
 */
export function viewFor<A extends AgencyActivityName>(
  activity: A,
  agency: Agency,
  application: CaseApplication,
  results?: StepResults,
): ActivityView<A>;
export function viewFor(
  activity: string,
  agency: Agency,
  application: CaseApplication,
  results?: StepResults,
): AgencyView;
export function viewFor(
  activity: string,
  agency: Agency,
  application: CaseApplication,
  results: StepResults = {},
): AgencyView {
  if (!isAgencyActivity(activity)) throw new NoViewError(`no agency activity ${activity}`);
  const entry: { agencies: readonly Agency[]; cut: Cut<AgencyView> } = ACTIVITY_VIEWS[activity];
  if (!entry.agencies.includes(agency))
    throw new NoViewError(`${activity} is run by ${entry.agencies.join(', ')}, not ${agency}`);
  return entry.cut(application, results);
}
