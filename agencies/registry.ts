// The real-estate registration centre's system, behind a port the registry's worker calls:
// the title register (owners, mortgages, court seizures, objections), the pending-transfer
// locks that stop a unit being sold twice at once, and the registration of the new owner.
// The simulated system below holds fixtures the demo and tests rely on.
import { StatedFailure } from '../domain/errors.ts';
import type { TitleLockView, TitleView, TransferView } from '../domain/views.ts';
import { stableDigits } from './simulation.ts';

/** What the title check found. The lock is placed only when the title is clear. */
export interface TitleRecord {
  unitId: string;
  /** The seller is an owner (for a co-owned unit: one of the owners). */
  ownerMatches: boolean;
  ownerCount: number;
  /**
   * The seller is every owner on record. An application has one seller, and a registry
   * registers no sale that not all of a unit's owners make: one co-owner cannot sell the
   * other's share.
   */
  allOwnersSelling: boolean;
  mortgage: boolean;
  seizure: boolean;
  objection: boolean;
  /** Another case holds the pending-transfer lock on this unit. */
  lockedByAnotherCase: boolean;
  /** This case now holds the pending-transfer lock. */
  lockPlaced: boolean;
}

export interface LockRelease {
  unitId: string;
  /** False when this case held no lock (never placed, or already released). */
  released: boolean;
}

/** The registration, or why it was refused at this moment. */
export interface TransferRecord {
  unitId: string;
  registered: boolean;
  ownerMatches: boolean;
  /** The seller is every owner on record (TitleRecord). */
  allOwnersSelling: boolean;
  /** A court seizure registered on the unit at the moment of registration. */
  seizure: boolean;
  lockedByAnotherCase: boolean;
  /** The new certificate's number, when registered. */
  certificateNumber?: string;
  /** The new owner's ID number as recorded, when registered. */
  newOwnerIdNumber?: string;
}

export interface RegistrySystem {
  /** Checks the title and, if it is clear, locks the unit for `caseId` (idempotent). */
  checkTitle(caseId: string, view: TitleView): Promise<TitleRecord>;
  /** Releases `caseId`'s lock, if it holds one (idempotent). */
  releaseTitleLock(caseId: string, view: TitleLockView): Promise<LockRelease>;
  /** Registers the buyer as owner, re-checking seizure now (idempotent per case). */
  registerTransfer(caseId: string, view: TransferView): Promise<TransferRecord>;
}

/** A title is clear when the seller alone owns it, nothing bars it and no other case holds it. */
export function titleIsClear(record: Omit<TitleRecord, 'lockPlaced'>): boolean {
  return (
    record.ownerMatches &&
    record.allOwnersSelling &&
    !record.seizure &&
    !record.objection &&
    !record.lockedByAnotherCase
  );
}

export interface RegistryFixture {
  /** The registered owners; without it the seller is the sole owner. */
  ownerIdNumbers?: readonly string[];
  mortgage?: boolean;
  seizure?: boolean;
  /** A court seizure is registered after the title check, before the registration. */
  seizedAfterTitleCheck?: boolean;
  objection?: boolean;
  /** The registration service does not answer (an outage): every call fails. */
  registrationOutage?: boolean;
  /** Releasing a lock does not answer (an outage): every call fails. */
  lockReleaseOutage?: boolean;
}

export const REGISTRY_FIXTURES: Readonly<Record<string, RegistryFixture>> = {
  'U-SEIZED-1': { seizure: true },
  'U-SEIZED-LATER-1': { seizedAfterTitleCheck: true },
  'U-MORTGAGED-1': { mortgage: true },
  'U-OBJECTION-1': { objection: true },
  'U-OTHER-OWNER-1': { ownerIdNumbers: ['X0000000'] },
  'U-COOWNED-1': { ownerIdNumbers: ['S7654321', 'C2345678'] },
  'U-REGISTRY-OUTAGE-1': { registrationOutage: true },
  'U-REGISTRY-OUTAGE-2': { registrationOutage: true },
  'U-REGISTRY-OUTAGE-3': { registrationOutage: true },
  // With water arrears the buyer has not settled (utility.ts): a wait beside the outage.
  'U-REGISTRY-OUTAGE-ARREARS-1': { registrationOutage: true },
  'U-REGISTRY-OUTAGE-ARREARS-2': { registrationOutage: true },
  'U-REGISTRY-OUTAGE-ARREARS-3': { registrationOutage: true },
  'U-REGISTRY-OUTAGE-ARREARS-4': { registrationOutage: true },
  'U-REGISTRY-OUTAGE-ARREARS-5': { registrationOutage: true },
  'U-SEIZED-LOCK-OUTAGE-1': { seizure: true, lockReleaseOutage: true },
};

/** The registry's system did not answer; the worker's activity fails and is retried. */
export class RegistryUnavailableError extends StatedFailure {
  override name = 'RegistryUnavailableError';
}

/**
 * Units named in fixtures behave as written; any other unit has a clean title held by the
 * seller alone. Locks and registrations live in memory for the life of the system.
 */
export function simulatedRegistry(
  fixtures: Readonly<Record<string, RegistryFixture>> = REGISTRY_FIXTURES,
): RegistrySystem {
  /** Pending-transfer locks: unit id → case id. */
  const locks = new Map<string, string>();
  /** Owners recorded by a registration, overriding the fixtures: unit id → ID numbers. */
  const owners = new Map<string, readonly string[]>();
  /** Registrations done, by case id: a retry gets the same record back. */
  const registrations = new Map<string, TransferRecord>();
  /** Locks released by their case: `<case id>|<unit id>`. */
  const released = new Set<string>();

  const ownersOf = (unitId: string, sellerIdNumber: string): readonly string[] =>
    owners.get(unitId) ?? fixtures[unitId]?.ownerIdNumbers ?? [sellerIdNumber];
  /** The seller is the sole owner on record: the one seller of an application sells it all. */
  const soleOwner = (registered: readonly string[], sellerIdNumber: string): boolean =>
    registered.length === 1 && registered[0] === sellerIdNumber;

  return {
    checkTitle(caseId, { unitId, sellerIdNumber }) {
      const fixture = fixtures[unitId] ?? {};
      const registered = ownersOf(unitId, sellerIdNumber);
      const holder = locks.get(unitId);
      const found = {
        unitId,
        ownerMatches: registered.includes(sellerIdNumber),
        ownerCount: registered.length,
        allOwnersSelling: soleOwner(registered, sellerIdNumber),
        mortgage: fixture.mortgage ?? false,
        seizure: fixture.seizure ?? false,
        objection: fixture.objection ?? false,
        lockedByAnotherCase: holder !== undefined && holder !== caseId,
      };
      const lockPlaced = titleIsClear(found);
      if (lockPlaced) locks.set(unitId, caseId);
      return Promise.resolve({ ...found, lockPlaced });
    },

    releaseTitleLock(caseId, { unitId }) {
      if (fixtures[unitId]?.lockReleaseOutage)
        return Promise.reject(new RegistryUnavailableError('the lock register is not answering'));
      if (locks.get(unitId) === caseId) {
        locks.delete(unitId);
        released.add(`${caseId}|${unitId}`);
      }
      // A retry after the release finds no lock: it reports what the first call did.
      return Promise.resolve({ unitId, released: released.has(`${caseId}|${unitId}`) });
    },

    registerTransfer(caseId, view) {
      const done = registrations.get(caseId);
      if (done) return Promise.resolve(done);
      const fixture = fixtures[view.unitId] ?? {};
      if (fixture.registrationOutage)
        return Promise.reject(
          new RegistryUnavailableError('the registration service is not answering'),
        );
      const holder = locks.get(view.unitId);
      const registered = ownersOf(view.unitId, view.sellerIdNumber);
      const ownerMatches = registered.includes(view.sellerIdNumber);
      // The new owner replaces every owner on record: only a sale by all of them does that.
      const allOwnersSelling = soleOwner(registered, view.sellerIdNumber);
      const seizure = (fixture.seizure ?? false) || (fixture.seizedAfterTitleCheck ?? false);
      const lockedByAnotherCase = holder !== undefined && holder !== caseId;
      if (!allOwnersSelling || seizure || lockedByAnotherCase) {
        // Refused: nothing is recorded, the lock stays for the compensation to release.
        return Promise.resolve({
          unitId: view.unitId,
          registered: false,
          ownerMatches,
          allOwnersSelling,
          seizure,
          lockedByAnotherCase,
        });
      }
      owners.set(view.unitId, [view.buyerIdNumber]);
      locks.delete(view.unitId);
      const record: TransferRecord = {
        unitId: view.unitId,
        registered: true,
        ownerMatches,
        allOwnersSelling,
        seizure,
        lockedByAnotherCase,
        certificateNumber: `RC-${stableDigits(`${caseId}|${view.unitId}`, 9)}`,
        newOwnerIdNumber: view.buyerIdNumber,
      };
      registrations.set(caseId, record);
      return Promise.resolve(record);
    },
  };
}
