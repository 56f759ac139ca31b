// Erasing a closed case's personal data (the right to erasure): the salt and the
// application go from case_secrets, the applicant from the case row, and the workflow history
// (every run of the case, those a reset made too) is deleted from Temporal with
// the histories of the case's desk requests (an officer's reason, who they are). The
// ledger keeps its entries: they hold only commitments, which without the salt can no longer
// be linked to the data, and the log still verifies (ARCHITECTURE.md §3).
import { isGrpcServiceError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type pg from 'pg';
import { deskWorkflowPrefix } from '../domain/decisions.ts';
import { NotFoundError } from '../domain/errors.ts';

/** The case is still running: erase it only once it has closed. */
export class CaseStillOpenError extends Error {
  override name = 'CaseStillOpenError';
}

/**
 * The case's row records no workflow run, and the workflow id is the unit's: its latest run
 * may be a later case's, so there is no telling which run holds this case's history.
 */
export class CaseRunUnknownError extends Error {
  override name = 'CaseRunUnknownError';
}

export interface Erasure {
  caseId: string;
  erasedAt: string;
  /** False when the case had already been erased (erasing is idempotent). */
  erasedNow: boolean;
}

/** How a run that has closed ended (`WorkflowExecutionStatusName`); any other is open. */
const CLOSED_STATUSES: readonly string[] = [
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TERMINATED',
  'CONTINUED_AS_NEW',
  'TIMED_OUT',
];

/** gRPC status NOT_FOUND (grpc-js `status.NOT_FOUND`, not a dependency of ours): already gone. */
const GRPC_NOT_FOUND = 5;

/** Temporal no longer holds the run (deleted by an erasure, or never there). */
function isGone(error: unknown): boolean {
  return (
    error instanceof WorkflowNotFoundError ||
    (isGrpcServiceError(error) && Number(error.code) === GRPC_NOT_FOUND)
  );
}

/**
 * Erases a closed case. The Temporal execution is deleted before `erased_at` commits, so a
 * failure in between leaves the case not erased and a rerun finishes the work; a rerun on an
 * erased case deletes the execution again if it is still there (an absent one counts as done).
 * @throws NotFoundError for an unknown case, CaseStillOpenError for a running one,
 *   CaseRunUnknownError when the case's row records no run id (nothing is changed).
 */
export async function eraseCase(
  deps: { pool: pg.Pool; temporal: Client },
  caseId: string,
): Promise<Erasure> {
  const { rows } = await deps.pool.query<{
    workflow_id: string;
    run_id: string | null;
    erased_at: Date | null;
  }>('SELECT workflow_id, run_id, erased_at FROM cases WHERE case_id = $1', [caseId]);
  const row = rows[0];
  if (!row) throw new NotFoundError(`no case ${caseId}`);
  const deleteRun = async (workflowId: string, runId: string): Promise<void> => {
    try {
      await deps.temporal.workflowService.deleteWorkflowExecution({
        // The client's own namespace, which the desk runs are listed in too.
        namespace: deps.temporal.options.namespace,
        workflowExecution: { workflowId, runId },
      });
    } catch (error) {
      if (!isGone(error)) throw error;
    }
  };
  // The desk requests' own workflows (workflows/agencyDecision.ts) carry the officer's reason
  // and actor in their input, apart from the case's history, and a gas officer's inspection
  // records (workflows/safetyInspection.ts) the officer. Found by their ids' prefix; a rerun
  // finds any the visibility store had not shown yet.
  const deleteDeskRuns = async (): Promise<void> => {
    const prefix = deskWorkflowPrefix(caseId);
    if (!/^[\w:.-]+$/.test(prefix)) throw new Error(`case id ${caseId} cannot be queried for`);
    const desks = deps.temporal.workflow.list({
      query: `WorkflowType IN ('agencyDecision', 'safetyInspection') AND WorkflowId STARTS_WITH '${prefix}'`,
    });
    for await (const desk of desks) await deleteRun(desk.workflowId, desk.runId);
  };
  /** The case's personal data off the ledger; in the erasure's transaction, or on a rerun. */
  const deleteRecords = async (db: Pick<pg.PoolClient, 'query'>): Promise<void> => {
    await db.query('DELETE FROM case_secrets WHERE case_id = $1', [caseId]);
    // Its notices too: an escalation's message quotes the agency's error, which may name
    // what the case is about.
    await db.query('DELETE FROM notifications WHERE case_id = $1', [caseId]);
    // Who read the case and why (api/access.ts): a purpose may name people too. The access
    // entries stay, showing role, agency and fields; their commitments link to nothing now.
    await db.query('DELETE FROM access_records WHERE case_id = $1', [caseId]);
  };
  /**
   * The case's runs after its first: those a reset made of it (an operator's repair,
   * `temporal workflow reset`), which copy its input, the whole application, and terminate it.
   * Each names the first run as its chain's first (firstExecutionRunId of its start event);
   * a later case of the unit, under the same workflow id, starts a chain of its own. Listed
   * from the visibility store, which lags, so the id's newest run is asked of Temporal too,
   * and so is each run's status. Not found: a run between two resets made within the store's
   * lag, terminated with the application in it, until a rerun of the erasure finds it listed.
   */
  const laterRuns = async (firstRunId: string): Promise<{ runId: string; status: string }[]> => {
    const { workflow_id: workflowId } = row;
    if (!/^[\w:.-]+$/.test(workflowId))
      throw new Error(`workflow id ${workflowId} cannot be queried for`);
    const candidates = new Set<string>();
    for await (const run of deps.temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
      candidates.add(run.runId);
    try {
      candidates.add((await deps.temporal.workflow.getHandle(workflowId).describe()).runId);
    } catch (error) {
      if (!isGone(error)) throw error;
    }
    candidates.delete(firstRunId);
    const later: { runId: string; status: string }[] = [];
    for (const runId of candidates) {
      try {
        const { history } = await deps.temporal.workflowService.getWorkflowExecutionHistory({
          namespace: deps.temporal.options.namespace,
          execution: { workflowId, runId },
          maximumPageSize: 1,
        });
        const started = history?.events?.[0]?.workflowExecutionStartedEventAttributes;
        if (started?.firstExecutionRunId !== firstRunId) continue;
        const { status } = await deps.temporal.workflow.getHandle(workflowId, runId).describe();
        later.push({ runId, status: status.name });
      } catch (error) {
        // Deleted meanwhile (another case of the unit erased): nothing of it left to erase.
        if (!isGone(error)) throw error;
      }
    }
    return later;
  };
  /**
   * Deletes the case's first run and those a reset made of it, once none of the latter is
   * open: a delete terminates an open run with nothing undone.
   */
  const deleteCaseRuns = async (firstRunId: string): Promise<void> => {
    const later = await laterRuns(firstRunId);
    if (later.some((run) => !CLOSED_STATUSES.includes(run.status)))
      throw new CaseStillOpenError(
        `case ${caseId} is still open in a run a reset made of it; erase it once it has closed`,
      );
    for (const runId of [firstRunId, ...later.map((run) => run.runId)])
      await deleteRun(row.workflow_id, runId);
  };
  if (row.erased_at) {
    // An erasure before deletes came first may have committed and then failed to delete.
    if (row.run_id) await deleteCaseRuns(row.run_id);
    await deleteDeskRuns();
    // Whatever an erasure of older code left: a record of a read that raced it, say.
    await deleteRecords(deps.pool);
    // A case erased before who applied went with it keeps them on its row until erased again.
    await deps.pool.query(
      'UPDATE cases SET applicant = NULL WHERE case_id = $1 AND applicant IS NOT NULL',
      [caseId],
    );
    return { caseId, erasedAt: row.erased_at.toISOString(), erasedNow: false };
  }
  // Without a run id the handle would describe (and the delete remove) the unit's latest
  // run, which may be a later case's.
  if (!row.run_id)
    throw new CaseRunUnknownError(
      `case ${caseId} has no recorded workflow run, so its run of ${row.workflow_id} cannot be told from a later case's; nothing erased`,
    );
  try {
    const description = await deps.temporal.workflow
      .getHandle(row.workflow_id, row.run_id)
      .describe();
    // Only a closed run is erased: a delete terminates an open one (running, or paused by an
    // operator) with nothing undone.
    if (!CLOSED_STATUSES.includes(description.status.name))
      throw new CaseStillOpenError(`case ${caseId} is still open; erase it once it has closed`);
  } catch (error) {
    // Gone already: a previous erasure deleted it and stopped before its commit.
    if (!isGone(error)) throw error;
  }
  // A reset leaves the first run terminated, closed, and the case going on in the run it made.
  await deleteCaseRuns(row.run_id);
  await deleteDeskRuns();

  const client = await deps.pool.connect();
  try {
    // READ COMMITTED whatever the database's default: under REPEATABLE READ the lock's
    // statement takes the snapshot before its wait, and the delete below would not see the
    // record of a read that held the row first.
    await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    // First the row's update lock: a read's access record, kept under a share lock on it
    // (api/access.ts), is then either in before the delete below or never kept.
    await client.query('SELECT 1 FROM cases WHERE case_id = $1 FOR UPDATE', [caseId]);
    await deleteRecords(client);
    // The applicant's token subject (an e-mail address, say) links a person to the unit: it
    // goes too, so the case no longer shows in their list or to them, only to supervisors.
    const updated = await client.query<{ erased_at: Date }>(
      'UPDATE cases SET erased_at = now(), applicant = NULL WHERE case_id = $1 RETURNING erased_at',
      [caseId],
    );
    await client.query('COMMIT');
    return { caseId, erasedAt: updated.rows[0]!.erased_at.toISOString(), erasedNow: true };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
