// The application unit tests use where its details do not matter: a clean sale with all three
// utilities, as a citizen submits it (raw) and as the intake parses it.
import { CaseApplication } from '../../domain/application.ts';

/** As `POST /cases` takes it: not parsed, so a test of the parsing sees what a citizen sends. */
export const SAMPLE_APPLICATION_INPUT = {
  unitId: 'U-WATER-ARREARS-1',
  address: '12 Harbour Lane, Apt 4B',
  priceCents: 42_500_000,
  areaSqm: 84.5,
  contractFilingNumber: 'HF-2026-00417',
  buyer: { name: 'Mina Park', idNumber: 'B1234567' },
  seller: { name: 'Jon Lee', idNumber: 'S7654321' },
  utilities: ['electricity', 'water', 'gas'],
  consent: true,
};

/** The sample application for `unitId`, parsed. */
export function sampleApplication(
  unitId: string,
  overrides: Partial<CaseApplication> = {},
): CaseApplication {
  return CaseApplication.parse({ ...SAMPLE_APPLICATION_INPUT, unitId, ...overrides });
}
