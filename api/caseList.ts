// Case lists from Temporal's visibility store: the typed search attributes (no personal data)
// filter and page; PostgreSQL maps each run to the case id the API gave it.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isGrpcServiceError, type Client } from '@temporalio/client';
// @temporalio/proto is CommonJS: Node's ESM loader offers it only as a default export.
import proto from '@temporalio/proto';
import type pg from 'pg';
import { z } from 'zod';
import { Agency } from '../domain/agency.ts';
import { CasePhase } from '../domain/caseStatus.ts';
import type { LruMap } from '../ledger/lruMap.ts';
import { RequestValidationError } from './errors.ts';

/** gRPC status INVALID_ARGUMENT: the visibility store refused the request as malformed. */
const GRPC_INVALID_ARGUMENT = 3;

/** One case in a list: nothing personal, so any list may show it. */
export const CaseSummary = z.object({
  caseId: z.string(),
  unitId: z.string(),
  status: z.string(),
  currentSteps: z.array(z.string()),
  agencies: z.array(z.string()),
  overdue: z.boolean(),
  submittedAt: z.string(),
  closedAt: z.string().nullable(),
});
export type CaseSummary = z.infer<typeof CaseSummary>;

export const CaseList = z.object({
  cases: z.array(CaseSummary),
  nextPageToken: z.string().nullable(),
});
export type CaseList = z.infer<typeof CaseList>;

const Day = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })], {
    error: 'must be a date (YYYY-MM-DD) or an RFC 3339 time',
  })
  // An offset can carry a time past 9999-12-31 or before 0000-01-01 in UTC, which
  // toISOString writes with a six-digit year: no RFC 3339 time the visibility store takes.
  .refine((value) => /^\d{4}-/.test(instant(value, false)), {
    error: 'must fall within the years 0000 to 9999 in UTC',
  });

/** The statuses a case is listed under: `submitted` until its workflow sets a phase, then that. */
const LISTED_STATUSES = ['submitted', ...CasePhase.options] as const;

/** The supervisor's filters. Every value is checked against a closed pattern before it reaches the visibility query. */
export const CaseListQuery = z
  .object({
    // One enum, not a union: a refusal names the values taken, not zod's "Invalid input".
    status: z
      .enum(LISTED_STATUSES, { error: `must be one of ${LISTED_STATUSES.join(', ')}` })
      .optional(),
    agency: Agency.optional(),
    step: z
      .string()
      .regex(
        // A step, or the record a case holds for a supervisor (transferAccount.gas.resolved).
        /^[a-z][A-Za-z]{0,40}(\.[a-z]{1,20}){0,2}$/,
        'must be a step id such as review or precheck.gas',
      )
      .optional(),
    overdue: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
    submittedFrom: Day.optional(),
    submittedTo: Day.optional(),
    // Decimal digits, as the ledger's Count: not z.coerce.number, which took "0x10" and "1e1".
    pageSize: z
      .string({ error: 'must be a whole number from 1 to 100' })
      .regex(/^(100|[1-9][0-9]?)$/, 'must be a whole number from 1 to 100')
      .describe('Items a page: a whole number from 1 to 100 in decimal digits; 20 if not given')
      .transform(Number)
      .default(20),
    pageToken: z
      .string()
      .max(4096, 'is too long')
      .regex(/^[A-Za-z0-9_-]+$/, 'must be a token from an earlier page')
      .optional(),
  })
  .strict();
export type CaseListQuery = z.infer<typeof CaseListQuery>;

/** A list paged like the case list, without filters: an officer's inbox, the supervisor's escalations. */
export const PageQuery = CaseListQuery.pick({ pageSize: true, pageToken: true }).strict();

/** A day filter as an RFC 3339 instant: a bare date means its start (from) or its end (to). */
function instant(value: string, end: boolean): string {
  if (value.includes('T')) return new Date(value).toISOString();
  return end ? `${value}T23:59:59.999Z` : `${value}T00:00:00.000Z`;
}

/** The visibility query (Temporal list filter syntax) for the filters. */
export function visibilityQuery(filters: Omit<CaseListQuery, 'pageSize' | 'pageToken'>): string {
  const clauses = [`WorkflowType = 'jointTransferCase'`];
  if (filters.status) clauses.push(`OneWindowStatus = '${filters.status}'`);
  if (filters.agency) clauses.push(`OneWindowAgencies = '${filters.agency}'`);
  if (filters.step) clauses.push(`OneWindowCurrentSteps = '${filters.step}'`);
  if (filters.overdue) clauses.push(`OneWindowOverdue = ${filters.overdue}`);
  if (filters.submittedFrom)
    clauses.push(`StartTime >= '${instant(filters.submittedFrom, false)}'`);
  if (filters.submittedTo) clauses.push(`StartTime <= '${instant(filters.submittedTo, true)}'`);
  return clauses.join(' AND ');
}

interface Payload {
  data?: Uint8Array | null;
}

/** Search attribute payloads are plain JSON (they are never encrypted). */
function decoded(payload: Payload | null | undefined): unknown {
  if (!payload?.data) return undefined;
  try {
    return JSON.parse(Buffer.from(payload.data).toString('utf8'));
  } catch {
    return undefined;
  }
}

type Timestamp = { seconds?: unknown; nanos?: number | null } | null | undefined;

/** A protobuf timestamp in milliseconds since the epoch, or null when unset. */
function timestampMs(t: Timestamp): number | null {
  if (!t || t.seconds === undefined || t.seconds === null) return null;
  return Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

function timestampIso(t: Timestamp) {
  const ms = timestampMs(t);
  return ms === null ? null : new Date(ms).toISOString();
}

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

/**
 * Seals Temporal's page tokens: each token the API hands out carries an HMAC-SHA256 tag over
 * the visibility query and Temporal's token, so only a token this API gave out, for the same
 * filters, ever reaches the visibility store. (Temporal answers a made-up token with an
 * internal error, after about 20 s of client retries.)
 */
export interface PageTokens {
  seal(query: string, token: Uint8Array): string;
  /** Temporal's token, or undefined when `text` was not sealed with this key for `query`. */
  open(query: string, text: string): Uint8Array | undefined;
}

const TAG_BYTES = 16;

/** Page tokens sealed with `key`. Requires a key of at least 16 bytes. @throws RangeError. */
export function pageTokens(key: Uint8Array): PageTokens {
  if (key.length < 16)
    throw new RangeError(`a page token key needs at least 16 bytes, got ${key.length}`);
  const tag = (query: string, token: Uint8Array) =>
    createHmac('sha256', key)
      .update(`${query.length}:${query}`)
      .update(token)
      .digest()
      .subarray(0, TAG_BYTES);
  return {
    seal: (query, token) => Buffer.concat([tag(query, token), token]).toString('base64url'),
    open(query, text) {
      const bytes = Buffer.from(text, 'base64url');
      if (bytes.length <= TAG_BYTES) return undefined;
      const token = bytes.subarray(TAG_BYTES);
      return timingSafeEqual(bytes.subarray(0, TAG_BYTES), tag(query, token)) ? token : undefined;
    },
  };
}

/** What a list needs: Temporal's visibility store, the case table, and the page token seal. */
export interface ListDeps {
  temporal: Client;
  pool: pg.Pool;
  namespace: string;
  pageTokens: PageTokens;
  /** What describing runs told, kept for the lists (`new LruMap(RUN_FACTS_KEPT)`). */
  runFacts: RunFactsCache;
  /** Told of what a list let pass (a run it could not describe), for the operators' log. */
  warn?: (fields: Record<string, unknown>, message: string) => void;
}

export const NOT_A_PAGE_TOKEN = [
  { field: 'pageToken', reason: 'must be a token from an earlier page of this list' },
];

/**
 * What `text` seals for the list `query`, when this API sealed it for that list.
 * @throws RequestValidationError naming pageToken otherwise (made up, changed, another list's).
 */
export function openPageToken(tokens: PageTokens, query: string, text: string): Uint8Array {
  const token = tokens.open(query, text);
  if (!token) throw new RequestValidationError(NOT_A_PAGE_TOKEN);
  return token;
}

/** The visibility clause for these runs (ids cut to the characters a run id has). */
export function runIdIn(runIds: readonly string[]): string {
  return `RunId IN (${runIds.map((id) => `'${id.replace(/[^A-Za-z0-9-]/g, '')}'`).join(', ')})`;
}

type Execution = proto.temporal.api.workflow.v1.IWorkflowExecutionInfo;

const { WORKFLOW_EXECUTION_STATUS_RUNNING: RUNNING } =
  proto.temporal.api.enums.v1.WorkflowExecutionStatus;

/** A case as a list found it, and the run it was read from (its first run or one a reset made). */
export interface ListedRun {
  summary: CaseSummary;
  runId: string;
}

/**
 * What a run's description tells that visibility does not: the first run of its chain (empty
 * in visibility), the run a reset of it made, and when its chain began.
 */
export interface RunFacts {
  firstRunId: string;
  resetRunId: string | null;
  originalStartTime: string | null;
}

/**
 * Within how long every list, and a case's own view (caseRoutes.ts), shows a reset an operator
 * made of a run that had closed: how long what was read of a closed run is kept.
 */
export const RESET_SHOWN_WITHIN_MS = 60_000;
/** Runs whose facts one API process keeps, the least recently read dropped first. */
export const RUN_FACTS_KEPT = 10_000;

/**
 * How long a failed description is remembered: while Temporal pushes back, a list does not
 * ask again for every run on every request.
 */
const RUN_FACTS_FAILED_KEPT_MS = 5_000;
/** Descriptions one list asks for at a time. */
const DESCRIBES_AT_ONCE = 8;

/** Facts by run id: a description under way is shared by the requests that need it. */
export type RunFactsCache = LruMap<
  string,
  { facts: Promise<RunFacts | undefined>; keptUntil: number }
>;

/**
 * One page of the runs of cases matching `query` (a visibility query), newest first, each
 * case once. A run of a case's chain an operator's reset made (`temporal workflow reset`: the
 * run is ended, terminated if open, and the case goes on in a new run with the same input)
 * stands for the case; the run it was made of is left out. Visibility tells neither (a run's
 * firstRunId and resetRunId are not there), so a run is described unless it is open and a
 * case row names it (a row names the first run of each case this API started); what that
 * tells is kept RESET_SHOWN_WITHIN_MS. A run that cannot be described now is listed as
 * visibility shows it if a row names it, not the page failed.
 */
export async function listRuns(
  deps: ListDeps,
  query: string,
  pageSize: number,
  pageToken?: string,
): Promise<{ listed: ListedRun[]; nextPageToken: string | null }> {
  const token =
    pageToken === undefined ? undefined : openPageToken(deps.pageTokens, query, pageToken);
  const page = await listPage(deps, query, pageSize, token);
  return {
    listed: page.listed,
    nextPageToken: page.next ? deps.pageTokens.seal(query, page.next) : null,
  };
}

/** listRuns with Temporal's own page token. */
async function listPage(
  deps: ListDeps,
  query: string,
  pageSize: number,
  token: Uint8Array | undefined,
): Promise<{ listed: ListedRun[]; next: Uint8Array | null }> {
  const response = await deps.temporal.workflowService
    .listWorkflowExecutions({
      namespace: deps.namespace,
      pageSize,
      query,
      ...(token ? { nextPageToken: token } : {}),
    })
    .catch((error: unknown) => {
      // A token of ours the store no longer takes (e.g. after a visibility migration).
      if (token && isGrpcServiceError(error) && Number(error.code) === GRPC_INVALID_ARGUMENT)
        throw new RequestValidationError(NOT_A_PAGE_TOKEN);
      throw error;
    });
  const executions = response.executions ?? [];
  const runIdOf = (execution: Execution) => execution.execution?.runId ?? '';
  const byRun = await rowsOf(deps, executions.map(runIdOf));
  const found = await mapAtMost(DESCRIBES_AT_ONCE, executions, async (execution) => {
    const runId = runIdOf(execution);
    const asListed = { execution, firstRunId: runId, originalStartTime: null };
    // An open run a case row names: nothing to ask.
    if (byRun.has(runId) && execution.status === RUNNING) return asListed;
    const facts = await runFactsOf(deps, execution);
    // Unknown now: listed as visibility shows it, if a row names it.
    if (!facts) return asListed;
    // Reset: the run the reset made stands for its case.
    if (facts.resetRunId) return undefined;
    return { execution, firstRunId: facts.firstRunId, originalStartTime: facts.originalStartTime };
  });
  // The rows of the chains of runs a reset made.
  const unnamed = found.flatMap((f) => (f && !byRun.has(f.firstRunId) ? [f.firstRunId] : []));
  if (unnamed.length > 0)
    for (const [runId, row] of await rowsOf(deps, unnamed)) byRun.set(runId, row);
  const listed = new Map<string, ListedRun & { startedAt: number }>();
  for (const f of found) {
    if (!f) continue;
    const { execution } = f;
    // A row that names a run a reset made (intake before b027f70 wrote its own run's id).
    const row = byRun.get(f.firstRunId) ?? byRun.get(runIdOf(execution));
    // A run without a case row was not started by this API (or its start was rolled back).
    if (!row) continue;
    const fields = execution.searchAttributes?.indexedFields ?? {};
    const run = {
      summary: {
        caseId: row.case_id,
        unitId: row.unit_id,
        status: strings([decoded(fields.OneWindowStatus)])[0] ?? 'submitted',
        currentSteps: strings(decoded(fields.OneWindowCurrentSteps)),
        agencies: strings(decoded(fields.OneWindowAgencies)),
        overdue: decoded(fields.OneWindowOverdue) === true,
        // A run a reset made begins when the reset was made; the case, when its first run did.
        submittedAt: f.originalStartTime ?? timestampIso(execution.startTime) ?? '',
        closedAt: timestampIso(execution.closeTime),
      },
      runId: runIdOf(execution),
      startedAt: timestampMs(execution.startTime) ?? 0,
    };
    // A case twice on a page (reset within RESET_SHOWN_WITHIN_MS): the run the reset made.
    const other = listed.get(row.case_id);
    if (!other || other.startedAt < run.startedAt) listed.set(row.case_id, run);
  }
  const next = response.nextPageToken;
  return {
    listed: [...listed.values()].map(({ summary, runId }) => ({ summary, runId })),
    next: next && next.length > 0 ? next : null,
  };
}

/** `fn` of each item, at most `limit` at a time, in the items' order. */
async function mapAtMost<T, R>(
  limit: number,
  items: readonly T[],
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * What describing the run tells (kept RESET_SHOWN_WITHIN_MS); undefined when it cannot now (kept
 * RUN_FACTS_FAILED_KEPT_MS): deleted since it was listed (an erasure, retention), or Temporal
 * not answering. One run does not fail a list.
 */
function runFactsOf(deps: ListDeps, execution: Execution): Promise<RunFacts | undefined> {
  const runId = execution.execution?.runId ?? '';
  const kept = deps.runFacts.get(runId);
  if (kept && Date.now() < kept.keptUntil) return kept.facts;
  const facts = deps.temporal.workflowService
    .describeWorkflowExecution({
      namespace: deps.namespace,
      execution: { workflowId: execution.execution?.workflowId ?? '', runId },
    })
    .then(
      (described) => ({
        firstRunId: described.workflowExecutionInfo?.firstRunId || runId,
        resetRunId: described.workflowExtendedInfo?.resetRunId || null,
        originalStartTime: timestampIso(described.workflowExtendedInfo?.originalStartTime),
      }),
      (error: unknown) => {
        // Not Temporal's answer (a fault of this process): not kept, the page fails.
        if (!isGrpcServiceError(error)) {
          deps.runFacts.delete(runId);
          throw error;
        }
        deps.runFacts.set(runId, { facts, keptUntil: Date.now() + RUN_FACTS_FAILED_KEPT_MS });
        deps.warn?.(
          { runId, error: error.message },
          'a run a case list holds could not be described: listed as visibility shows it, if a case row names it',
        );
        return undefined;
      },
    );
  deps.runFacts.set(runId, { facts, keptUntil: Date.now() + RESET_SHOWN_WITHIN_MS });
  return facts;
}

/** The case rows naming these runs (each row names its case's first run), by run id. */
async function rowsOf(deps: ListDeps, runIds: readonly string[]) {
  const { rows } = await deps.pool.query<{ case_id: string; unit_id: string; run_id: string }>(
    'SELECT case_id, unit_id, run_id FROM cases WHERE run_id = ANY($1)',
    [runIds],
  );
  return new Map(rows.map((r) => [r.run_id, r]));
}

/** The visibility clause for these workflow ids (cut to the characters caseWorkflowId uses). */
export function workflowIdIn(workflowIds: readonly string[]): string {
  return `WorkflowId IN (${workflowIds.map((id) => `'${id.replace(/[^A-Za-z0-9:-]/g, '')}'`).join(', ')})`;
}

/** One page of cases matching `query` (a visibility query), newest first. */
export async function listCases(
  deps: ListDeps,
  query: string,
  pageSize: number,
  pageToken?: string,
): Promise<CaseList> {
  const page = await listRuns(deps, query, pageSize, pageToken);
  return { cases: page.listed.map((l) => l.summary), nextPageToken: page.nextPageToken };
}

/** Pages of runs of a citizen's units read for the cases not found by their first runs. */
const UNIT_PAGES = 3;
/** How much earlier than its row a case's first run may have started (clocks apart). */
const START_SKEW_MS = 60_000;

/**
 * The summaries of these cases (a citizen's own), in the order given, each as the run it goes
 * on in shows it. Found by their first runs; a case whose first run was reset, or is gone
 * from visibility (retention deleted it, closed by a reset long ago), is looked for among the
 * runs of its unit started since its row was written, open runs first as visibility lists
 * them, up to UNIT_PAGES pages of 100. A case found in neither (just submitted) is left out.
 */
export async function casesOfRows(
  deps: ListDeps,
  rows: readonly {
    case_id: string;
    workflow_id: string;
    run_id: string | null;
    created_at: Date;
  }[],
): Promise<CaseSummary[]> {
  const withRuns = rows.filter((r) => r.run_id);
  if (withRuns.length === 0) return [];
  const found = new Map<string, CaseSummary>();
  const byRuns = await listPage(
    deps,
    runIdIn(withRuns.map((r) => r.run_id!)),
    withRuns.length,
    undefined,
  );
  for (const { summary } of byRuns.listed) found.set(summary.caseId, summary);
  const missing = withRuns.filter((r) => !found.has(r.case_id));
  if (missing.length > 0) {
    const since = new Date(
      Math.min(...missing.map((r) => r.created_at.getTime())) - START_SKEW_MS,
    ).toISOString();
    const query = `WorkflowType = 'jointTransferCase' AND ${workflowIdIn([...new Set(missing.map((r) => r.workflow_id))])} AND StartTime >= '${since}'`;
    const wanted = new Set(missing.map((r) => r.case_id));
    let token: Uint8Array | undefined;
    for (let pages = 0; pages < UNIT_PAGES && wanted.size > 0; pages++) {
      let page;
      try {
        page = await listPage(deps, query, 100, token);
      } catch (error) {
        // Temporal not answering: what was found stands; the rest, as their rows and the
        // ledger show them. A fault of this process fails the list.
        if (!isGrpcServiceError(error)) throw error;
        deps.warn?.(
          { error: error.message },
          "a citizen's list could not look among their units' runs: the cases not found there are shown from their rows",
        );
        break;
      }
      // Visibility lists open runs first, then the latest closed: a chain's first one found
      // is the run its case goes on in (its earlier runs, reset, are left out anyway).
      for (const { summary } of page.listed)
        if (wanted.delete(summary.caseId)) found.set(summary.caseId, summary);
      if (!page.next) break;
      token = page.next;
    }
  }
  return rows.flatMap((r) => {
    const summary = found.get(r.case_id);
    return summary ? [summary] : [];
  });
}
