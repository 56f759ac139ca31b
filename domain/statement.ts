import { z } from 'zod';
import { Signer } from './agency.ts';

// The statement and entry formats are fixed (ARCHITECTURE.md §3): outside verifiers rely
// on them, so these schemas are their single source of truth.

export const STATEMENT_TYPE = 'onewindow.statement/v1';

// Canonical standard base64 (RFC 4648 §4): padded, its pad bits zero (§3.5), so each value
// has one text. A length check alone let 44 × 'A' (33 bytes) or 42 × 'A' + '==' (31 bytes)
// pass as 32 bytes, to be refused only at the ledger's append.
// 32 bytes: ten 3-byte groups and 2 bytes, so 43 characters (the last holds 4 bits) and `=`.
const BASE64_32 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
// 64 bytes: 21 groups and 1 byte, so 86 characters (the last holds 2 bits) and `==`.
const BASE64_64 = /^[A-Za-z0-9+/]{85}[AQgw]==$/;

const base64 = (bytes: 32 | 64) =>
  z
    .string()
    .regex(
      bytes === 32 ? BASE64_32 : BASE64_64,
      `must be the canonical standard base64 of exactly ${bytes} bytes (RFC 4648 §4, §3.5)`,
    );

export const Base64Hash = base64(32);
export const Base64Signature = base64(64);
/** A 32-byte commitment salt: the key of a salted commitment, never on the ledger. */
export const Base64Salt = base64(32);

export const CaseId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'must be 1-64 lowercase letters, digits or dashes');
export const StepId = z
  .string()
  .regex(
    /^[a-zA-Z][a-zA-Z0-9.-]{0,63}$/,
    'must start with a letter; letters, digits, dots or dashes',
  );
/**
 * A key id: c2sp.org/signed-note's key name (no space, no plus) and our key hash. No control
 * character either, which PostgreSQL cannot store (NUL) or a log line could hide.
 */
export const KEY_ID_PATTERN = /^[^\s+\u0000-\u001f\u007f-\u009f]{1,128}\+[0-9a-f]{8}$/;
export const KeyId = z.string().regex(KEY_ID_PATTERN, 'must be <key name>+<8 hex digits>');

/** Non-personal facts about a step: flags, amounts of duty, counts. Never names or ID numbers. */
export const Facts = z.record(
  z.string().max(64),
  z.union([z.string().max(256), z.number(), z.boolean(), z.null()]),
);

export const Statement = z
  .object({
    type: z.literal(STATEMENT_TYPE),
    statementId: z.string().max(160),
    caseId: CaseId,
    stepId: StepId,
    agency: Signer,
    outcome: z.string().regex(/^[a-z][a-zA-Z]{0,31}$/, 'must be a lowerCamel word'),
    commitment: Base64Hash,
    facts: Facts,
    issuedAt: z.iso.datetime({ offset: true }),
    keyId: KeyId,
  })
  // "At least" these fields (ARCHITECTURE.md §3): other fields are kept, never stripped, so
  // the entry holds exactly the statement that was signed.
  .loose()
  .refine(
    (s) =>
      s.statementId === `${s.caseId}/${s.stepId}` ||
      s.statementId.startsWith(`${s.caseId}/${s.stepId}/`),
    {
      message: 'must be <caseId>/<stepId>[/<n>]',
      path: ['statementId'],
    },
  )
  // A repeat's number is its attempt, a positive integer (views.ts `StepCall.n`): `/0` or
  // `/007` would be a second statement id for one answer.
  .refine(
    (s) =>
      /^[1-9]\d*$/.test(s.statementId.slice(`${s.caseId}/${s.stepId}/`.length)) ||
      !s.statementId.startsWith(`${s.caseId}/${s.stepId}/`),
    {
      message: 'the optional suffix must be a repeat number: 1, 2, … without leading zeros',
      path: ['statementId'],
    },
  );
export type Statement = z.infer<typeof Statement>;

/** A statement with its Ed25519 signature: what an agency worker hands to the ledger. */
export const SignedStatement = z.object({
  statement: Statement,
  signature: Base64Signature,
});
export type SignedStatement = z.infer<typeof SignedStatement>;

/** One ledger entry; its RFC 8785 bytes are the RFC 9162 leaf (ARCHITECTURE.md §3). */
export const Entry = z.object({
  index: z.number().int().nonnegative(),
  prevLeafHash: Base64Hash,
  statement: Statement,
  signature: Base64Signature,
  sequencedAt: z.iso.datetime({ offset: true }),
});
export type Entry = z.infer<typeof Entry>;
