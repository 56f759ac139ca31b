// How each agency's view is cut out of the application (ARCHITECTURE.md §2, data
// minimisation); the views' schemas are in views.ts. Free of zod: the workflow calls
// `viewFor`, and the workflow sandbox evaluates the modules it imports anew for every case
// (measured in bench/cases.ts: building zod's schemas was ~8 % of the workflow thread).
import { UTILITIES, type Agency } from './agencyIds.ts';
import type { CaseApplication } from './application.ts';
import type {
  AccountTransferView,
  AssessTaxView,
  CancelFilingView,
  ContractView,
  RefundTaxView,
  TitleLockView,
  TitleView,
  TransferView,
  UtilityView,
} from './views.ts';

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

/**
 * Requires `results.assessTax`, the tax assessment (agencies/tax.ts `TaxAssessment`), of which
 * a refund needs `assessmentId` and `totalCents`; RefundTaxView's schema checks them again
 * where the tax bureau receives them. @throws NoViewError without them.
 */
export function refundTaxView(application: CaseApplication, results: StepResults): RefundTaxView {
  const assessment = results['assessTax'] as { assessmentId?: unknown; totalCents?: unknown };
  const { assessmentId, totalCents } = assessment ?? {};
  if (
    typeof assessmentId !== 'string' ||
    assessmentId === '' ||
    typeof totalCents !== 'number' ||
    !Number.isSafeInteger(totalCents) ||
    totalCents < 0
  )
    throw new NoViewError('refundTax needs the assessTax result (assessmentId, totalCents)');
  return { unitId: application.unitId, assessmentId, amountCents: totalCents };
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

/** Every agency activity: who runs it and how its view is cut (views.ts adds its schema). */
export const VIEW_CUTS = {
  verifyContract: { agencies: ['housing'], cut: contractView },
  cancelFiling: { agencies: ['housing'], cut: cancelFilingView },
  checkTitle: { agencies: ['registry'], cut: titleView },
  releaseTitleLock: { agencies: ['registry'], cut: titleLockView },
  registerTransfer: { agencies: ['registry'], cut: transferView },
  assessTax: { agencies: ['tax'], cut: assessTaxView },
  refundTax: { agencies: ['tax'], cut: refundTaxView },
  precheck: { agencies: UTILITIES, cut: utilityView },
  transferAccount: { agencies: UTILITIES, cut: accountTransferView },
} as const satisfies Record<string, { agencies: readonly Agency[]; cut: Cut<unknown> }>;

export type AgencyActivityName = keyof typeof VIEW_CUTS;
export type ActivityView<A extends AgencyActivityName> = ReturnType<(typeof VIEW_CUTS)[A]['cut']>;
export type AgencyView = ActivityView<AgencyActivityName>;

export function isAgencyActivity(activity: string): activity is AgencyActivityName {
  return Object.hasOwn(VIEW_CUTS, activity);
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
  const entry: { agencies: readonly Agency[]; cut: Cut<AgencyView> } = VIEW_CUTS[activity];
  if (!entry.agencies.includes(agency))
    throw new NoViewError(`${activity} is run by ${entry.agencies.join(', ')}, not ${agency}`);
  return entry.cut(application, results);
}
