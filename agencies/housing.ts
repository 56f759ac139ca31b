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
  /** Another case's passing check holds the filing: one filing backs one transfer. */
  heldByAnotherCase: boolean;
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
    check.filingStatus === 'active' &&
    !check.heldByAnotherCase
  );
}

/**
 * A unit's filing as the authority holds it; fields left out are as the first check of it
 * that passed declared them.
 */
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
 * Units named in fixtures behave as written. For any other unit the authority learns a filing
 * from the first check of it that passes, as the citizen declared it (the buyer is eligible):
 * later checks of that filing number are compared with that unit, parties and price.
 */
export function simulatedHousing(
  fixtures: Readonly<Record<string, HousingFixture>> = HOUSING_FIXTURES,
): HousingSystem {
  /** Filings a case's passing check holds: filing number → that case. */
  const heldBy = new Map<string, string>();
  /** Cancelled filings: filing number → the case that cancelled it. */
  const cancelledBy = new Map<string, string>();
  /**
   * The unit each filing number is on record for: a fixture's, else that of the first check
   * of it that passed. A filing is one contract for one unit, so another unit's case declaring
   * it does not match it (nor take its hold, nor cancel it). Only a passing check ties it: a
   * case that mistyped another unit's number, and failed or was undone, leaves it free.
   */
  const unitOfFiling = new Map<string, string>(
    Object.entries(fixtures).flatMap(([unitId, f]) =>
      f.filingNumber ? [[f.filingNumber, unitId] as const] : [],
    ),
  );
  /** The parties and price of a filing not in the fixtures, from its first passing check. */
  const termsOf = new Map<string, Omit<ContractView, 'unitId' | 'contractFilingNumber'>>();

  /** The unit's filing number on record, or undefined when the declared one is another unit's. */
  const filingOf = (unitId: string, declaredNumber: string): string | undefined => {
    const onRecord = fixtures[unitId]?.filingNumber;
    if (onRecord) return onRecord;
    const filedFor = unitOfFiling.get(declaredNumber);
    return filedFor === undefined || filedFor === unitId ? declaredNumber : undefined;
  };

  return {
    async verifyContract(caseId, view) {
      const fixture = fixtures[view.unitId] ?? {};
      if (fixture.responseMs)
        await new Promise((resolve) => setTimeout(resolve, fixture.responseMs));
      const filingNumber = filingOf(view.unitId, view.contractFilingNumber);
      const terms = filingNumber === undefined ? undefined : termsOf.get(filingNumber);
      const holder = filingNumber === undefined ? undefined : heldBy.get(filingNumber);
      const cancelled = filingNumber !== undefined && cancelledBy.has(filingNumber);
      const check: ContractCheck = {
        unitId: view.unitId,
        filingNumber: view.contractFilingNumber,
        filingNumberMatches: filingNumber === view.contractFilingNumber,
        partiesMatch:
          (fixture.buyerIdNumber ?? terms?.buyerIdNumber ?? view.buyerIdNumber) ===
            view.buyerIdNumber &&
          (fixture.sellerIdNumber ?? terms?.sellerIdNumber ?? view.sellerIdNumber) ===
            view.sellerIdNumber,
        priceMatches:
          (fixture.priceCents ?? terms?.priceCents ?? view.priceCents) === view.priceCents,
        buyerEligible: fixture.buyerEligible ?? true,
        filingStatus: cancelled ? 'cancelled' : 'active',
        // The holder's own retry (or repeat) finds its hold: the same answer again.
        heldByAnotherCase: holder !== undefined && holder !== caseId && !cancelled,
      };
      if (filingNumber !== undefined && contractIsValid(check)) {
        unitOfFiling.set(filingNumber, view.unitId);
        if (!termsOf.has(filingNumber)) {
          const { buyerIdNumber, sellerIdNumber, priceCents } = view;
          termsOf.set(filingNumber, { buyerIdNumber, sellerIdNumber, priceCents });
        }
        heldBy.set(filingNumber, caseId);
      }
      return check;
    },

    cancelFiling(caseId, view) {
      // Only a filing this case's passing check holds, for this unit: that check tied it.
      const filingNumber = view.contractFilingNumber;
      const held =
        unitOfFiling.get(filingNumber) === view.unitId && heldBy.get(filingNumber) === caseId;
      if (held && !cancelledBy.has(filingNumber)) cancelledBy.set(filingNumber, caseId);
      return Promise.resolve({
        unitId: view.unitId,
        filingNumber,
        cancelled: held && cancelledBy.get(filingNumber) === caseId,
      });
    },
  };
}
