// The property registry's system, behind a port the registry's worker calls. The simulated
// system below holds fixtures the demo and tests rely on.

export interface TitleView {
  unitId: string;
  sellerIdNumber: string;
}

export interface TitleRecord {
  unitId: string;
  ownerMatches: boolean;
  mortgage: boolean;
  seizure: boolean;
  objection: boolean;
}

export interface RegistrySystem {
  checkTitle(view: TitleView): Promise<TitleRecord>;
}

interface Fixture {
  ownerIdNumber?: string;
  mortgage?: boolean;
  seizure?: boolean;
  objection?: boolean;
}

/** Units named in fixtures behave as written; any other unit has a clean title held by the seller. */
export function simulatedRegistry(
  fixtures: Record<string, Fixture> = REGISTRY_FIXTURES,
): RegistrySystem {
  return {
    checkTitle({ unitId, sellerIdNumber }) {
      const fixture = fixtures[unitId] ?? {};
      return Promise.resolve({
        unitId,
        ownerMatches: (fixture.ownerIdNumber ?? sellerIdNumber) === sellerIdNumber,
        mortgage: fixture.mortgage ?? false,
        seizure: fixture.seizure ?? false,
        objection: fixture.objection ?? false,
      });
    },
  };
}

export const REGISTRY_FIXTURES: Record<string, Fixture> = {
  'U-SEIZED-1': { seizure: true },
  'U-MORTGAGED-1': { mortgage: true },
  'U-OBJECTION-1': { objection: true },
  'U-OTHER-OWNER-1': { ownerIdNumber: 'X0000000' },
};
