// The escalations still waiting for a supervisor. The workflow writes one notice per
// escalation (activities/orchestrator.ts notify): those are the candidates, newest first.
// Temporal's visibility store passes over those of closed runs in bulk, and each remaining one
// is confirmed by its case's status query: listed only while the case runs and the step's
// escalation is unresolved. Nothing personal: the reason is the workflow's own text.
import type pg from 'pg';
import type { CaseStatus } from '../domain/caseStatus.ts';
import { listCases, NOT_A_PAGE_TOKEN, openPageToken, runIdIn, type ListDeps } from './caseList.ts';
import type { CaseRow } from './caseRoutes.ts';
import { RequestValidationError } from './errors.ts';
import type { EscalationItem, Escalations } from './schemas.ts';

/** Notices read per query: stale ones (resolved, or of closed cases) are passed over in bulk. */
const BATCH = 100;
/** Notices looked at for one page at most; past them a short page comes with a token to go on. */
const SCAN_LIMIT = 1_000;
/** The list its page tokens are sealed for (api/caseList.ts): no visibility query reads so. */
const LIST = 'escalations';
/** Above every notice id: the first page starts below it. */
const FIRST = '9223372036854775807';

export interface EscalationDeps extends ListDeps {
  /**
   * The case's status; undefined when it cannot tell (history gone, a run that cannot answer).
   * @throws ServiceUnavailableError when Temporal or its workers cannot answer now.
   */
  statusOf(row: CaseRow): Promise<CaseStatus | undefined>;
}

/** An escalation notice with its case's row. */
type Notice = CaseRow & { id: string; step_id: string };

/**
 * The latest escalation notice of each case's step, below notice `before`, newest first; an
 * erased case's are left out. A step escalated again (after a retry) is its latest notice.
 */
async function notices(pool: pg.Pool, before: string, limit: number): Promise<Notice[]> {
  const { rows } = await pool.query<Notice>({
    name: 'escalation-notices',
    text: `SELECT n.id, n.step_id, c.case_id, c.unit_id, c.workflow_id, c.run_id, c.applicant, c.created_at, c.erased_at
             FROM notifications n JOIN cases c USING (case_id)
            WHERE n.party = 'supervisor' AND n.kind = 'escalation' AND n.id < $1::bigint
              AND c.erased_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM notifications later
                               WHERE later.case_id = n.case_id AND later.step_id = n.step_id
                                 AND later.party = 'supervisor' AND later.kind = 'escalation'
                                 AND later.id > n.id)
            ORDER BY n.id DESC LIMIT $2`,
    values: [before, limit],
  });
  return rows;
}

/**
 * The ids of the cases of `rows` whose run is open, by Temporal's visibility store. A run
 * that just closed may still show open; the status query settles it. A row without a run id
 * (a submission never answered, which takes no actions) is never open here.
 */
async function running(deps: ListDeps, rows: readonly Notice[]): Promise<Set<string>> {
  const runIds = [...new Set(rows.flatMap((r) => (r.run_id ? [r.run_id] : [])))];
  if (runIds.length === 0) return new Set();
  const page = await listCases(
    deps,
    `WorkflowType = 'jointTransferCase' AND ExecutionStatus = 'Running' AND ${runIdIn(runIds)}`,
    runIds.length,
  );
  return new Set(page.cases.map((c) => c.caseId));
}

/** The notice's escalation, if its case still runs and waits for a supervisor at that step. */
async function waiting(deps: EscalationDeps, notice: Notice): Promise<EscalationItem | undefined> {
  const status = await deps.statusOf(notice);
  if (status?.phase !== 'running') return undefined;
  const open = status.escalations.find((e) => e.stepId === notice.step_id && !e.resolved);
  if (!open) return undefined;
  return {
    caseId: notice.case_id,
    unitId: notice.unit_id,
    stepId: open.stepId,
    reason: open.reason,
    escalatedAt: open.at,
    overdue: status.overdue,
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
 * items, fewer when SCAN_LIMIT notices were looked at first (the token then goes on).
 * Requires 1 <= pageSize <= 100 (the route's PageQuery).
 * @throws RequestValidationError for a page token this API did not seal for this list.
 * @throws ServiceUnavailableError (or Temporal's and PostgreSQL's own errors) when they cannot answer.
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
  for (let scanned = 0; ;) {
    const batch = await notices(deps.pool, before, BATCH);
    const open = await running(deps, batch);
    const candidates = batch.filter((n) => open.has(n.case_id));
    // Confirmed the page's remainder at a time: no more status queries than the page can use.
    let next = 0;
    while (next < candidates.length && items.length < pageSize) {
      const chunk = candidates.slice(next, next + pageSize - items.length);
      next += chunk.length;
      for (const item of await Promise.all(chunk.map((n) => waiting(deps, n))))
        if (item) items.push(item);
    }
    const last = batch.length < BATCH;
    // Full: every notice of the last chunk confirmed, so the next page starts after it.
    if (items.length === pageSize)
      return page(last && next === candidates.length ? undefined : candidates[next - 1]!.id);
    if (last) return page(undefined);
    before = batch.at(-1)!.id;
    scanned += batch.length;
    if (scanned >= SCAN_LIMIT) return page(before);
  }
}
