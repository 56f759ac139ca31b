// A utility company's system (electricity, water or gas), behind a port: the account at an
// address, its meter and arrears, and the change of account holder. The simulated system
// below holds fixtures the demo and tests rely on; meter readings derive from the unit id,
// so a retried call reads the same meter as the first one.
import type { Utility } from '../domain/agency.ts';
import { StatedFailure } from '../domain/errors.ts';
import type { SafetyInspection } from '../domain/inspections.ts';
import type { AccountTransferView, UtilityView } from '../domain/views.ts';
import { stableDigits, stableHash } from './simulation.ts';

export interface UtilityPrecheck {
  accountExists: boolean;
  accountNumber?: string;
  arrearsCents: number;
  /** The meter reading now, in the utility's unit (kWh, m³). */
  finalReading: number;
  /** Gas: the appliances must pass a safety inspection before the account changes hands. */
  safetyInspectionDue: boolean;
}

export interface AccountTransfer {
  accountExists: boolean;
  accountNumber?: string;
  /** The reading the seller's last bill closes at. */
  finalReading: number;
  holderChanged: boolean;
  newHolderName?: string;
}

export interface UtilitySystem {
  precheck(view: UtilityView): Promise<UtilityPrecheck>;
  /**
   * Takes the final reading and puts the account in the new holder's name; idempotent per
   * case. @throws SafetyInspectionRequiredError while a gas safety inspection is due.
   */
  transferAccount(caseId: string, view: AccountTransferView): Promise<AccountTransfer>;
  /**
   * Records that the appliances at `unitId` passed a safety inspection (its engineer's
   * finding, entered by an officer), which clears `safetyInspectionDue`; idempotent per unit.
   */
  recordSafetyInspection(unitId: string, now: Date): Promise<SafetyInspection>;
}

/**
 * The account cannot change hands until a gas safety inspection is done. A technical, not a
 * business, failure: the activity retries, the workflow escalates, a supervisor resolves.
 */
export class SafetyInspectionRequiredError extends StatedFailure {
  override name = 'SafetyInspectionRequiredError';
}

export interface UtilityFixture {
  /** No account at this address. */
  noAccount?: boolean;
  arrearsCents?: number;
  safetyInspectionDue?: boolean;
  /** The account is closed after its precheck, before the holder change. */
  closedAfterPrecheck?: boolean;
}

export const UTILITY_FIXTURES: Readonly<Record<Utility, Readonly<Record<string, UtilityFixture>>>> =
  {
    electricity: {},
    water: {
      'U-WATER-ARREARS-1': { arrearsCents: 18_650 },
      'U-WATER-ARREARS-2': { arrearsCents: 18_650 },
      'U-REGISTRY-OUTAGE-ARREARS-1': { arrearsCents: 4_210 },
      'U-REGISTRY-OUTAGE-ARREARS-2': { arrearsCents: 4_210 },
      'U-REGISTRY-OUTAGE-ARREARS-3': { arrearsCents: 4_210 },
      'U-REGISTRY-OUTAGE-ARREARS-4': { arrearsCents: 4_210 },
      'U-REGISTRY-OUTAGE-ARREARS-5': { arrearsCents: 4_210 },
    },
    gas: {
      'U-GAS-INSPECTION-1': { safetyInspectionDue: true },
      'U-GAS-INSPECTION-2': { safetyInspectionDue: true },
      'U-GAS-INSPECTION-3': { safetyInspectionDue: true },
      'U-GAS-INSPECTION-4': { safetyInspectionDue: true },
      'U-GAS-INSPECTION-5': { safetyInspectionDue: true },
      'U-NO-GAS-1': { noAccount: true },
      'U-GAS-CLOSED-LATER-1': { closedAfterPrecheck: true },
      'U-GAS-CLOSED-LATER-2': { closedAfterPrecheck: true },
      'U-GAS-CLOSED-LATER-3': { closedAfterPrecheck: true },
    },
  };

const ACCOUNT_PREFIX: Record<Utility, string> = { electricity: 'EL', water: 'WA', gas: 'GA' };

/**
 * Units named in fixtures behave as written; any other unit has an account at its address
 * with no arrears. Holder changes (by case) and passed inspections (by unit) live in memory for
 * the life of the system.
 */
export function simulatedUtility(
  utility: Utility,
  fixtures: Readonly<Record<string, UtilityFixture>> = UTILITY_FIXTURES[utility],
): UtilitySystem {
  /** Passed inspections, by unit: a second record of one returns the first. */
  const inspected = new Map<string, SafetyInspection>();
  /** Holder changes done, by case id: a retry gets the same record back. */
  const transfers = new Map<string, AccountTransfer>();

  const accountNumber = (unitId: string) =>
    `${ACCOUNT_PREFIX[utility]}-${stableDigits(`${utility}|account|${unitId}`, 8)}`;
  const reading = (unitId: string) => stableHash(`${utility}|meter|${unitId}`) % 100_000;
  /** Use since the precheck: a little more on the meter at handover. */
  const finalReading = (unitId: string) =>
    reading(unitId) + 1 + (stableHash(`${utility}|use|${unitId}`) % 40);

  return {
    precheck({ unitId }) {
      const fixture = fixtures[unitId] ?? {};
      if (fixture.noAccount) {
        return Promise.resolve({
          accountExists: false,
          arrearsCents: 0,
          finalReading: 0,
          safetyInspectionDue: false,
        });
      }
      return Promise.resolve({
        accountExists: true,
        accountNumber: accountNumber(unitId),
        arrearsCents: fixture.arrearsCents ?? 0,
        finalReading: reading(unitId),
        safetyInspectionDue: (fixture.safetyInspectionDue ?? false) && !inspected.has(unitId),
      });
    },

    transferAccount(caseId, { unitId, newHolderName }) {
      const done = transfers.get(caseId);
      if (done) return Promise.resolve(done);
      const fixture = fixtures[unitId] ?? {};
      if (fixture.noAccount || fixture.closedAfterPrecheck) {
        return Promise.resolve({ accountExists: false, finalReading: 0, holderChanged: false });
      }
      if ((fixture.safetyInspectionDue ?? false) && !inspected.has(unitId)) {
        return Promise.reject(
          new SafetyInspectionRequiredError(
            `${utility} account for unit ${unitId} cannot change holder: a safety inspection is due`,
          ),
        );
      }
      const transfer: AccountTransfer = {
        accountExists: true,
        accountNumber: accountNumber(unitId),
        finalReading: finalReading(unitId),
        holderChanged: true,
        newHolderName,
      };
      transfers.set(caseId, transfer);
      return Promise.resolve(transfer);
    },

    recordSafetyInspection(unitId, now) {
      const done = inspected.get(unitId);
      if (done) return Promise.resolve(done);
      const inspection: SafetyInspection = {
        inspectionId: `SI-${stableDigits(`${utility}|inspection|${unitId}`, 8)}`,
        unitId,
        recordedAt: now.toISOString(),
      };
      inspected.set(unitId, inspection);
      return Promise.resolve(inspection);
    },
  };
}
