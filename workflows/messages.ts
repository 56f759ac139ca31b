// Messages of jointTransferCase, next to the workflow (never rename a deployed one).
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { CaseStatus } from '../domain/caseStatus.ts';
import type { Decision, EscalationAction } from '../domain/decisions.ts';

export const statusQuery = defineQuery<CaseStatus>('status');

/** An agency's signed decision on an open waiting or review step. Returns the ledger index. */
export const decideUpdate = defineUpdate<{ ledgerIndex: number }, [Decision]>('decide');

/** A supervisor retries an escalated step or resolves it by hand (recorded on the ledger). */
export const resolveEscalationUpdate = defineUpdate<{ ledgerIndex?: number }, [EscalationAction]>(
  'resolveEscalation',
);
