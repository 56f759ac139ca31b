// The contract filing authority's system, behind a port the housing worker calls: it holds
// every filed sale contract (filing number, unit, parties, price) and the buyers' purchase
// eligibility. The simulated system below holds fixtures the demo and tests rely on.
import type { CancelFilingView, ContractView } from '../domain/views.ts';

export type FilingStatus = 'active' | 'cancelled';

/** What the authority found for a filed contract, compared with the application. */
export interface ContractCheck {
  unitId: string;
  filingNumber: string;
  /** The filing on record for this unit has the number the citizen gave. */
  filingNumberMatches: boolean;
  /** Buyer and seller on the filing are the applicants. */
  partiesMatch: boolean;
  /** The filed price is the declared price. */
  priceMatches: boolean;
  /** The buyer may buy (no purchase restriction applies). */
  buyerEligible: boolean;
  filingStatus: FilingStatus;
}

export interface FilingCancellation {
  unitId: string;
  filingNumber: string;
  /** False when this case held no such filing (none on record, or its check failed): nothing to undo. */
  cancelled: boolean;
}

export interface HousingSystem {
  /** Checks the filed contract; one that passes is held for `caseId`'s transfer. */
  verifyContract(caseId: string, view: ContractView): Promise<ContractCheck>;
  /**
   * Withdraws the filing `caseId` holds; idempotent per case. A filing the case never held (its
   * check failed: a mistyped price, another filing number) stays active, so a corrected
   * application for the unit can still pass.
   */
  cancelFiling(caseId: string, view: CancelFilingView): Promise<FilingCancellation>;
}

/** A contract passes when the filing matches in every respect, is active and the buyer may buy. */
export function contractIsValid(check: ContractCheck): boolean {
  return (
    check.filingNumberMatches &&
    check.partiesMatch &&
    check.priceMatches &&
    check.buyerEligible &&
    check.filingStatus === 'active'
  );
}

/** A unit's filing as the authority holds it; fields left out are as the citizen declared. */
export interface HousingFixture {
  filingNumber?: string;
  priceCents?: number;
  buyerIdNumber?: string;
  sellerIdNumber?: string;
  buyerEligible?: boolean;
  /** The authority's system answers this slowly (a worker can be killed mid-step). */
  responseMs?: number;
}

export const HOUSING_FIXTURES: Readonly<Record<string, HousingFixture>> = {
  /** The contract on file for this unit has another filing number. */
  'U-FILING-MISMATCH-1': { filingNumber: 'HF-2025-09981' },
  /** The filed price is lower than the declared one (a "second contract"). */
  'U-PRICE-MISMATCH-1': { priceCents: 31_000_000 },
  /** The buyer already owns the most homes the city's purchase restriction allows. */
  'U-BUYER-INELIGIBLE-1': { buyerEligible: false },
  /** A clean filing whose lookup takes four seconds. */
  'U-SLOW-FILING-1': { responseMs: 4000 },
};

/**
 * Units named in fixtures behave as written; for any other unit the filing on record is the
 * one the citizen declared and the buyer is eligible.
 */
export function simulatedHousing(
  fixtures: Readonly<Record<string, HousingFixture>> = HOUSING_FIXTURES,
): HousingSystem {
  /** Filings a case's passing check holds: filing number → that case. */
  const heldBy = new Map<string, string>();
  /** Cancelled filings: filing number → the case that cancelled it. */
  const cancelledBy = new Map<string, string>();
  /**
   * The unit each filing number is on record for: a fixture's, else the first unit declared
   * with it. A filing is one contract for one unit, so another unit's case declaring it does
   * not match it (nor take its hold, nor cancel it).
   */
  const unitOfFiling = new Map<string, string>(
    Object.entries(fixtures).flatMap(([unitId, f]) =>
      f.filingNumber ? [[f.filingNumber, unitId] as const] : [],
    ),
  );

  /** The unit's filing number on record, or undefined when the declared one is another unit's. */
  const filingOf = (unitId: string, declaredNumber: string): string | undefined => {
    const onRecord = fixtures[unitId]?.filingNumber;
    if (onRecord) return onRecord;
    const filedFor = unitOfFiling.get(declaredNumber);
    if (filedFor === undefined) unitOfFiling.set(declaredNumber, unitId);
    return filedFor === undefined || filedFor === unitId ? declaredNumber : undefined;
  };

  return {
    async verifyContract(caseId, view) {
      const fixture = fixtures[view.unitId] ?? {};
      if (fixture.responseMs)
        await new Promise((resolve) => setTimeout(resolve, fixture.responseMs));
      const filingNumber = filingOf(view.unitId, view.contractFilingNumber);
      const check: ContractCheck = {
        unitId: view.unitId,
        filingNumber: view.contractFilingNumber,
        filingNumberMatches: filingNumber === view.contractFilingNumber,
        partiesMatch:
          (fixture.buyerIdNumber ?? view.buyerIdNumber) === view.buyerIdNumber &&
          (fixture.sellerIdNumber ?? view.sellerIdNumber) === view.sellerIdNumber,
        priceMatches: (fixture.priceCents ?? view.priceCents) === view.priceCents,
        buyerEligible: fixture.buyerEligible ?? true,
        filingStatus:
          filingNumber !== undefined && cancelledBy.has(filingNumber) ? 'cancelled' : 'active',
      };
      if (filingNumber !== undefined && contractIsValid(check)) heldBy.set(filingNumber, caseId);
      return check;
    },

    cancelFiling(caseId, view) {
      const filingNumber = filingOf(view.unitId, view.contractFilingNumber);
      const held =
        filingNumber === view.contractFilingNumber && heldBy.get(filingNumber) === caseId;
      if (held && !cancelledBy.has(filingNumber)) cancelledBy.set(filingNumber, caseId);
      return Promise.resolve({
        unitId: view.unitId,
        filingNumber: view.contractFilingNumber,
        cancelled: held && cancelledBy.get(view.contractFilingNumber) === caseId,
      });
    },
  };
}
