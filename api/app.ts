// buildApp(deps) builds the HTTP API; tests call it with app.inject(), main only listens.
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import type pg from 'pg';
import { z } from 'zod';
import { CaseApplication, caseWorkflowId } from '../domain/application.ts';
import { ORCHESTRATOR_TASK_QUEUE } from '../domain/agency.ts';
import { CaseConflictError, NotFoundError } from '../domain/errors.ts';
import { toBase64 } from '../ledger/bytes.ts';
import { entriesOfCase } from '../ledger/pg/reader.ts';
import { decideUpdate, resolveEscalationUpdate, statusQuery } from '../workflows/messages.ts';
import { Decision, EscalationAction } from '../domain/decisions.ts';
import { caseStatusKey } from '../workflows/searchAttributes.ts';
import type { jointTransferCase } from '../workflows/jointTransferCase.ts';
import { parseRequest, refusedUpdate, registerErrorHandler } from './errors.ts';
import { registerLedgerRoutes } from './ledgerRoutes.ts';
import { LogReader } from '../ledger/pg/logReader.ts';

export interface AppDeps {
  temporal: Client;
  pool: pg.Pool;
  logger?: boolean;
  /** Scales every case deadline (the demo and tests run the law's days in seconds). */
  timeScale?: number;
}

const CaseParams = z.object({ caseId: z.uuid('must be a case id (UUID)') });

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: deps.logger ?? false, bodyLimit: 64 * 1024 });
  registerErrorHandler(app);
  registerLedgerRoutes(app, new LogReader(deps.pool));

  app.post('/cases', async (request, reply) => {
    const application = parseRequest(CaseApplication, request.body, '');
    const caseId = randomUUID();
    const workflowId = caseWorkflowId(application.unitId);
    // The case row and the workflow start commit together: a refused start leaves no row.
    const client = await deps.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO cases (case_id, unit_id, workflow_id) VALUES ($1, $2, $3)', [
        caseId,
        application.unitId,
        workflowId,
      ]);
      let runId: string;
      try {
        const handle = await deps.temporal.workflow.start<typeof jointTransferCase>(
          'jointTransferCase',
          {
            taskQueue: ORCHESTRATOR_TASK_QUEUE,
            workflowId,
            args: [
              { caseId, application, ...(deps.timeScale ? { timeScale: deps.timeScale } : {}) },
            ],
            // One open case per property unit; a closed case's unit may be applied for again.
            workflowIdConflictPolicy: 'FAIL',
            workflowIdReusePolicy: 'ALLOW_DUPLICATE',
            typedSearchAttributes: [{ key: caseStatusKey, value: 'submitted' }],
          },
        );
        runId = handle.firstExecutionRunId;
      } catch (error) {
        if (error instanceof WorkflowExecutionAlreadyStartedError) {
          throw new CaseConflictError(`an open case already exists for unit ${application.unitId}`);
        }
        throw error;
      }
      await client.query('UPDATE cases SET run_id = $2 WHERE case_id = $1', [caseId, runId]);
      await client.query('COMMIT');
      return reply.code(201).send({ caseId, workflowId, runId });
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  });

  /** The case's workflow handle, or a 404 for a case this system never took. */
  async function caseHandle(caseId: string) {
    const { rows } = await deps.pool.query<{
      unit_id: string;
      workflow_id: string;
      run_id: string | null;
      created_at: Date;
      erased_at: Date | null;
    }>('SELECT unit_id, workflow_id, run_id, created_at, erased_at FROM cases WHERE case_id = $1', [
      caseId,
    ]);
    const row = rows[0];
    if (!row) throw new NotFoundError(`no case ${caseId}`);
    return {
      row,
      handle: deps.temporal.workflow.getHandle(row.workflow_id, row.run_id ?? undefined),
    };
  }

  app.get('/cases/:caseId/timeline', async (request) => {
    const { caseId } = parseRequest(CaseParams, request.params, '');
    const { row, handle } = await caseHandle(caseId);
    if (row.erased_at) {
      // Erased: the workflow history is gone; the signed entries (commitments only) remain.
      const entries = await entriesOfCase(deps.pool, caseId);
      return {
        caseId,
        unitId: row.unit_id,
        erasedAt: row.erased_at.toISOString(),
        workflowStatus: 'ERASED',
        phase:
          entries.find((e) => e.entry.statement.stepId === 'close')?.entry.statement.outcome ??
          null,
        steps: [],
        entries: entries.map((e) => ({ ...e.entry, leafHash: toBase64(e.leafHash) })),
      };
    }
    const [description, status, entries, notifications] = await Promise.all([
      handle.describe(),
      handle.query(statusQuery).catch(() => undefined),
      entriesOfCase(deps.pool, caseId),
      deps.pool.query<{
        party: string;
        kind: string;
        step_id: string;
        message: string;
        created_at: Date;
      }>(
        'SELECT party, kind, step_id, message, created_at FROM notifications WHERE case_id = $1 ORDER BY id',
        [caseId],
      ),
    ]);
    return {
      caseId,
      unitId: row.unit_id,
      workflowId: row.workflow_id,
      runId: row.run_id,
      submittedAt: row.created_at.toISOString(),
      workflowStatus: description.status.name,
      phase: status?.phase ?? null,
      overdue: status?.overdue ?? false,
      reason: status?.reason ?? null,
      steps: status?.steps ?? [],
      records: status?.records ?? [],
      escalations: status?.escalations ?? [],
      notifications: notifications.rows.map((n) => ({
        party: n.party,
        kind: n.kind,
        stepId: n.step_id,
        message: n.message,
        at: n.created_at.toISOString(),
      })),
      entries: entries.map((e) => ({ ...e.entry, leafHash: toBase64(e.leafHash) })),
    };
  });

  // An agency's signed decision on an open step (payment confirmed, arrears settled, review).
  app.post('/cases/:caseId/decisions', async (request) => {
    const { caseId } = parseRequest(CaseParams, request.params, '');
    const decision = parseRequest(Decision, request.body, '');
    const { handle } = await caseHandle(caseId);
    try {
      return await handle.executeUpdate(decideUpdate, { args: [decision] });
    } catch (error) {
      throw refusedUpdate(error, 'signed');
    }
  });

  // A supervisor's action on an escalated step: retry it, or resolve it by hand with a reason.
  app.post('/cases/:caseId/escalations', async (request) => {
    const { caseId } = parseRequest(CaseParams, request.params, '');
    const action = parseRequest(EscalationAction, request.body, '');
    const { handle } = await caseHandle(caseId);
    try {
      return await handle.executeUpdate(resolveEscalationUpdate, { args: [action] });
    } catch (error) {
      throw refusedUpdate(error, 'stepId');
    }
  });

  return app;
}
