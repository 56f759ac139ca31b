// The API's shapes: one zod schema each, driving validation, serialisation and /openapi.json.
// Request schemas come from domain/ where the shape is the domain's (CaseApplication,
// EscalationAction); these are the HTTP views around them.
import { z } from 'zod';
import { Agency } from '../domain/agency.ts';
import { CaseApplication, Party } from '../domain/application.ts';
import { CaseRecord, Escalation, StepState } from '../domain/caseStatus.ts';
import {
  decisionFactsProblem,
  DecisionOpening,
  extraStatementFields,
} from '../domain/decisions.ts';
import { SafetyInspection } from '../domain/inspections.ts';
import { SignedStatement, Entry, StepId } from '../domain/statement.ts';
import { plainText } from '../domain/text.ts';
import { AccessLogLine, Purpose } from './access.ts';

export const ErrorBody = z
  .object({
    error: z.string(),
    field: z.string().optional(),
    reason: z.string(),
    issues: z.array(z.object({ field: z.string(), reason: z.string() })).optional(),
  })
  .describe('Every 4xx and 5xx: what went wrong, naming the field');

// UUIDs are case-insensitive on input and written in lower case (RFC 9562 §4), as the case
// rows hold them and compare them exactly: `ABCDEF01-…` reads case `abcdef01-…`.
export const CaseParams = z.object({
  caseId: z.uuid('must be a case id (UUID)').toLowerCase(),
});
export const PurposeQuery = z.object({ purpose: Purpose }).strict();
/** A route that takes no query parameters refuses any (`POST /cases?dryRun=true` is no dry run). */
export const NoQuery = z.object({}).strict();

/**
 * A citizen's application as the API takes it: the domain's CaseApplication, whose parties
 * refuse a member of their own too (`buyer.share`), as the application itself does. Strict
 * here, at the request, not in domain/: CaseApplication also reads the inputs of running
 * cases' histories and the applications stored, which must go on reading as they were written.
 */
export const CaseApplicationRequest = CaseApplication.safeExtend({
  buyer: Party.strict(),
  seller: Party.strict(),
});

export const CaseCreated = z.object({
  caseId: z.string(),
  workflowId: z.string(),
  runId: z.string(),
});

/** An entry as stored, with its RFC 9162 leaf hash (base64). */
export const EntryView = Entry.extend({ leafHash: z.string() });

export const Notification = z.object({
  party: z.string(),
  kind: z.string(),
  stepId: z.string(),
  message: z.string(),
  at: z.string(),
});

/** A waiting step the citizen must settle, with the amount the agency signed, if any. */
export const Due = z.object({
  stepId: z.string(),
  agency: Agency,
  amountCents: z.number().int().nullable(),
  deadlineAt: z.string().nullable(),
});

/**
 * A case as its applicant and supervisors track it: steps and signed entries, not the
 * application. A supervisor's copy (not a logged read) leaves out the deciders' reasons, the
 * amounts and the notes of resolutions by hand, which the logged timeline shows.
 */
export const CaseView = z.object({
  caseId: z.string(),
  unitId: z.string(),
  submittedAt: z.string(),
  workflowStatus: z.string(),
  phase: z.string().nullable(),
  overdue: z.boolean(),
  reason: z.string().nullable(),
  erasedAt: z.string().nullable(),
  steps: z.array(StepState),
  records: z.array(CaseRecord),
  escalations: z.array(Escalation),
  notifications: z.array(Notification),
  due: z.array(Due),
  entries: z.array(EntryView),
});
export type CaseView = z.infer<typeof CaseView>;

/** The supervisor's timeline: the case, its personal data, and every entry's inclusion proof. */
export const Timeline = CaseView.extend({
  application: CaseApplication.nullable(),
  accessLog: z.array(AccessLogLine),
  checkpoint: z.object({ note: z.string(), size: z.number().int() }).nullable(),
  entries: z.array(EntryView.extend({ inclusionProof: z.array(z.string()).nullable() })),
  access: z.object({ ledgerIndex: z.number().int() }),
});
export type Timeline = z.infer<typeof Timeline>;

export const AccessLog = z.object({ accesses: z.array(AccessLogLine) });

export const PaymentRequest = z
  .object({
    stepId: z
      .string()
      .regex(
        /^(confirmPayment|settleArrears\.(electricity|water|gas))$/,
        'must be confirmPayment or settleArrears.<utility>',
      ),
  })
  .strict();

/**
 * A decision on an open step: either an officer's outcome and reason, which the agency's
 * worker signs before it reaches the case, or a decision the agency's own system already
 * signed (integrations, not people), with the opening of its commitment if it has a reason
 * to record (the opening stays off the ledger).
 */
export const DecisionRequest = z
  .object({
    stepId: z.string().regex(/^[a-z][A-Za-z]{0,40}(\.[a-z]{1,20})?$/, 'must be a step id'),
    outcome: z.enum(['approved', 'rejected'], { error: 'must be approved or rejected' }).optional(),
    reason: plainText(z.string().trim().min(3, 'must give a reason').max(500), {
      lines: true,
    }).optional(),
    // Strict at the request only (its statement refuses extra fields in the superRefine
    // below): the ledger and the workflows read signed statements with SignedStatement too.
    signed: SignedStatement.strict().optional(),
    opening: DecisionOpening.optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    // Each field sent beside a signed decision is named itself.
    for (const field of ['outcome', 'reason'] as const)
      if (d.signed && d[field] !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: 'must not come with a signed decision: the statement and its opening carry it',
        });
    if (!d.signed && !d.outcome)
      ctx.addIssue({
        code: 'custom',
        path: ['signed'],
        message: "is required: a decision the agency signed, or an officer's outcome and reason",
      });
    if (d.outcome && !d.reason)
      ctx.addIssue({ code: 'custom', path: ['reason'], message: 'must give a reason' });
    // The entry is public for good: an agency's system may not put a reason or a name in it.
    for (const field of d.signed ? extraStatementFields(d.signed.statement) : [])
      ctx.addIssue({
        code: 'custom',
        path: ['signed', 'statement', field],
        message:
          "is not a field of a statement: a decision's entry is public for good and holds only the statement's own fields (a reason goes in the opening, off the ledger)",
      });
    const factsProblem = d.signed && decisionFactsProblem(d.signed.statement.facts, d.stepId);
    if (factsProblem)
      ctx.addIssue({
        code: 'custom',
        path: ['signed', 'statement', 'facts'],
        message: factsProblem,
      });
    if (d.opening && !d.signed)
      ctx.addIssue({
        code: 'custom',
        path: ['opening'],
        message: "comes only with a signed decision: it opens that statement's commitment",
      });
  });

export const DecisionApplied = z.object({ stepId: z.string(), ledgerIndex: z.number().int() });

/** A gas officer's record that the unit's appliances passed their safety inspection. */
export const InspectionRequest = z
  .object({
    // The unit inspected, as the officer has it: checked against the case's, so a mistyped
    // case id records nothing (a record cannot be taken back). The pattern unit ids had before
    // they were capitals only: a case taken then may still wait for its inspection.
    unitId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,47}$/, 'must be a unit id: letters, digits and dashes'),
    // Only a pass is recorded: a failed inspection changes nothing (the account stays put).
    outcome: z.literal('passed', { error: 'must be passed: only a passed inspection is recorded' }),
  })
  .strict();

export const InspectionRecorded = SafetyInspection.extend({
  caseId: z.string(),
  /** The gas holder change, if it waits for a supervisor's retry now. */
  heldStep: z.string().nullable(),
});

export const EscalationRequest = z
  .object({
    // The ledger's step id (no control or bidi character, which the case's refusal would
    // send back).
    stepId: StepId,
    action: z.enum(['retry', 'resolve'], { error: 'must be retry or resolve' }),
    reason: plainText(z.string().trim().min(1, 'must give a reason').max(500), { lines: true }),
  })
  .strict();

export const EscalationApplied = z.object({
  stepId: z.string(),
  ledgerIndex: z.number().int().nullable(),
});

export const InboxItem = z.object({
  caseId: z.string(),
  unitId: z.string(),
  stepId: z.string(),
  startedAt: z.string().nullable(),
  deadlineAt: z.string().nullable(),
  overdue: z.boolean(),
  confirmed: z
    .boolean()
    .describe(
      "false: the case's status could not be asked now; listed from the visibility store, which may lag",
    ),
});
export const Inbox = z.object({
  items: z.array(InboxItem),
  /** Pass as `pageToken` for the next page; null on the last. */
  nextPageToken: z.string().nullable(),
});

/**
 * An escalation waiting for a supervisor: the workflow's own reason (as the case's status and
 * timeline show it), no personal data. Unconfirmed when its case's status could not be asked
 * just now: then reason and escalatedAt are the escalation notice's, overdue the visibility
 * store's, and the escalation may already be resolved.
 */
export const EscalationItem = z.object({
  caseId: z.string(),
  unitId: z.string(),
  stepId: z.string(),
  reason: z.string(),
  escalatedAt: z.string(),
  overdue: z.boolean(),
  confirmed: z
    .boolean()
    .describe("false: the case's status could not be asked now; the notice may be resolved"),
});
export type EscalationItem = z.infer<typeof EscalationItem>;
export const Escalations = z.object({
  items: z.array(EscalationItem),
  /** Pass as `pageToken` for the next page; null on the last. */
  nextPageToken: z.string().nullable(),
});
export type Escalations = z.infer<typeof Escalations>;

export const OfficerView = z.object({
  caseId: z.string(),
  agency: Agency,
  view: z.record(z.string(), z.unknown()),
  steps: z.array(StepState),
  access: z.object({ ledgerIndex: z.number().int() }),
});
