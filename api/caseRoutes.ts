// The case routes for the three audiences: citizens apply, track, pay and see who read their
// data; officers work their agency's inbox; supervisors list, inspect and act. Each route
// names the roles it admits (api/auth.ts) and its schemas (api/schemas.ts).
import { randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { ORCHESTRATOR_TASK_QUEUE, type Agency } from '../domain/agency.ts';
import { CaseApplication, caseWorkflowId } from '../domain/application.ts';
import { takesDecision, type CaseStatus } from '../domain/caseStatus.ts';
import {
  allowedOutcomes,
  decidingAgency,
  deskWorkflowId,
  type Decision,
  type DeskRequest,
} from '../domain/decisions.ts';
import {
  CaseConflictError,
  KeyNotAuthorizedError,
  NotFoundError,
  UnknownKeyError,
} from '../domain/errors.ts';
import { jointTransferProcess } from '../domain/processGraph.ts';
import { viewFor } from '../domain/views.ts';
import type { LogReader } from '../ledger/pg/logReader.ts';
import { EvidenceBundle } from '../ledger/evidence.ts';
import { buildEvidenceBundle } from '../ledger/pg/evidence.ts';
import type { TrustFile } from '../ledger/trust.ts';
import { LruMap } from '../ledger/lruMap.ts';
import { CaseEntries, type StoredEntry } from '../ledger/pg/reader.ts';
import { fromUtf8, utf8 } from '../ledger/bytes.ts';
import { opensCommitment, verifyStatementSignature } from '../ledger/statement.ts';
import type { SignedStatement } from '../domain/statement.ts';
import { KeyRegistry } from '../ledger/pg/keyRegistry.ts';
import type { agencyDecision } from '../workflows/agencyDecision.ts';
import type { safetyInspection } from '../workflows/safetyInspection.ts';
import { inspectionWorkflowId, type SafetyInspection } from '../domain/inspections.ts';
import type { jointTransferCase } from '../workflows/jointTransferCase.ts';
import { decideUpdate, resolveEscalationUpdate, statusQuery } from '../workflows/messages.ts';
import { caseStatusKey } from '../workflows/searchAttributes.ts';
import { accessLogOf, accessRecordsOf, type RecordAccess } from './access.ts';
import { actorOf, ForbiddenError, type Principal, type Role } from './auth.ts';
import {
  CaseList,
  CaseListQuery,
  PageQuery,
  casesOfRows,
  listCases,
  listRuns,
  RESET_SHOWN_WITHIN_MS,
  type ListDeps,
  RUN_FACTS_KEPT,
  NOT_A_PAGE_TOKEN,
  openPageToken,
  visibilityQuery,
  type PageTokens,
} from './caseList.ts';
import {
  isUnavailable,
  RateLimitedError,
  refusedInspection,
  refusedUpdate,
  updateNotTaken,
  RequestValidationError,
  ServiceUnavailableError,
  StateConflictError,
  UpdateRefusedError,
} from './errors.ts';
import { listEscalations } from './escalations.ts';
import {
  AccessLog,
  CaseApplicationRequest,
  CaseCreated,
  CaseParams,
  CaseView,
  DecisionApplied,
  DecisionRequest,
  EscalationApplied,
  EscalationRequest,
  Escalations,
  Inbox,
  InspectionRecorded,
  InspectionRequest,
  OfficerView,
  PaymentRequest,
  NoQuery,
  PurposeQuery,
  Timeline,
} from './schemas.ts';

export interface CaseRouteDeps {
  /** What verifiers trust: the keys an evidence bundle carries. */
  trust?: TrustFile | (() => Promise<TrustFile>);
  temporal: Client;
  pool: pg.Pool;
  reader: LogReader;
  namespace: string;
  recordAccess: RecordAccess;
  /** Seals the case list's page tokens (api/caseList.ts). */
  pageTokens: PageTokens;
  timeScale?: number;
  /** How long an Update may take before the API answers 503; UPDATE_DEADLINE_MS unless set. */
  updateDeadlineMs?: number;
  /** Checks the bearer token and the role; sets request.principal (api/app.ts). */
  authorize: (roles: readonly Role[]) => (request: FastifyRequest) => Promise<void>;
  /** Cases one citizen may apply for in any 24 hours (api/app.ts CallerLimits). */
  casesPerDay: number;
}

export interface CaseRow {
  case_id: string;
  unit_id: string;
  workflow_id: string;
  run_id: string | null;
  applicant: string | null;
  created_at: Date;
  erased_at: Date | null;
}

const BEARER = [{ bearerAuth: [] }];

/**
 * How long the API waits for a case to take an Update (a decision, a supervisor's action):
 * the client sends one again until a worker accepts it, so while the case's workers are down a
 * request would wait for good, holding its caller and a socket. Past it, 503 (refusedUpdate).
 */
export const UPDATE_DEADLINE_MS = 30_000;

/** Sends of an Update the server aborted before the case took it (withinUpdateDeadline). */
const UPDATE_ATTEMPTS = 4;

/** Temporal's closed statuses that end a run for good (not ContinuedAsNew: a new run follows). */
/**
 * For the two largest answers (a case view, a timeline: ~49 kB for 30 entries), built here from
 * typed values: serialised as they are, without the zod serialiser's second walk through them
 * (~15 % of a timeline read's CPU). frontDoors.test.ts holds each served body to its schema.
 */
const AS_BUILT = { serializerCompiler: () => (data: unknown) => JSON.stringify(data) };

/**
 * A hash in base64, encoded once per hash object: a timeline sends a hash for each entry and
 * for each node of its proofs (~450 for 30 entries), and the entry and node caches hand out
 * the same objects read after read, so nearly every one is encoded already. By Node's Buffer,
 * several times faster than the portable ledger/bytes.ts toBase64.
 */
function base64(hash: Uint8Array, encoded: WeakMap<Uint8Array, string>): string {
  let text = encoded.get(hash);
  if (text === undefined) {
    text = Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('base64');
    encoded.set(hash, text);
  }
  return text;
}

/** The workflow memo field naming the citizen who started the case. */
const APPLICANT_MEMO = 'applicant';

const CLOSED_CASES_KEPT = 10_000;
/** How many resets of one case a read follows (each made by hand, by an operator). */
const MAX_RESETS_FOLLOWED = 20;

/** The workflow status shown once Temporal no longer keeps the case's closed run (retention). */
const HISTORY_DELETED = 'HISTORY_DELETED';
/** ... for a row without a run id whose workflow id's run is another case's (claimUnanswered). */
const RUN_UNKNOWN = 'RUN_UNKNOWN';

/** The case's run as read: Temporal's status name (or one of the two above) and its status. */
interface Workflow {
  workflowStatus: string;
  status: CaseStatus | undefined;
}

/** The case's close entry (its summary, signed when the case ended), if the ledger has it. */
const closeOf = (stored: readonly StoredEntry[]) =>
  stored.find((e) => e.entry.statement.stepId === 'close')?.entry;

function principalOf(request: FastifyRequest): Principal {
  const principal = request.principal;
  // authorize() ran as this route's onRequest hook; without it the route is misconfigured.
  if (!principal) throw new Error('route without authorize()');
  return principal;
}

/** Steps a person decides, by agency: the human review steps of the process. */
const HUMAN_STEPS: Record<Agency, readonly string[]> = {
  housing: [],
  tax: [],
  registry: ['review'],
  electricity: [],
  water: [],
  gas: [],
};

export function registerCaseRoutes(parent: FastifyInstance, deps: CaseRouteDeps): void {
  const app = parent.withTypeProvider<ZodTypeProvider>();
  const { temporal, pool } = deps;
  const listDeps: ListDeps = {
    temporal,
    pool,
    namespace: deps.namespace,
    pageTokens: deps.pageTokens,
    runFacts: new LruMap(RUN_FACTS_KEPT),
    warn: (fields, message) => app.log.warn(fields, message),
  };
  const keyRegistry = new KeyRegistry(pool);
  const caseEntries = new CaseEntries(pool);
  const encoded = new WeakMap<Uint8Array, string>();

  async function caseRow(caseId: string): Promise<CaseRow> {
    // Named: PostgreSQL parses and plans each hot read once per connection, not per request.
    const { rows } = await pool.query<CaseRow>({
      name: 'case-row',
      text: 'SELECT case_id, unit_id, workflow_id, run_id, applicant, created_at, erased_at FROM cases WHERE case_id = $1',
      values: [caseId],
    });
    const row = rows[0];
    if (!row) throw new NotFoundError(`no case ${caseId}`, 'caseId');
    return row;
  }

  /** The case row, if `principal` may see it: the applicant, or a supervisor. */
  async function visibleCase(caseId: string, principal: Principal): Promise<CaseRow> {
    const row = await caseRow(caseId);
    if (principal.role === 'supervisor') return row;
    if (principal.role === 'citizen' && row.applicant === principal.sub) return row;
    // Same answer as for a case that does not exist: ids of others' cases are not confirmed.
    throw new NotFoundError(`no case ${caseId}`, 'caseId');
  }

  /**
   * The case row and its application (personal data; none once erased) in one query, for a
   * caller who may read both whatever the case (a supervisor).
   */
  async function caseWithApplication(
    caseId: string,
  ): Promise<{ row: CaseRow; application: CaseApplication | undefined }> {
    const { rows } = await pool.query<CaseRow & { application: unknown }>({
      name: 'case-row-application',
      text: `SELECT c.case_id, c.unit_id, c.workflow_id, c.run_id, c.applicant, c.created_at, c.erased_at, s.application
               FROM cases c LEFT JOIN case_secrets s USING (case_id) WHERE c.case_id = $1`,
      values: [caseId],
    });
    if (!rows[0]) throw new NotFoundError(`no case ${caseId}`, 'caseId');
    const { application, ...row } = rows[0];
    return { row, application: applicationFrom(row, application) };
  }

  /**
   * The stored application, unless the case was erased or none is stored. As the intake
   * stored it: one taken under earlier input rules (before unit ids were capitals only, say)
   * is still the case's application, not none.
   */
  function applicationFrom(row: CaseRow, stored: unknown): CaseApplication | undefined {
    if (row.erased_at || stored == null || typeof stored !== 'object') return undefined;
    return CaseApplication.safeParse(stored).data ?? (stored as CaseApplication);
  }

  /** The case's application (personal data), unless it was erased. */
  async function applicationOf(row: CaseRow): Promise<CaseApplication | undefined> {
    if (row.erased_at) return undefined;
    const { rows } = await pool.query<{ application: unknown }>({
      name: 'case-application',
      text: 'SELECT application FROM case_secrets WHERE case_id = $1',
      values: [row.case_id],
    });
    return applicationFrom(row, rows[0]?.application);
  }

  /**
   * The case's run, or, for a row without a run id (a submission the API never answered),
   * the workflow id's latest run, which may be a later case of the same unit: reads check
   * the case id it reports (statusOf), actions refuse such a row (runHandle).
   */
  const handleOf = (row: CaseRow, runId = row.run_id ?? undefined) =>
    temporal.workflow.getHandle(row.workflow_id, runId);

  /**
   * The case's current run, for an action: the newest run of the chain its first run began,
   * that run itself unless a reset (an operator's repair, which terminates the run and goes on
   * in a new one with the same input) made another. Temporal refuses an Update for it when the
   * workflow id's newest run is of another chain (a later case of the unit): the case is closed.
   * @throws StateConflictError for a row without a run id.
   */
  function runHandle(row: CaseRow) {
    if (!row.run_id)
      throw new StateConflictError(
        'caseId',
        `case ${row.case_id} has no confirmed workflow run (its submission was never answered), ` +
          'so it takes no decisions or escalations; nothing changed',
      );
    return temporal.workflow.getHandle(row.workflow_id, undefined, {
      firstExecutionRunId: row.run_id,
    });
  }

  /**
   * The description of the case's current run: the workflow id's newest run when it is the
   * case's first run or one a reset made of it (its chain's first run is the case's). Else
   * (a later case of the unit followed, or the newest run was deleted) the case's own run, or
   * the last run its resets made, each reset run naming the next (resetRunId).
   * A row without a run id: the newest run, which reads check by case id (statusOf).
   */
  async function describeCase(row: CaseRow) {
    if (!row.run_id) return handleOf(row).describe();
    try {
      const newest = await temporal.workflow.getHandle(row.workflow_id).describe();
      if (
        newest.runId === row.run_id ||
        newest.raw.workflowExecutionInfo?.firstRunId === row.run_id
      )
        return newest;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
    let description = await handleOf(row).describe();
    for (let reset = 0; reset < MAX_RESETS_FOLLOWED; reset++) {
      const next = description.raw.workflowExtendedInfo?.resetRunId;
      if (!next || next === description.runId) break;
      try {
        description = await handleOf(row, next).describe();
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
        break;
      }
    }
    return description;
  }

  /**
   * The case's status; undefined once erased, once Temporal no longer keeps the run, or when
   * a row without a run id resolves to another case's run. A completed case returned the
   * status its query shows, so it is read from the close event (one history read, ~2 ms); a
   * query of a closed case replays its whole history on a worker (~140 ms each in
   * bench/api.ts on 2 cores). `runId`: the run to ask (the one the case goes on in: described
   * by workflowOf, or listed by the inbox and the escalations), else the case's first run.
   * @throws ServiceUnavailableError when Temporal or its workers cannot answer now.
   */
  async function statusOf(
    row: CaseRow,
    workflowStatus?: string,
    runId?: string,
  ): Promise<CaseStatus | undefined> {
    if (row.erased_at) return undefined;
    const handle = handleOf(row, runId);
    let status: CaseStatus;
    try {
      status = await (workflowStatus === 'COMPLETED'
        ? (handle.result() as ReturnType<typeof jointTransferCase>)
        : handle.query(statusQuery));
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      // Nobody could answer now, which says nothing about the case's steps.
      if (isUnavailable(error))
        throw new ServiceUnavailableError(
          `case ${row.case_id} could not be reached; try again shortly`,
        );
      // The run itself cannot answer (a workflow task failing until someone fixes it): the
      // case is shown from the ledger, without its steps, rather than not at all.
      return undefined;
    }
    return row.run_id || status.caseId === row.case_id ? status : undefined;
  }

  /**
   * A completed case does not change again unless an operator resets it (Temporal keeps a
   * closed run as it ended), so its state is read once per process and kept for
   * `RESET_SHOWN_WITHIN_MS`: reads meanwhile (a page polling it) ask Temporal nothing. Other
   * cases are always asked. Up to `CLOSED_CASES_KEPT`, the least recently read dropped first.
   */
  const closedCases = new LruMap<
    string,
    { workflowStatus: string; status: CaseStatus; keptUntil: number }
  >(CLOSED_CASES_KEPT);
  async function workflowOf(row: CaseRow): Promise<Workflow> {
    const id = `${row.workflow_id}/${row.run_id ?? ''}`;
    const kept = closedCases.get(id);
    if (kept && Date.now() < kept.keptUntil)
      return { workflowStatus: kept.workflowStatus, status: kept.status };
    let description: Awaited<ReturnType<typeof describeCase>>;
    try {
      description = await describeCase(row);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError)
        return { workflowStatus: HISTORY_DELETED, status: undefined };
      throw error;
    }
    const status = await statusOf(row, description.status.name, description.runId);
    // Without a run id, a run that does not report this case is another case's.
    if (!status && !row.run_id) return { workflowStatus: RUN_UNKNOWN, status: undefined };
    const workflowStatus = description.status.name;
    // Only a completed case: one that failed, was terminated or timed out is what an operator
    // resets most, and it then goes on in a new run.
    if (status && row.run_id && workflowStatus === 'COMPLETED')
      closedCases.set(id, {
        workflowStatus,
        status,
        keptUntil: Date.now() + RESET_SHOWN_WITHIN_MS,
      });
    return { workflowStatus, status };
  }
  /**
   * The status of the run the case goes on in (workflowOf): a run a reset terminated still
   * shows steps open. Undefined once erased.
   */
  async function currentStatusOf(row: CaseRow): Promise<CaseStatus | undefined> {
    return row.erased_at ? undefined : (await workflowOf(row)).status;
  }

  /**
   * A supervisor's GET /cases/:caseId: the case's progress, not logged, so without what only
   * the timeline shows, as a logged read: the deciders' reasons (they may name people,
   * domain/decisions.ts), the case's reason (it quotes them), the amounts due (they would
   * tell the price) and the notes of resolutions by hand. The applicant sees their own case
   * whole.
   */
  function progressOnly(view: CaseView): CaseView {
    return {
      ...view,
      reason: null,
      steps: view.steps.map(({ reason: _reason, amountDueCents: _amount, ...step }) => step),
      escalations: view.escalations.map(({ resolution: _resolution, ...escalation }) => escalation),
      due: view.due.map((due) => ({ ...due, amountCents: null })),
    };
  }

  /**
   * What GET /cases/:caseId shows; the timeline adds personal data and proofs to it.
   * `workflow`: the run's state when the caller read it already.
   */
  async function caseView(
    row: CaseRow,
    workflow?: Workflow,
  ): Promise<{ view: CaseView; stored: StoredEntry[] }> {
    const entriesOf = (stored: StoredEntry[]) =>
      stored.map((e) => ({ ...e.entry, leafHash: base64(e.leafHash, encoded) }));
    if (row.erased_at) {
      // What this process kept of the case while it was closed goes with the erasure.
      closedCases.delete(`${row.workflow_id}/${row.run_id ?? ''}`);
      const stored = await caseEntries.of(row.case_id);
      const entries = entriesOf(stored);
      // Erased: the workflow history is gone; the signed entries (commitments only) remain.
      return {
        stored,
        view: {
          caseId: row.case_id,
          unitId: row.unit_id,
          submittedAt: row.created_at.toISOString(),
          erasedAt: row.erased_at.toISOString(),
          workflowStatus: 'ERASED',
          phase: closeOf(stored)?.statement.outcome ?? null,
          overdue: false,
          reason: null,
          steps: [],
          records: [],
          escalations: [],
          notifications: [],
          due: [],
          entries,
        },
      };
    }
    // The workflow first, the ledger after: a step's entry is committed before the workflow
    // learns its result, so every step the status reports done already has its entry here.
    const { workflowStatus, status } = workflow ?? (await workflowOf(row));
    const [stored, notifications] = await Promise.all([
      caseEntries.of(row.case_id),
      pool.query<{
        party: string;
        kind: string;
        step_id: string;
        message: string;
        created_at: Date;
      }>({
        name: 'case-notifications',
        text: 'SELECT party, kind, step_id, message, created_at FROM notifications WHERE case_id = $1 ORDER BY id',
        values: [row.case_id],
      }),
    ]);
    const entries = entriesOf(stored);
    const steps = status?.steps ?? [];
    const due = steps.flatMap((step) => {
      if (step.kind !== 'wait' || !takesDecision(step)) return [];
      const agency = decidingAgency(step.stepId);
      if (!agency) return [];
      // From the case's status: the amounts stay off the ledger (they would tell the price).
      const amountCents = step.amountDueCents ?? null;
      return [{ stepId: step.stepId, agency, amountCents, deadlineAt: step.deadlineAt ?? null }];
    });
    return {
      stored,
      view: {
        caseId: row.case_id,
        unitId: row.unit_id,
        submittedAt: row.created_at.toISOString(),
        erasedAt: null,
        workflowStatus,
        // Without the run's status (its history is gone), the close entry still tells.
        phase: status?.phase ?? closeOf(stored)?.statement.outcome ?? null,
        overdue: status?.overdue ?? false,
        reason: status?.reason ?? null,
        steps,
        records: status?.records ?? [],
        escalations: status?.escalations ?? [],
        notifications: notifications.rows.map((n) => ({
          party: n.party,
          kind: n.kind,
          stepId: n.step_id,
          message: n.message,
          at: n.created_at.toISOString(),
        })),
        due,
        entries,
      },
    };
  }

  /**
   * Refuses at once a person's decision on a step the case is not waiting for, before any
   * agency is asked to sign it: nothing is signed, no workflow starts, and a step of an
   * agency the case does not involve never waits on that agency's worker. The case's own
   * validator stays the authority (a step may close between this check and the update).
   * With `agency` (an officer's), a case that agency has no step in looks like no case, as
   * on the view route: whether it exists, and in what state, is not theirs to learn.
   */
  async function requireOpenStep(row: CaseRow, stepId: string, agency?: Agency): Promise<void> {
    let status: CaseStatus | undefined;
    /** A later case of the unit followed this one, so this one is closed. */
    let followed = false;
    if (!row.erased_at) {
      const current = runHandle(row);
      try {
        // The newest run of the workflow id: the case's current one, unless a later case of
        // the unit followed it. Then the case is closed, whatever its own run last showed (a
        // run a reset terminated still shows the state it was in); that run answers only
        // whether an officer's agency has a step in it.
        status = await current.query(statusQuery);
        if (status.caseId !== row.case_id) {
          followed = true;
          // A run that cannot answer (one reset because it could not) has shown no step.
          status = agency
            ? await handleOf(row)
                .query(statusQuery)
                .catch(() => undefined)
            : undefined;
        }
      } catch (error) {
        // An officer (`agency` given) learns no more of a case their agency may have no step
        // in than of one that does not exist.
        if (error instanceof WorkflowNotFoundError)
          throw new NotFoundError(
            agency ? `no case ${row.case_id}` : `case ${row.case_id} is no longer kept`,
            'caseId',
          );
        // A closed case answers too (Temporal replays it): a failure means nobody could answer
        // now, which says nothing about whether the step is open.
        throw new ServiceUnavailableError(
          `case ${row.case_id} could not be reached; try again shortly`,
        );
      }
    }
    if (agency && !status?.steps.some((s) => s.agency === agency))
      throw new NotFoundError(`no case ${row.case_id}`, 'caseId');
    // A closed case is a state the action conflicts with (409 naming the case), as when it
    // closes before the action reaches it (refusedUpdate), not a refused message (422).
    if (!status || followed || status.phase !== 'running')
      throw new StateConflictError(
        'caseId',
        `case ${row.case_id} is ${(!followed && status?.phase) || 'closed'}: it takes no more decisions`,
      );
    const step = status.steps.find((s) => s.stepId === stepId);
    if (!step) throw new UpdateRefusedError('stepId', `case ${row.case_id} has no step ${stepId}`);
    if (!takesDecision(step))
      throw new UpdateRefusedError('stepId', `step ${stepId} is not open (it is ${step.status})`);
  }

  /**
   * A decision an agency's own system signed is checked here as the ledger will check it (the
   * key registered for the agency, not revoked, valid when issued; the signature): one the
   * ledger would refuse never reaches the case, whose history every refused Update grows, so a
   * system retrying with a wrong key could fill it. The ledger still has the last word.
   * @throws UpdateRefusedError naming `signed`.
   */
  async function requireAgencySignature(signed: SignedStatement, agency: Agency): Promise<void> {
    const { keyId, issuedAt } = signed.statement;
    let publicKey: Uint8Array;
    try {
      ({ publicKey } = await keyRegistry.authorize(keyId, agency, issuedAt));
    } catch (error) {
      if (error instanceof UnknownKeyError || error instanceof KeyNotAuthorizedError)
        throw new UpdateRefusedError('signed', `${error.name}: ${error.message}`);
      throw error;
    }
    if (!verifyStatementSignature(signed, publicKey))
      throw new UpdateRefusedError(
        'signed',
        `BadSignatureError: the signature does not verify under ${keyId}`,
      );
  }

  /**
   * `send`, an Update of a case, bounded by the Update deadline (every gRPC call it makes), and
   * sent again, up to UPDATE_ATTEMPTS times within it, while the server aborts it because the
   * workflow task carrying it failed (updateNotTaken: nothing applied; such a task fails now
   * and then under load, sdk-core's race in the README).
   */
  const withinUpdateDeadline = <T>(send: () => Promise<T>): Promise<T> =>
    temporal.withDeadline(Date.now() + (deps.updateDeadlineMs ?? UPDATE_DEADLINE_MS), async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await send();
        } catch (error) {
          if (attempt === UPDATE_ATTEMPTS || !updateNotTaken(error)) throw error;
          await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
        }
      }
    });

  /** Has the owning agency sign `request` on its own worker (workflow agencyDecision). */
  async function signAtAgency(request: DeskRequest): Promise<Decision> {
    try {
      return await temporal.workflow.execute<typeof agencyDecision>('agencyDecision', {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId: deskWorkflowId(request.caseId, request.stepId, randomUUID()),
        args: [request],
        workflowExecutionTimeout: '1 minute',
      });
    } catch (error) {
      throw refusedUpdate(error, 'stepId');
    }
  }

  /**
   * Sends a signed decision to the case; a refusal names `field` (what the caller got wrong).
   * A decision whose opening does not open its statement's commitment is refused first
   * (400 naming `opening`), then one `signedByItself` (that agency's own system signed it)
   * that the ledger would refuse (422 naming `signed`): nothing reaches the case.
   */
  async function applyDecision(
    row: CaseRow,
    decision: Decision,
    field = 'stepId',
    signedByItself?: Agency,
  ) {
    const mismatch = openingMismatch(decision);
    if (mismatch) throw new RequestValidationError([{ field: 'opening', reason: mismatch }]);
    if (signedByItself) await requireAgencySignature(decision.signed, signedByItself);
    const handle = runHandle(row);
    try {
      const applied = await withinUpdateDeadline(() =>
        handle.executeUpdate(decideUpdate, { args: [decision] }),
      );
      return { stepId: decision.stepId, ledgerIndex: applied.ledgerIndex };
    } catch (error) {
      throw refusedUpdate(error, field);
    }
  }

  /**
   * Refuses a submission past the citizen's cases a day (`casesPerDay`): the cases they
   * applied for in the last 24 hours, counted in the case store, so every API process counts
   * them all and a restart forgets none, and a submission refused or failed counts for
   * nothing. An erased case, whose applicant is gone, counts no more.
   * @throws RateLimitedError saying when the oldest of them leaves the 24 hours.
   */
  async function requireSubmissionAllowed(applicant: string): Promise<void> {
    // The most recent `casesPerDay` of them at most: a count past the limit says no more, and
    // the oldest of those is the one whose leaving lets another in.
    const { rows } = await pool.query<{ submitted: number; retry_ms: string | null }>(
      `SELECT count(*)::int AS submitted,
              extract(epoch FROM min(created_at) + interval '24 hours' - now()) * 1000 AS retry_ms
         FROM (SELECT created_at FROM cases
                WHERE applicant = $1 AND created_at > now() - interval '24 hours'
                ORDER BY created_at DESC LIMIT $2) recent`,
      [applicant, deps.casesPerDay],
    );
    const { submitted, retry_ms: retryMs } = rows[0] ?? { submitted: 0, retry_ms: null };
    // Submissions of this process not yet in the store (their rows come after the start):
    // sent at once, they would all see the same count.
    if (submitted + (submitting.get(applicant) ?? 0) >= deps.casesPerDay)
      throw new RateLimitedError(
        deps.casesPerDay,
        submitted >= deps.casesPerDay ? Number(retryMs ?? 0) : 1000,
        'cases submitted by this citizen',
        'a day',
      );
  }
  /** Each citizen's submissions in flight in this process, counted until their row is written. */
  const submitting = new Map<string, number>();
  const countSubmitting = (applicant: string, by: 1 | -1) => {
    const now = (submitting.get(applicant) ?? 0) + by;
    if (now > 0) submitting.set(applicant, now);
    else submitting.delete(applicant);
  };

  /**
   * The open case a submission started but never answered for: the API died, or PostgreSQL
   * failed, between the workflow's start and the commit of its row, so the row the case's
   * intake wrote has no applicant and no one could see or pay the case. The same citizen (the
   * one the start recorded in the workflow's memo, encrypted like every payload) sending the
   * same application again claims it; anyone else, or any failure here, gets a plain conflict.
   * So does a retry of a submission whose answer alone was lost: the row is theirs already,
   * and they get their case back, not a conflict with it, once its intake has stored the
   * application to compare with. A retry by the same citizen before that (the usual one: sent
   * again at once) is told to send it again shortly (503): whether it is the same application
   * is not known yet, and a conflict would tell them their own case is someone else's.
   * `openOnly`: none once the unit's run has closed (a start refused for the unit's open case
   * needs no such check).
   */
  async function claimUnanswered(
    applicant: string,
    application: CaseApplication,
    workflowId: string,
    { openOnly = false } = {},
  ): Promise<{ caseId: string; workflowId: string; runId: string } | undefined> {
    const takenIn = new ServiceUnavailableError(
      `your application for unit ${application.unitId} is still being taken in: send it again in a few seconds`,
    );
    try {
      const handle = temporal.workflow.getHandle<typeof jointTransferCase>(workflowId);
      const description = await handle.describe();
      if (openOnly && description.status.name !== 'RUNNING') return undefined;
      if (description.memo?.[APPLICANT_MEMO] !== applicant) return undefined;
      // The row keeps the case's first run (actions go to the newest of its chain): the run
      // the submission started, even if a reset has made another since.
      const firstRunId = description.raw.workflowExecutionInfo?.firstRunId || description.runId;
      // The case's id: from its status, or, while the run cannot answer (its first workflow
      // task failed and is retried), from the row the API or the intake wrote for this run.
      const caseId = await handle.query(statusQuery).then(
        (status) => status.caseId,
        async (error: unknown) => {
          if (isUnavailable(error)) throw error;
          const { rows } = await pool.query<{ case_id: string }>(
            'SELECT case_id FROM cases WHERE run_id = $1',
            [firstRunId],
          );
          return rows[0]?.case_id;
        },
      );
      // Nothing of the case is recorded yet.
      if (caseId === undefined) throw takenIn;
      const { rows } = await pool.query<{ case_id: string; run_id: string }>(
        `UPDATE cases c SET applicant = $1, run_id = coalesce(c.run_id, $2) FROM case_secrets s
          WHERE c.case_id = $3 AND (c.applicant IS NULL OR c.applicant = $1) AND c.erased_at IS NULL
            AND s.case_id = c.case_id AND s.application = $4::jsonb
          RETURNING c.case_id, c.run_id`,
        [applicant, firstRunId, caseId, JSON.stringify(application)],
      );
      if (rows[0]) return { caseId, workflowId, runId: rows[0].run_id };
      // Told apart by what the intake writes: until it has stored the application, whether
      // this is the same one is not known.
      const stored = await pool.query('SELECT 1 FROM case_secrets WHERE case_id = $1', [caseId]);
      if (stored.rowCount === 0) throw takenIn;
      return undefined;
    } catch (error) {
      // Not knowing whose the open case is now is an outage (503), not an answer (409).
      if (error === takenIn || isUnavailable(error)) throw error;
      return undefined;
    }
  }

  app.post(
    '/cases',
    {
      onRequest: deps.authorize(['citizen']),
      schema: {
        summary: 'Apply once: start a joint transfer case',
        tags: ['citizen'],
        security: BEARER,
        querystring: NoQuery,
        body: CaseApplicationRequest,
        response: { 201: CaseCreated },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const application = request.body;
      const caseId = randomUUID();
      const workflowId = caseWorkflowId(application.unitId);
      // The workflow first, holding no database connection while Temporal answers (its
      // client retries for half a minute when Temporal is away, and submissions waiting so
      // held the whole pool, the access log's appends included); then the row. A refused
      // start leaves no row. A row lost after the start (the API dies, PostgreSQL fails) is
      // the one the case's intake writes, without an applicant, which the same citizen
      // sending the same application claims (claimUnanswered).
      // PostgreSQL first asked, as when the row came first: while it is away a submission is a
      // 503 with nothing started, not a case whose row cannot be written.
      try {
        await requireSubmissionAllowed(principal.sub);
      } catch (error) {
        // At the limit, a retry whose first answer was lost still gets its open case back, as
        // when its start is refused for the unit (submit); nothing new is started.
        if (!(error instanceof RateLimitedError)) throw error;
        const unanswered = await claimUnanswered(principal.sub, application, workflowId, {
          openOnly: true,
        }).catch(() => undefined);
        if (unanswered) return reply.code(201).send(unanswered);
        throw error;
      }
      countSubmitting(principal.sub, 1);
      try {
        return reply.code(201).send(await submit(principal.sub, application, caseId, workflowId));
      } finally {
        countSubmitting(principal.sub, -1);
      }
    },
  );

  /**
   * Starts the case's workflow, then writes its row (see POST /cases); a start refused for an
   * open case of the unit is the applicant's own unanswered one, or a conflict.
   */
  async function submit(
    applicant: string,
    application: CaseApplication,
    caseId: string,
    workflowId: string,
  ): Promise<{ caseId: string; workflowId: string; runId: string }> {
    let runId: string;
    try {
      const handle = await temporal.workflow.start<typeof jointTransferCase>('jointTransferCase', {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId,
        args: [{ caseId, application, ...(deps.timeScale ? { timeScale: deps.timeScale } : {}) }],
        // One open case per property unit; a closed case's unit may be applied for again.
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        typedSearchAttributes: [{ key: caseStatusKey, value: 'submitted' }],
        // Who applied, should the answer be lost before the row commits (claimUnanswered).
        memo: { [APPLICANT_MEMO]: applicant },
      });
      runId = handle.firstExecutionRunId;
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        const unanswered = await claimUnanswered(applicant, application, workflowId);
        if (unanswered) return unanswered;
        throw new CaseConflictError(`an open case already exists for unit ${application.unitId}`);
      }
      throw error;
    }
    // The intake may have written the row already (its case id is this fresh one alone).
    await pool.query(
      `INSERT INTO cases (case_id, unit_id, workflow_id, applicant, run_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (case_id) DO UPDATE SET applicant = EXCLUDED.applicant,
           run_id = coalesce(cases.run_id, EXCLUDED.run_id)
         WHERE cases.applicant IS NULL AND cases.erased_at IS NULL`,
      [caseId, application.unitId, workflowId, applicant, runId],
    );
    return { caseId, workflowId, runId };
  }

  /** Where a citizen's page starts: the (created_at, case_id) its token sealed for `list`. */
  const citizenPageStart = (list: string, text: string): [string, string] => {
    const start: unknown = JSON.parse(fromUtf8(openPageToken(deps.pageTokens, list, text)));
    if (
      !Array.isArray(start) ||
      start.length !== 2 ||
      !start.every((part) => typeof part === 'string')
    )
      throw new RequestValidationError(NOT_A_PAGE_TOKEN);
    return start as [string, string];
  };

  app.get(
    '/cases',
    {
      onRequest: deps.authorize(['citizen', 'supervisor']),
      schema: {
        summary: "A citizen's own cases; for supervisors every case, filtered and paged",
        tags: ['citizen', 'supervisor'],
        security: BEARER,
        querystring: CaseListQuery,
        response: { 200: CaseList },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { pageSize, pageToken, ...filters } = request.query;
      if (principal.role === 'supervisor')
        return listCases(listDeps, visibilityQuery(filters), pageSize, pageToken);
      if (Object.keys(filters).length > 0)
        throw new ForbiddenError('filters are for supervisors', Object.keys(filters)[0]);
      // A citizen's list comes from the case table (authoritative and immediate); visibility,
      // which lags a little, adds each case's status once it has it. Newest first, paged by
      // where the last page ended: (created_at, case_id), sealed for this citizen's list alone.
      const list = `citizen ${principal.sub}`;
      const after = pageToken === undefined ? undefined : citizenPageStart(list, pageToken);
      const { rows: found } = await pool.query<CaseRow & { created_key: string }>(
        `SELECT case_id, unit_id, workflow_id, run_id, applicant, created_at, erased_at,
                created_at::text AS created_key
           FROM cases
          WHERE applicant = $1
            AND ($3::timestamptz IS NULL OR (created_at, case_id) < ($3::timestamptz, $4::text))
          ORDER BY created_at DESC, case_id DESC LIMIT $2`,
        [principal.sub, pageSize + 1, after?.[0] ?? null, after?.[1] ?? null],
      );
      const rows = found.slice(0, pageSize);
      const last = rows.at(-1);
      const nextPageToken =
        found.length > pageSize && last
          ? deps.pageTokens.seal(list, utf8(JSON.stringify([last.created_key, last.case_id])))
          : null;
      // An erased case's runs are deleted: nothing to look for.
      const known = await casesOfRows(
        listDeps,
        rows.filter((r) => !r.erased_at),
      );
      const byId = new Map(known.map((c) => [c.caseId, c]));
      // A case visibility does not know yet (just submitted) or any more (Temporal's retention
      // deleted its closed run): its close entry, if the ledger has one, says how it ended.
      const closes = new Map(
        await Promise.all(
          rows
            .filter((r) => !byId.has(r.case_id) && !r.erased_at)
            .map(async (r) => [r.case_id, closeOf(await caseEntries.of(r.case_id))] as const),
        ),
      );
      return {
        cases: rows.map((r) => {
          const close = closes.get(r.case_id);
          return (
            byId.get(r.case_id) ?? {
              caseId: r.case_id,
              unitId: r.unit_id,
              status: r.erased_at ? 'erased' : (close?.statement.outcome ?? 'submitted'),
              currentSteps: [],
              agencies: [],
              overdue: false,
              submittedAt: r.created_at.toISOString(),
              closedAt: close?.sequencedAt ?? null,
            }
          );
        }),
        nextPageToken,
      };
    },
  );

  app.get(
    '/cases/:caseId',
    {
      onRequest: deps.authorize(['citizen', 'supervisor']),
      schema: {
        summary:
          'Track a case: steps, deadlines, amounts due and signed entries (a supervisor: the progress alone, without reasons or amounts)',
        tags: ['citizen', 'supervisor'],
        security: BEARER,
        querystring: NoQuery,
        params: CaseParams,
        response: { 200: CaseView },
      },
      ...AS_BUILT,
    },
    async (request) => {
      const principal = principalOf(request);
      const row = await visibleCase(request.params.caseId, principal);
      const { view } = await caseView(row);
      return principal.role === 'supervisor' ? progressOnly(view) : view;
    },
  );

  app.get(
    '/cases/:caseId/timeline',
    {
      onRequest: deps.authorize(['supervisor']),
      schema: {
        summary: 'The full timeline with personal data and inclusion proofs (the read is logged)',
        tags: ['supervisor'],
        security: BEARER,
        params: CaseParams,
        querystring: PurposeQuery,
        response: { 200: Timeline },
      },
      ...AS_BUILT,
    },
    async (request) => {
      const principal = principalOf(request);
      // Only supervisors get here (authorize above), and they may read every case.
      const { row, application } = await caseWithApplication(request.params.caseId);
      // Temporal first: a read it cannot answer (an outage) returns nothing, so is not recorded.
      const workflow = row.erased_at ? undefined : await workflowOf(row);
      // Recorded before anything personal leaves the server. Of an erased case's read, who and
      // why are not kept: it shows nothing personal, and the erasure is not to be undone.
      const access = await deps.recordAccess(
        {
          caseId: row.case_id,
          actor: actorOf(principal),
          role: 'supervisor',
          agency: null,
          fields: application ? ['application'] : [],
          purpose: request.query.purpose,
        },
        { keep: !row.erased_at },
      );
      const [{ view, stored }, checkpoint, accessRecords] = await Promise.all([
        caseView(row, workflow),
        deps.reader.latestPublished(),
        accessRecordsOf(pool, row.case_id),
      ]);
      const provable = checkpoint ? stored.filter((e) => e.entry.index < checkpoint.size) : [];
      const proofs = checkpoint
        ? await deps.reader.inclusionProofs(
            provable.map((e) => ({ index: e.entry.index, leafHash: e.leafHash })),
            checkpoint,
          )
        : [];
      const proofOf = new Map(
        provable.map((e, i) => [e.entry.index, proofs[i]!.map((hash) => base64(hash, encoded))]),
      );
      return {
        ...view,
        application: application ?? null,
        accessLog: accessLogOf(
          stored.map((e) => e.entry),
          accessRecords,
        ),
        checkpoint: checkpoint ? { note: checkpoint.note, size: checkpoint.size } : null,
        entries: view.entries.map((e) => ({ ...e, inclusionProof: proofOf.get(e.index) ?? null })),
        access,
      };
    },
  );

  app.get(
    '/cases/:caseId/access-log',
    {
      onRequest: deps.authorize(['citizen', 'supervisor']),
      schema: {
        summary: "Who read this case's personal data: signed ledger entries",
        tags: ['citizen', 'supervisor'],
        security: BEARER,
        querystring: NoQuery,
        params: CaseParams,
        response: { 200: AccessLog },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const row = await visibleCase(request.params.caseId, principal);
      const [stored, records] = await Promise.all([
        caseEntries.of(row.case_id),
        accessRecordsOf(pool, row.case_id),
      ]);
      const accesses = accessLogOf(
        stored.map((e) => e.entry),
        records,
      );
      // Who read and why may name people (a purpose such as "call from the buyer, <name>"),
      // and this read is not logged: as GET /cases/:id, a supervisor gets the rest alone. The
      // timeline, whose read is logged with its purpose, shows them who and why; the
      // applicant, whose data it is, sees them here.
      if (principal.role === 'supervisor')
        return { accesses: accesses.map((line) => ({ ...line, actor: null, purpose: null })) };
      return { accesses };
    },
  );

  app.post(
    '/cases/:caseId/payments',
    {
      onRequest: deps.authorize(['citizen']),
      schema: {
        summary: 'Pay the assessed tax or settle arrears (simulated payment)',
        tags: ['citizen'],
        security: BEARER,
        querystring: NoQuery,
        params: CaseParams,
        body: PaymentRequest,
        response: { 200: DecisionApplied },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const row = await visibleCase(request.params.caseId, principal);
      const { stepId } = request.body;
      const agency = decidingAgency(stepId)!;
      await requireOpenStep(row, stepId);
      // The payment goes to the agency's own payment system, which confirms it with its key.
      const decision = await signAtAgency({
        agency,
        caseId: row.case_id,
        stepId,
        outcome: allowedOutcomes(stepId)[0]!,
        // The role only: the agency needs to know a citizen paid, not who signed in to say so
        // (an identity such as an e-mail address or a national e-ID, which a utility, say,
        // must not be given with the unit).
        actor: 'citizen',
      });
      return applyDecision(row, decision);
    },
  );

  app.get(
    '/inbox',
    {
      onRequest: deps.authorize(['officer']),
      schema: {
        summary: "The open review steps of the officer's agency, a page at a time",
        tags: ['officer'],
        security: BEARER,
        querystring: PageQuery,
        response: { 200: Inbox },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      if (principal.role !== 'officer') throw new ForbiddenError('officers only');
      const stepIds = HUMAN_STEPS[principal.agency];
      if (stepIds.length === 0) {
        // One empty page: no token can name a next one.
        if (request.query.pageToken !== undefined)
          throw new RequestValidationError(NOT_A_PAGE_TOKEN);
        return { items: [], nextPageToken: null };
      }
      const steps = stepIds.map((s) => `'${s}'`).join(', ');
      const page = await listRuns(
        listDeps,
        `WorkflowType = 'jointTransferCase' AND ExecutionStatus = 'Running' AND OneWindowCurrentSteps IN (${steps})`,
        request.query.pageSize,
        request.query.pageToken,
      );
      const items = await Promise.all(
        page.listed.map(async ({ summary, runId }) => {
          const item = { caseId: summary.caseId, unitId: summary.unitId };
          // As GET /escalations: a case whose status cannot be asked now (a timeout, or its
          // run unable to answer) is listed as the visibility store shows it, unconfirmed;
          // it is neither left out nor the whole inbox failed for it.
          const unconfirmed = () =>
            summary.currentSteps
              .filter((stepId) => stepIds.includes(stepId))
              .map((stepId) => ({
                ...item,
                stepId,
                startedAt: null,
                deadlineAt: null,
                overdue: summary.overdue,
                confirmed: false,
              }));
          let status: CaseStatus | undefined;
          try {
            status = await statusOf(await caseRow(summary.caseId), undefined, runId);
          } catch (error) {
            if (error instanceof ServiceUnavailableError) return unconfirmed();
            throw error;
          }
          if (status === undefined) return unconfirmed();
          return status.steps
            .filter((s) => stepIds.includes(s.stepId) && s.status === 'waiting')
            .map((s) => ({
              ...item,
              stepId: s.stepId,
              startedAt: s.startedAt ?? null,
              deadlineAt: s.deadlineAt ?? null,
              overdue: s.overdue ?? false,
              confirmed: true,
            }));
        }),
      );
      return { items: items.flat(), nextPageToken: page.nextPageToken };
    },
  );

  app.get(
    '/cases/:caseId/view',
    {
      onRequest: deps.authorize(['officer']),
      schema: {
        summary: "The agency's minimised view of a case (the read is logged)",
        tags: ['officer'],
        security: BEARER,
        params: CaseParams,
        querystring: PurposeQuery,
        response: { 200: OfficerView },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      if (principal.role !== 'officer') throw new ForbiddenError('officers only');
      const row = await caseRow(request.params.caseId);
      const status = await currentStatusOf(row);
      const steps = (status?.steps ?? []).filter((s) => s.agency === principal.agency);
      // Need to know: an officer reads a case's personal data while the case is open and
      // their agency has begun its part in it (a step started, waiting, escalated or done).
      // Any other case, one their agency is only due to act in later or one closed, looks
      // like no case.
      const begun = new Set(
        steps
          .filter((s) => !['pending', 'skipped', 'cancelled'].includes(s.status))
          .map((s) => s.stepId),
      );
      if (status?.phase !== 'running' || begun.size === 0)
        throw new NotFoundError(`no case ${row.case_id}`, 'caseId');
      const application = await applicationOf(row);
      if (!application)
        throw new NotFoundError(`case ${row.case_id} holds no personal data`, 'caseId');
      const view = agencyViewOf(principal.agency, application, begun);
      const access = await deps.recordAccess({
        caseId: row.case_id,
        actor: actorOf(principal),
        role: 'officer',
        agency: principal.agency,
        fields: Object.keys(view).sort(),
        purpose: request.query.purpose,
      });
      return { caseId: row.case_id, agency: principal.agency, view, steps, access };
    },
  );

  app.post(
    '/cases/:caseId/decisions',
    {
      onRequest: deps.authorize(['officer']),
      schema: {
        summary: "An officer's decision on their agency's open step, signed by the agency",
        tags: ['officer'],
        security: BEARER,
        querystring: NoQuery,
        params: CaseParams,
        body: DecisionRequest,
        response: { 200: DecisionApplied },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      if (principal.role !== 'officer') throw new ForbiddenError('officers only');
      const body = request.body;
      const owner = decidingAgency(body.stepId);
      // Refused before the case is asked, whether the step is another agency's, one no person
      // decides, or none at all: what the case holds of other agencies' steps (has it a gas
      // account, is its registration done) is not this officer's to learn.
      if (owner !== principal.agency)
        throw new ForbiddenError(
          `${principal.agency} officers do not decide ${body.stepId}${owner ? ` (${owner} does)` : ''}`,
          'stepId',
        );
      const row = await caseRow(request.params.caseId);
      // First whether the step is theirs to decide here at all: an agency with no step in the
      // case learns nothing more of it, not even that the outcome was wrong.
      await requireOpenStep(row, body.stepId, principal.agency);
      if (!body.signed) {
        const outcomes = allowedOutcomes(body.stepId);
        if (!outcomes.includes(body.outcome!))
          throw new UpdateRefusedError(
            'outcome',
            `${body.stepId} takes ${outcomes.join(' or ')}, not ${body.outcome}`,
          );
      }
      if (body.signed)
        return applyDecision(
          row,
          { stepId: body.stepId, signed: body.signed, opening: body.opening },
          'signed',
          owner,
        );
      const decision = await signAtAgency({
        agency: owner,
        caseId: row.case_id,
        stepId: body.stepId,
        outcome: body.outcome!,
        reason: body.reason!,
        actor: actorOf(principal),
      });
      return applyDecision(row, decision);
    },
  );

  app.post(
    '/cases/:caseId/inspections',
    {
      onRequest: deps.authorize(['officer']),
      schema: {
        summary:
          "A gas officer records that the unit's appliances passed their safety inspection, in the gas company's system",
        tags: ['officer'],
        security: BEARER,
        querystring: NoQuery,
        params: CaseParams,
        body: InspectionRequest,
        response: { 200: InspectionRecorded },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      // Only gas accounts need one (agencies/utility.ts), and the record is the company's.
      if (principal.role !== 'officer' || principal.agency !== 'gas')
        throw new ForbiddenError('only the gas company records safety inspections');
      const row = await caseRow(request.params.caseId);
      const status = await currentStatusOf(row);
      // As for the officer's view: a case without a gas account looks like no case.
      const steps = (status?.steps ?? []).filter((s) => s.agency === 'gas');
      if (!status || steps.length === 0)
        throw new NotFoundError(`no case ${row.case_id}`, 'caseId');
      if (status.phase !== 'running')
        throw new StateConflictError(
          'caseId',
          `case ${row.case_id} is ${status.phase}: its gas account no longer waits for an inspection`,
        );
      if (request.body.unitId !== row.unit_id)
        // Not naming the case's unit: the officer learns no more of a case than they had.
        throw new UpdateRefusedError(
          'unitId',
          `unit ${request.body.unitId} is not the unit of case ${row.case_id}: check the case id and the unit`,
        );
      let inspection: SafetyInspection;
      try {
        inspection = await temporal.workflow.execute<typeof safetyInspection>('safetyInspection', {
          taskQueue: ORCHESTRATOR_TASK_QUEUE,
          workflowId: inspectionWorkflowId(row.case_id, randomUUID()),
          args: [{ caseId: row.case_id, unitId: row.unit_id, actor: actorOf(principal) }],
          workflowExecutionTimeout: '1 minute',
        });
      } catch (error) {
        throw refusedInspection(error);
      }
      // The holder change, if it waits for a supervisor (held for the inspection, as a rule):
      // their retry now finds the inspection recorded. Before that, the change itself will.
      const held = steps.find(
        (s) => s.stepId === 'transferAccount.gas' && s.status === 'escalated',
      );
      return {
        caseId: row.case_id,
        unitId: inspection.unitId,
        inspectionId: inspection.inspectionId,
        recordedAt: inspection.recordedAt,
        heldStep: held?.stepId ?? null,
      };
    },
  );

  app.get(
    '/cases/:caseId/evidence',
    {
      onRequest: deps.authorize(['supervisor']),
      schema: {
        summary:
          'Evidence bundle: every entry of the case with its inclusion proof, the cosigned checkpoint and the keys; `onewindow ledger verify-bundle` checks it offline',
        tags: ['supervisor'],
        security: BEARER,
        querystring: NoQuery,
        params: CaseParams,
        response: { 200: EvidenceBundle },
      },
    },
    async (request, reply) => {
      const row = await visibleCase(request.params.caseId, principalOf(request));
      const trust = typeof deps.trust === 'function' ? await deps.trust() : deps.trust;
      if (!trust)
        throw new ServiceUnavailableError(
          'this server was started without a trust file (ONEWINDOW_TRUST_FILE) to bundle keys from',
        );
      const bundle = await buildEvidenceBundle(pool, row.case_id, trust);
      return reply
        .header('content-disposition', `attachment; filename="evidence-${row.case_id}.json"`)
        .send(bundle);
    },
  );

  app.get(
    '/escalations',
    {
      onRequest: deps.authorize(['supervisor']),
      schema: {
        summary: 'The escalations waiting for a supervisor, newest first, a page at a time',
        tags: ['supervisor'],
        security: BEARER,
        querystring: PageQuery,
        response: { 200: Escalations },
      },
    },
    // No access entry: like the inbox, this reads case statuses (steps and the workflow's own
    // reasons), never the application, as GET /cases/:caseId does.
    (request) =>
      listEscalations(
        { ...listDeps, statusOf: (row, runId) => statusOf(row, undefined, runId) },
        request.query.pageSize,
        request.query.pageToken,
      ),
  );

  app.post(
    '/cases/:caseId/escalations',
    {
      onRequest: deps.authorize(['supervisor']),
      schema: {
        summary: 'Act on an escalated step: retry it, or resolve it by hand with a reason',
        tags: ['supervisor'],
        security: BEARER,
        querystring: NoQuery,
        params: CaseParams,
        body: EscalationRequest,
        response: { 200: EscalationApplied },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const row = await caseRow(request.params.caseId);
      const handle = runHandle(row);
      try {
        const applied = await withinUpdateDeadline(() =>
          handle.executeUpdate(resolveEscalationUpdate, {
            args: [{ ...request.body, supervisor: actorOf(principal) }],
          }),
        );
        return { stepId: request.body.stepId, ledgerIndex: applied.ledgerIndex ?? null };
      } catch (error) {
        throw refusedUpdate(error, 'stepId');
      }
    },
  );
}

/**
 * What the agency's steps begun so far (`begun`, step ids) receive of the application, its
 * minimised view (ARCHITECTURE.md §2: only the fields a step needs): each begun automatic
 * step's own view, and for a begun review (a human step) the views of the agency's steps that
 * wait on it, which it decides on (the registry's review reads the registration's). A step
 * not begun shows nothing: a utility's officer does not read the new holder's name while only
 * the precheck has run, nor does the registry read the buyer's while only the title check has.
 */
export function agencyViewOf(
  agency: Agency,
  application: CaseApplication,
  begun: ReadonlySet<string>,
): Record<string, unknown> {
  const { steps } = jointTransferProcess(application.utilities);
  const activities = new Set<string>();
  for (const def of steps) {
    if (def.agency !== agency || !begun.has(def.id)) continue;
    if (def.activity) activities.add(def.activity);
    if (def.kind === 'human')
      for (const next of steps)
        if (next.agency === agency && next.activity && next.needs.includes(def.id))
          activities.add(next.activity);
  }
  const merged: Record<string, unknown> = {};
  for (const activity of activities) Object.assign(merged, viewFor(activity, agency, application));
  return merged;
}

/**
 * Why `decision`'s opening does not open its statement's commitment, or undefined when it
 * does or when there is none: the record must carry the statement's outcome, and
 * `commitTo(salt, record)` must be the statement's commitment (ledger/statement.ts), and its
 * role the one the facts name.
 */
export function openingMismatch(decision: Decision): string | undefined {
  const { opening, signed } = decision;
  if (!opening) return undefined;
  if (opening.record.outcome !== signed.statement.outcome)
    return `the opening records outcome ${opening.record.outcome}, the statement ${signed.statement.outcome}`;
  if (!opensCommitment(opening.salt, opening.record, signed.statement.commitment))
    return "the opening's salt and record do not open the statement's commitment";
  // An agency that committed to one role and signed another in the facts contradicts itself.
  if (opening.record.decidedBy !== signed.statement.facts.decidedBy)
    return `the opening records decidedBy ${opening.record.decidedBy}, the statement's facts ${String(signed.statement.facts.decidedBy)}`;
  return undefined;
}
