// A utility company's system (electricity, water or gas), behind a port.

export interface UtilityAccountView {
  unitId: string;
  address: string;
}

export interface UtilityPrecheck {
  accountExists: boolean;
  arrearsCents: number;
  finalReading: number;
}

export interface UtilitySystem {
  precheck(view: UtilityAccountView): Promise<UtilityPrecheck>;
}

interface Fixture {
  accountExists?: boolean;
  arrearsCents?: number;
}

/** A deterministic simulated meter: the reading derives from the unit id, so retries agree. */
export function simulatedUtility(fixtures: Record<string, Fixture> = {}): UtilitySystem {
  return {
    precheck({ unitId }) {
      const fixture = fixtures[unitId] ?? {};
      let reading = 0;
      for (const ch of unitId) reading = (reading * 31 + ch.charCodeAt(0)) % 100_000;
      return Promise.resolve({
        accountExists: fixture.accountExists ?? true,
        arrearsCents: fixture.arrearsCents ?? 0,
        finalReading: reading,
      });
    },
  };
}
