import { z } from 'zod';
import { Utility } from './agency.ts';
import { CaseId } from './statement.ts';
import { plainText } from './text.ts';

// What a citizen submits once. This is personal data: it stays off the ledger (only
// salted commitments go there) and each agency receives only its own view of it.

/**
 * A property unit number as on the title deed. Capitals only, refused rather than folded: the
 * workflow id is made of it (one open case per unit), and `U-1` beside `u-1` was two open
 * cases for one unit.
 */
export const UnitId = z
  .string()
  .regex(
    /^[A-Z0-9][A-Z0-9-]{0,47}$/,
    'must be 1-48 capital letters, digits or dashes, starting with a letter or digit',
  );

/** A buyer or a seller. Not strict: the API's request schema is (api/schemas.ts). */
export const Party = z.object({
  name: plainText(z.string().trim().min(1, 'must not be empty').max(200)),
  idNumber: z.string().regex(/^[A-Z0-9]{6,20}$/, 'must be 6-20 capital letters or digits'),
});

export const CaseApplication = z
  .object({
    unitId: UnitId,
    address: plainText(z.string().trim().min(1, 'must not be empty').max(300)),
    priceCents: z
      .number()
      .int('must be a whole number of cents')
      .positive('must be positive')
      .max(1e13),
    areaSqm: z.number().positive('must be positive').max(100_000),
    contractFilingNumber: z
      .string()
      .regex(/^[A-Z0-9-]{4,32}$/, 'must be 4-32 capital letters, digits or dashes'),
    buyer: Party,
    seller: Party,
    utilities: z
      .array(Utility)
      .max(3)
      .refine((u) => new Set(u).size === u.length, 'must not repeat a utility'),
    consent: z.literal(true, {
      error: 'must be true: the citizen consents to the agencies sharing the case',
    }),
  })
  .strict()
  // A transfer is between two people: one ID number as both is a mistake the agencies would
  // each record as a sale (a title to its own holder, a tax on no sale).
  .refine((a) => a.buyer.idNumber !== a.seller.idNumber, {
    message: 'must not be the seller’s ID number: buyer and seller are two people',
    path: ['buyer', 'idNumber'],
  });
export type CaseApplication = z.infer<typeof CaseApplication>;

/** What the workflow is started with: the application and the case id the API gave it. */
export const CaseInput = z.object({
  caseId: CaseId,
  application: CaseApplication,
  /** Multiplies every deadline (tests and the demo run the law's days in seconds). */
  timeScale: z.number().positive().max(1).optional(),
});
export type CaseInput = z.infer<typeof CaseInput>;

/** The workflow id: one open case per property unit (ARCHITECTURE.md §2). */
export function caseWorkflowId(unitId: string): string {
  return `case:${unitId}`;
}
