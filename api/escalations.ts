// The escalations still waiting for a supervisor. The workflow writes one notice per
// escalation (activities/orchestrator.ts notify): those are the candidates, newest first.
// Temporal's visibility store passes over them in bulk, with no status query: those of
// closed runs, and those whose step is no longer among the case's current steps
// (OneWindowCurrentSteps). Each remaining one is confirmed by its case's status query: listed
// only while the case runs and the step's escalation is unresolved. A status query that fails
// leaves its notice listed unconfirmed, never the page failed. Nothing personal: the reason is
// the workflow's own text.
import type pg from 'pg';
import type { CaseStatus } from '../domain/caseStatus.ts';
import {
  listRuns,
  NOT_A_PAGE_TOKEN,
  openPageToken,
  workflowIdIn,
  type CaseSummary,
  type ListDeps,
  type ListedRun,
} from './caseList.ts';
import type { CaseRow } from './caseRoutes.ts';
import { RequestValidationError } from './errors.ts';
import type { EscalationItem, Escalations } from './schemas.ts';

/** Notices read per query: stale ones (resolved, or of closed cases) are passed over in bulk. */
const BATCH = 100;
/** Notices looked at for one page at most; past them a short page comes with a token to go on. */
const SCAN_LIMIT = 1_000;
/** Status queries one page may ask beyond its size; past them a short page comes with a token. */
const QUERY_SLACK = 10;
/**
 * How long a notice's step may be missing from its case's current steps in the visibility
 * store before that counts: the notice is written before the workflow publishes the step
 * (workflows/jointTransferCase.ts upsertStatus), and the store itself lags behind that.
 */
const VISIBILITY_LAG_SECONDS = 300;
/** The list its page tokens are sealed for (api/caseList.ts): no visibility query reads so. */
const LIST = 'escalations';
/** Above every notice id: the first page starts below it. */
const FIRST = '9223372036854775807';

export interface EscalationDeps extends ListDeps {
  /**
   * The status of the case's run `runId`; undefined when it cannot tell (history gone, a run
   * that cannot answer).
   * @throws ServiceUnavailableError when Temporal or its workers cannot answer now.
   */
  statusOf(row: CaseRow, runId: string): Promise<CaseStatus | undefined>;
}

/**
 * An escalation notice with its case's row: what it says, when it was written, and whether
 * that was recently enough for the visibility store not to show its step yet.
 */
type Notice = CaseRow & {
  id: string;
  step_id: string;
  message: string;
  noticed_at: Date;
  recent: boolean;
};

/**
 * The latest escalation notice of each case's step, below notice `before`, newest first; an
 * erased case's are left out. A step escalated again (after a retry) is its latest notice.
 */
async function notices(pool: pg.Pool, before: string, limit: number): Promise<Notice[]> {
  const { rows } = await pool.query<Notice>({
    name: 'escalation-notices',
    text: `SELECT n.id, n.step_id, n.message, n.created_at AS noticed_at,
                  n.created_at > now() - make_interval(secs => $3) AS recent,
                  c.case_id, c.unit_id, c.workflow_id, c.run_id, c.applicant, c.created_at, c.erased_at
             FROM notifications n JOIN cases c USING (case_id)
            WHERE n.party = 'supervisor' AND n.kind = 'escalation' AND n.id < $1::bigint
              AND c.erased_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM notifications later
                               WHERE later.case_id = n.case_id AND later.step_id = n.step_id
                                 AND later.party = 'supervisor' AND later.kind = 'escalation'
                                 AND later.id > n.id)
            ORDER BY n.id DESC LIMIT $2`,
    values: [before, limit, VISIBILITY_LAG_SECONDS],
  });
  return rows;
}

/**
 * The open runs, by case id, of the cases of `rows`, by Temporal's visibility store: the open
 * run of each unit's workflow id, which is a case's first run, one a reset made of it
 * (listRuns), or a later case's. A run that just closed may still show open; the status query
 * settles it. A row without a run id (a submission never answered, which takes no actions) is
 * never open here.
 */
async function running(deps: ListDeps, rows: readonly Notice[]): Promise<Map<string, ListedRun>> {
  const workflowIds = [...new Set(rows.flatMap((r) => (r.run_id ? [r.workflow_id] : [])))];
  if (workflowIds.length === 0) return new Map();
  // Twice as many as ids: a run just closed may show open beside the next case's new run.
  const page = await listRuns(
    deps,
    `WorkflowType = 'jointTransferCase' AND ExecutionStatus = 'Running' AND ${workflowIdIn(workflowIds)}`,
    2 * workflowIds.length,
  );
  return new Map(page.listed.map((l) => [l.summary.caseId, l]));
}

/**
 * Whether the notice may still wait, by its case's summary: the case runs, and its step is
 * among the current steps, or the visibility store cannot tell yet (the case has published no
 * status, or the notice is recent). Only such a notice is worth a status query.
 */
function plausible(notice: Notice, summary: CaseSummary): boolean {
  if (summary.status === 'submitted' || notice.recent) return true;
  return summary.currentSteps.includes(notice.step_id);
}

/**
 * The notice's escalation, if its case still runs and waits for a supervisor at that step;
 * when its status query fails, or its run (open, by the visibility store) cannot answer one,
 * the notice itself, unconfirmed, with the case's overdue flag as the visibility store shows it.
 */
async function waiting(
  deps: EscalationDeps,
  notice: Notice,
  { summary, runId }: ListedRun,
): Promise<EscalationItem | undefined> {
  const item = { caseId: notice.case_id, unitId: notice.unit_id, stepId: notice.step_id };
  const unconfirmed = {
    ...item,
    reason: notice.message,
    escalatedAt: new Date(notice.noticed_at).toISOString(),
    overdue: summary.overdue,
    confirmed: false,
  };
  let status: CaseStatus | undefined;
  try {
    status = await deps.statusOf(notice, runId);
  } catch {
    // Nobody could answer now (a timeout, workers down): that says nothing about the step.
    return unconfirmed;
  }
  // An open run that cannot answer (its workflow task failing until someone fixes it) is
  // stuck, which a supervisor needs to see most.
  if (status === undefined) return unconfirmed;
  if (status.phase !== 'running') return undefined;
  const open = status.escalations.find((e) => e.stepId === notice.step_id && !e.resolved);
  if (!open) return undefined;
  return {
    ...item,
    reason: open.reason,
    escalatedAt: open.at,
    overdue: status.overdue,
    confirmed: true,
  };
}

/** The notice id a page token carries. @throws RequestValidationError naming pageToken. */
function cursorOf(deps: ListDeps, pageToken: string): string {
  const id = Buffer.from(openPageToken(deps.pageTokens, LIST, pageToken)).toString('utf8');
  // Only this API seals tokens, and only notice ids: checked all the same before SQL sees it.
  if (!/^[1-9][0-9]{0,17}$/.test(id)) throw new RequestValidationError(NOT_A_PAGE_TOKEN);
  return id;
}

/**
 * One page of the escalations waiting for a supervisor, newest first: up to `pageSize`
 * items, fewer when SCAN_LIMIT notices were looked at or pageSize + QUERY_SLACK statuses asked
 * first (the token then goes on).
 * Requires 1 <= pageSize <= 100 (the route's PageQuery).
 * @throws RequestValidationError for a page token this API did not seal for this list.
 * @throws ServiceUnavailableError (or Temporal's and PostgreSQL's own errors) when PostgreSQL
 * or the visibility store cannot answer; a status query that cannot leaves its item unconfirmed.
 */
export async function listEscalations(
  deps: EscalationDeps,
  pageSize: number,
  pageToken?: string,
): Promise<Escalations> {
  let before = pageToken === undefined ? FIRST : cursorOf(deps, pageToken);
  const items: EscalationItem[] = [];
  const page = (after: string | undefined): Escalations => ({
    items,
    nextPageToken: after ? deps.pageTokens.seal(LIST, Buffer.from(after, 'utf8')) : null,
  });
  const queryLimit = pageSize + QUERY_SLACK;
  let asked = 0;
  for (let scanned = 0; ;) {
    const batch = await notices(deps.pool, before, BATCH);
    const open = await running(deps, batch);
    const candidates = batch.flatMap((notice) => {
      const run = open.get(notice.case_id);
      return run && plausible(notice, run.summary) ? [{ notice, run }] : [];
    });
    // Confirmed the page's remainder at a time: no more status queries than the page can use.
    let next = 0;
    while (next < candidates.length && items.length < pageSize && asked < queryLimit) {
      const room = Math.min(pageSize - items.length, queryLimit - asked);
      const chunk = candidates.slice(next, next + room);
      next += chunk.length;
      asked += chunk.length;
      const found = await Promise.all(chunk.map((c) => waiting(deps, c.notice, c.run)));
      for (const item of found) if (item) items.push(item);
    }
    const last = batch.length < BATCH;
    // Full, or out of status queries: the next page starts after the last notice looked at.
    if (items.length === pageSize || asked >= queryLimit) {
      if (next < candidates.length) return page(candidates[next - 1]!.notice.id);
      return page(last ? undefined : batch.at(-1)!.id);
    }
    if (last) return page(undefined);
    before = batch.at(-1)!.id;
    scanned += batch.length;
    if (scanned >= SCAN_LIMIT) return page(before);
  }
}
