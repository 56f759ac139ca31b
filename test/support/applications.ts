// The application unit tests use where its details do not matter: a clean sale with all three
// utilities, parsed as the intake would parse it.
import { CaseApplication } from '../../domain/application.ts';

export function sampleApplication(
  unitId: string,
  overrides: Partial<CaseApplication> = {},
): CaseApplication {
  return CaseApplication.parse({
    unitId,
    address: '12 Harbour Lane, Apt 4B',
    priceCents: 42_500_000,
    areaSqm: 84.5,
    contractFilingNumber: 'HF-2026-00417',
    buyer: { name: 'Mina Park', idNumber: 'B1234567' },
    seller: { name: 'Jon Lee', idNumber: 'S7654321' },
    utilities: ['electricity', 'water', 'gas'],
    consent: true,
    ...overrides,
  });
}
