// The shapes the case routes answer with (the contract of api/: api/schemas.ts, api/caseList.ts,
// api/access.ts), as the pages read them.
import type { CaseApplication } from '../domain/application.ts';
import type { CaseRecord, Escalation, StepState } from '../domain/caseStatus.ts';
import type { Entry } from '../domain/statement.ts';

export type { CaseApplication, CaseRecord, Escalation, StepState };

export interface CaseSummary {
  caseId: string;
  unitId: string;
  status: string;
  currentSteps: string[];
  agencies: string[];
  overdue: boolean;
  submittedAt: string;
  closedAt: string | null;
}

export interface CaseList {
  cases: CaseSummary[];
  nextPageToken: string | null;
}

export interface Notification {
  party: string;
  kind: string;
  stepId: string;
  message: string;
  at: string;
}

export interface Due {
  stepId: string;
  agency: string;
  amountCents: number | null;
  deadlineAt: string | null;
}

export type CaseEntry = Entry & { leafHash: string; inclusionProof?: string[] | null };

/**
 * GET /cases/:caseId. `workflowStatus` is Temporal's status name, or ERASED (then `erasedAt`
 * is set and the steps are gone) or HISTORY_DELETED (Temporal no longer keeps the closed run).
 */
export interface CaseDetail {
  caseId: string;
  unitId: string;
  submittedAt: string;
  workflowStatus: string;
  phase: string | null;
  overdue: boolean;
  reason: string | null;
  erasedAt: string | null;
  steps: StepState[];
  records: CaseRecord[];
  escalations: Escalation[];
  notifications: Notification[];
  due: Due[];
  entries: CaseEntry[];
}

export interface Access {
  at: string;
  /** Null when no kept record opens the entry's commitment (erased with the case). */
  actor: string | null;
  role: 'officer' | 'supervisor';
  agency: string | null;
  fields: string[];
  purpose: string | null;
  ledgerIndex: number;
}

/** GET /cases/:caseId/access-log. */
export interface AccessLog {
  accesses: Access[];
}

/** GET /cases/:caseId/timeline: the case, its personal data (null once erased), the proofs. */
export interface Timeline extends CaseDetail {
  application: CaseApplication | null;
  accessLog: Access[];
  checkpoint: { note: string; size: number } | null;
  entries: (CaseEntry & { inclusionProof: string[] | null })[];
  access: { ledgerIndex: number };
}

export interface InboxItem {
  caseId: string;
  unitId: string;
  stepId: string;
  startedAt: string | null;
  deadlineAt: string | null;
  overdue: boolean;
  /** False: the case could not be asked just now; listed as the visibility store shows it. */
  confirmed: boolean;
}

export interface EscalationItem {
  caseId: string;
  unitId: string;
  stepId: string;
  reason: string;
  escalatedAt: string;
  overdue: boolean;
  /** false: the case's status could not be asked just now; the notice may already be resolved. */
  confirmed: boolean;
}

export interface EscalationList {
  items: EscalationItem[];
  nextPageToken: string | null;
}

export interface OfficerView {
  caseId: string;
  agency: string;
  view: Record<string, unknown>;
  steps: StepState[];
  access: { ledgerIndex: number };
}

/** POST /cases/:id/inspections: a gas officer's record of a passed safety inspection. */
export interface InspectionRecorded {
  caseId: string;
  unitId: string;
  inspectionId: string;
  recordedAt: string;
  /** The holder change waiting for a supervisor's retry, if any. */
  heldStep: string | null;
}
