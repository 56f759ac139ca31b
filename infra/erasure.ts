// Erasing a closed case's personal data (the right to erasure): the salt and the
// application go from case_secrets and the workflow history is deleted from Temporal. The
// ledger keeps its entries: they hold only commitments, which without the salt can no longer
// be linked to the data, and the log still verifies (ARCHITECTURE.md §3).
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { NotFoundError } from '../domain/errors.ts';

/** The case is still running: erase it only once it has closed. */
export class CaseStillOpenError extends Error {
  override name = 'CaseStillOpenError';
}

export interface Erasure {
  caseId: string;
  erasedAt: string;
  /** False when the case had already been erased (erasing is idempotent). */
  erasedNow: boolean;
}

export async function eraseCase(
  deps: { pool: pg.Pool; temporal: Client; namespace?: string },
  caseId: string,
): Promise<Erasure> {
  const { rows } = await deps.pool.query<{
    workflow_id: string;
    run_id: string | null;
    erased_at: Date | null;
  }>('SELECT workflow_id, run_id, erased_at FROM cases WHERE case_id = $1', [caseId]);
  const row = rows[0];
  if (!row) throw new NotFoundError(`no case ${caseId}`);
  if (row.erased_at) return { caseId, erasedAt: row.erased_at.toISOString(), erasedNow: false };
  const handle = deps.temporal.workflow.getHandle(row.workflow_id, row.run_id ?? undefined);
  const description = await handle.describe();
  if (description.status.name === 'RUNNING')
    throw new CaseStillOpenError(`case ${caseId} is still open; erase it once it has closed`);

  const client = await deps.pool.connect();
  let erasedAt: Date;
  try {
    await client.query('BEGIN');
    await client.query('DELETE FROM case_secrets WHERE case_id = $1', [caseId]);
    const updated = await client.query<{ erased_at: Date }>(
      'UPDATE cases SET erased_at = now() WHERE case_id = $1 RETURNING erased_at',
      [caseId],
    );
    erasedAt = updated.rows[0]!.erased_at;
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  await deps.temporal.workflowService.deleteWorkflowExecution({
    namespace: deps.namespace ?? 'default',
    workflowExecution: { workflowId: row.workflow_id, runId: description.runId },
  });
  return { caseId, erasedAt: erasedAt.toISOString(), erasedNow: true };
}
