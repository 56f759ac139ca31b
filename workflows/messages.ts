// Messages of jointTransferCase, next to the workflow (never rename a deployed one).
import { defineQuery } from '@temporalio/workflow';
import type { CaseStatus } from '../domain/caseStatus.ts';

export const statusQuery = defineQuery<CaseStatus>('status');
