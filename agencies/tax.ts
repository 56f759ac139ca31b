// The tax office's system, behind a port the tax worker calls: it assesses the duties on a
// sale of a home and refunds them when the case is undone. It knows what the application
// does not say: the registered floor area, when the seller acquired the unit, and whether
// the buyer already owns a home. The simulated system below holds fixtures the demo and
// tests rely on; `assessDuties` is the rule book, pure and tested on its own.
import { StatedFailure } from '../domain/errors.ts';
import type { AssessTaxView, RefundTaxView } from '../domain/views.ts';

export type TaxKind = 'deedTax' | 'valueAddedTax' | 'incomeTax';

/** One line of an assessment. Amounts are whole cents, rounded half up. */
export interface DutyItem {
  tax: TaxKind;
  payer: 'buyer' | 'seller';
  baseCents: number;
  /** Rate in basis points (1% = 100); 0 when exempt. */
  rateBasisPoints: number;
  amountCents: number;
  /** Why this rate applies, in the rule book's words. */
  rule: string;
}

export interface DutyBasis {
  priceCents: number;
  areaSqm: number;
  /** Whole years the seller has held the unit at the assessment date. */
  heldYears: number;
  /** The buyer owns no other home: first-home relief on deed tax. */
  firstHome: boolean;
}

/** A floor area above this (m²) is not an "ordinary" home: no deed-tax relief. */
export const ORDINARY_HOME_MAX_SQM = 144;
/** Up to this floor area (m²) a first home pays the lowest deed tax rate. */
export const SMALL_HOME_MAX_SQM = 90;

/**
 * The duties on a sale of a home (rates in basis points):
 * - deed tax, paid by the buyer: a first home 1% up to 90 m², 1.5% up to 144 m², 3% above;
 *   any other purchase 3%;
 * - value-added tax, paid by the seller: 5% of the price if held under 2 years, else exempt;
 * - income tax, paid by the seller: 1% of the price if held under 5 years, else exempt.
 * Requires a non-negative whole `priceCents`, a positive `areaSqm`, whole `heldYears` >= 0.
 */
export function assessDuties(basis: DutyBasis): DutyItem[] {
  const { priceCents, areaSqm, heldYears, firstHome } = basis;
  if (!Number.isSafeInteger(priceCents) || priceCents < 0)
    throw new RangeError(`priceCents must be a whole number >= 0, got ${priceCents}`);
  if (!(areaSqm > 0)) throw new RangeError(`areaSqm must be positive, got ${areaSqm}`);
  if (!Number.isInteger(heldYears) || heldYears < 0)
    throw new RangeError(`heldYears must be a whole number >= 0, got ${heldYears}`);

  const item = (
    tax: TaxKind,
    payer: DutyItem['payer'],
    rateBasisPoints: number,
    rule: string,
  ): DutyItem => ({
    tax,
    payer,
    baseCents: priceCents,
    rateBasisPoints,
    // Integer half-up, exact while priceCents × rateBasisPoints + 5,000 stays below 2^53: at
    // the rates here (500 at most), for prices below about 1.8 × 10^13 cents, so for any the
    // application allows (at most 10^13).
    amountCents: Math.floor((priceCents * rateBasisPoints + 5_000) / 10_000),
    rule,
  });

  const deedTax = !firstHome
    ? item('deedTax', 'buyer', 300, 'not a first home: standard rate 3%')
    : areaSqm <= SMALL_HOME_MAX_SQM
      ? item('deedTax', 'buyer', 100, 'first home up to 90 m²: 1%')
      : areaSqm <= ORDINARY_HOME_MAX_SQM
        ? item('deedTax', 'buyer', 150, 'first home up to 144 m²: 1.5%')
        : item('deedTax', 'buyer', 300, 'above 144 m²: standard rate 3%');
  const vat =
    heldYears < 2
      ? item('valueAddedTax', 'seller', 500, 'held under 2 years: 5%')
      : item('valueAddedTax', 'seller', 0, 'held 2 years or more: exempt');
  const incomeTax =
    heldYears < 5
      ? item('incomeTax', 'seller', 100, 'held under 5 years: 1% of the price')
      : item('incomeTax', 'seller', 0, 'held 5 years or more: exempt');
  return [deedTax, vat, incomeTax];
}

export interface TaxAssessment {
  assessmentId: string;
  unitId: string;
  /** The assessment date, YYYY-MM-DD (UTC). */
  assessedOn: string;
  /** The area the duties were assessed on, and where it came from. */
  areaSqm: number;
  areaSource: 'registered' | 'declared';
  heldYears: number;
  firstHome: boolean;
  items: DutyItem[];
  totalCents: number;
}

export interface TaxRefund {
  refundId: string;
  unitId: string;
  assessmentId: string;
  refundedCents: number;
}

export interface TaxSystem {
  /** Assesses the sale on the date of `now`; the first assessment of a case stands on retry. */
  assess(caseId: string, view: AssessTaxView, now: Date): Promise<TaxAssessment>;
  /** Refunds what was paid for `caseId`; idempotent per case. */
  refund(caseId: string, view: RefundTaxView): Promise<TaxRefund>;
}

/** The sum of an assessment's items. */
export function totalOf(items: readonly DutyItem[]): number {
  return items.reduce((sum, item) => sum + item.amountCents, 0);
}

export interface TaxFixture {
  /** The floor area on the register, which the office assesses on instead of the declared one. */
  registeredAreaSqm?: number;
  /** When the seller acquired the unit, YYYY-MM-DD; */
  acquiredOn?: string;
  /** …or how many whole years before the assessment (default 3). */
  heldYears?: number;
  /** The buyer already owns a home: no first-home relief. */
  buyerOwnsAnotherHome?: boolean;
  /**
   * The office's system does not answer this many first calls to assess a case (a restart, a
   * maintenance window; longer than the four attempts a step after the registration gets).
   */
  unansweredCalls?: number;
}

export const TAX_FIXTURES: Readonly<Record<string, TaxFixture>> = {
  'U-MEDIUM-1': { registeredAreaSqm: 118.6 },
  'U-LARGE-1': { registeredAreaSqm: 168.4 },
  'U-LONG-HELD-1': { acquiredOn: '2011-04-20' },
  'U-RECENT-1': { heldYears: 1 },
  'U-SECOND-HOME-1': { buyerOwnsAnotherHome: true },
  'U-TAX-OUTAGE-1': { unansweredCalls: 4 },
};

/** The tax office's system did not answer; the worker's activity fails and is retried. */
export class TaxOfficeUnavailableError extends StatedFailure {
  override name = 'TaxOfficeUnavailableError';
}

/** Default holding period of a unit the office has no record of. */
const DEFAULT_HELD_YEARS = 3;

function isoDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** Whole years from `from` to `to` (YYYY-MM-DD, `from` <= `to`), as on a birthday. */
export function wholeYearsBetween(from: string, to: string): number {
  const [fy, fmd] = [Number(from.slice(0, 4)), from.slice(5)];
  const [ty, tmd] = [Number(to.slice(0, 4)), to.slice(5)];
  return Math.max(0, ty - fy - (tmd < fmd ? 1 : 0));
}

/**
 * Units named in fixtures behave as written; any other unit is assessed on the declared
 * area, held for 3 years, bought as the buyer's first home.
 */
export function simulatedTax(
  fixtures: Readonly<Record<string, TaxFixture>> = TAX_FIXTURES,
): TaxSystem {
  const assessments = new Map<string, TaxAssessment>();
  const refunds = new Map<string, TaxRefund>();
  /** Calls to assess each case so far, for `unansweredCalls`. */
  const calls = new Map<string, number>();

  return {
    assess(caseId, view, now) {
      const done = assessments.get(caseId);
      if (done) return Promise.resolve(done);
      const fixture = fixtures[view.unitId] ?? {};
      const call = (calls.get(caseId) ?? 0) + 1;
      calls.set(caseId, call);
      if (call <= (fixture.unansweredCalls ?? 0))
        return Promise.reject(new TaxOfficeUnavailableError('the tax system is not answering'));
      const assessedOn = isoDate(now);
      const heldYears =
        fixture.acquiredOn !== undefined
          ? wholeYearsBetween(fixture.acquiredOn, assessedOn)
          : (fixture.heldYears ?? DEFAULT_HELD_YEARS);
      const areaSqm = fixture.registeredAreaSqm ?? view.areaSqm;
      const firstHome = !(fixture.buyerOwnsAnotherHome ?? false);
      const items = assessDuties({ priceCents: view.priceCents, areaSqm, heldYears, firstHome });
      const assessment: TaxAssessment = {
        assessmentId: `TA-${caseId}`,
        unitId: view.unitId,
        assessedOn,
        areaSqm,
        areaSource: fixture.registeredAreaSqm !== undefined ? 'registered' : 'declared',
        heldYears,
        firstHome,
        items,
        totalCents: totalOf(items),
      };
      assessments.set(caseId, assessment);
      return Promise.resolve(assessment);
    },

    refund(caseId, view) {
      const done = refunds.get(caseId);
      if (done) return Promise.resolve(done);
      const refund: TaxRefund = {
        refundId: `TR-${caseId}`,
        unitId: view.unitId,
        assessmentId: view.assessmentId,
        refundedCents: view.amountCents,
      };
      refunds.set(caseId, refund);
      return Promise.resolve(refund);
    },
  };
}
