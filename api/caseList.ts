// Case lists from Temporal's visibility store: the typed search attributes (no personal data)
// filter and page; PostgreSQL maps each run to the case id the API gave it.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type pg from 'pg';
import { z } from 'zod';
import { Agency } from '../domain/agency.ts';
import { CasePhase } from '../domain/caseStatus.ts';
import { RequestValidationError } from './errors.ts';

/** gRPC status INVALID_ARGUMENT: the visibility store refused the request as malformed. */
const GRPC_INVALID_ARGUMENT = 3;
/** gRPC status NOT_FOUND: Temporal holds no such run (any more). */
const GRPC_NOT_FOUND = 5;

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
    pageSize: z.coerce
      .number({ error: 'must be a whole number from 1 to 100' })
      .int('must be a whole number from 1 to 100')
      .min(1, 'must be a whole number from 1 to 100')
      .max(100, 'must be a whole number from 1 to 100')
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

function timestampIso(t: { seconds?: unknown; nanos?: number | null } | null | undefined) {
  if (!t || t.seconds === undefined || t.seconds === null) return null;
  const ms = Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
  return new Date(ms).toISOString();
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

type Execution = temporal.api.workflow.v1.IWorkflowExecutionInfo;

/** How many resets of one case a read or a list follows (each made by hand, by an operator). */
export const MAX_RESETS_FOLLOWED = 20;

/** Temporal's status of a run a reset terminated. */
const TERMINATED =
  temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED;

/** A case as a list found it, and the run it was read from (its first run or one a reset made). */
export interface ListedRun {
  summary: CaseSummary;
  runId: string;
}

/**
 * What to do with a listed run a reset terminated (`temporal workflow reset`, an operator's
 * repair: the case goes on in a new run with the same input): `drop` it, for a list by search
 * attributes, which finds the run the reset made on its own when that matches; or `follow` it
 * to the run the case goes on in, for a list of the runs a case row names.
 */
type ResetRuns = 'drop' | 'follow';

/** One page of runs of cases matching `query` (a visibility query), newest first. */
export async function listRuns(
  deps: ListDeps,
  query: string,
  pageSize: number,
  pageToken: string | undefined,
  resetRuns: ResetRuns,
): Promise<{ listed: ListedRun[]; nextPageToken: string | null }> {
  const token =
    pageToken === undefined ? undefined : openPageToken(deps.pageTokens, query, pageToken);
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
  const byRun = await rowsOf(
    deps,
    executions.map((e) => e.execution?.runId ?? ''),
  );
  const listed = (
    await Promise.all(
      executions.map((execution) =>
        caseRunOf(deps, execution, byRun.has(execution.execution?.runId ?? ''), resetRuns),
      ),
    )
  ).filter((found) => found !== undefined);
  // The chains of runs a reset made.
  const unnamed = listed.map((l) => l.firstRunId).filter((runId) => !byRun.has(runId));
  if (unnamed.length > 0)
    for (const [runId, row] of await rowsOf(deps, unnamed)) byRun.set(runId, row);
  const next = response.nextPageToken;
  return {
    listed: listed.flatMap(({ execution, firstRunId, submittedAt }): ListedRun[] => {
      const row = byRun.get(firstRunId);
      // A run without a case row was not started by this API (or its start was rolled back).
      if (!row) return [];
      const fields = execution.searchAttributes?.indexedFields ?? {};
      const summary = {
        caseId: row.case_id,
        unitId: row.unit_id,
        status: strings([decoded(fields.OneWindowStatus)])[0] ?? 'submitted',
        currentSteps: strings(decoded(fields.OneWindowCurrentSteps)),
        agencies: strings(decoded(fields.OneWindowAgencies)),
        overdue: decoded(fields.OneWindowOverdue) === true,
        submittedAt: submittedAt ?? '',
        closedAt: timestampIso(execution.closeTime),
      };
      return [{ summary, runId: execution.execution?.runId ?? '' }];
    }),
    nextPageToken: next && next.length > 0 ? deps.pageTokens.seal(query, next) : null,
  };
}

/**
 * The run to list for a listed `execution`, with the first run of its chain (the one a case
 * row names) and when that began; undefined to leave it out. Visibility tells neither whether
 * a run was reset nor the chain a run a reset made is of (its firstRunId is empty there), so
 * describing the run does, for a terminated run and one no row names: the few runs an
 * operator's hand touched, and runs this API did not start.
 */
async function caseRunOf(
  deps: ListDeps,
  execution: Execution,
  rowNamesIt: boolean,
  resetRuns: ResetRuns,
): Promise<{ execution: Execution; firstRunId: string; submittedAt: string | null } | undefined> {
  const workflowId = execution.execution?.workflowId ?? '';
  const runId = execution.execution?.runId ?? '';
  const listedAsIs = {
    execution,
    firstRunId: runId,
    submittedAt: timestampIso(execution.startTime),
  };
  if (rowNamesIt && execution.status !== TERMINATED) return listedAsIs;
  let described = await describeRun(deps, workflowId, runId);
  if (!described) return undefined;
  const firstRunId = described.workflowExecutionInfo?.firstRunId || runId;
  // A reset run begins when the reset was made; the case, when its first run did.
  const submittedAt = timestampIso(described.workflowExtendedInfo?.originalStartTime);
  if (!described.workflowExtendedInfo?.resetRunId)
    return { execution, firstRunId, submittedAt: submittedAt ?? listedAsIs.submittedAt };
  if (resetRuns === 'drop') return undefined;
  for (let reset = 0; reset < MAX_RESETS_FOLLOWED; reset++) {
    const next = described.workflowExtendedInfo?.resetRunId;
    if (!next || next === described.workflowExecutionInfo?.execution?.runId) break;
    const nextRun = await describeRun(deps, workflowId, next);
    if (!nextRun) break;
    described = nextRun;
  }
  return { execution: described.workflowExecutionInfo ?? execution, firstRunId, submittedAt };
}

/** The case rows naming these runs (each row names its case's first run), by run id. */
async function rowsOf(deps: ListDeps, runIds: readonly string[]) {
  const { rows } = await deps.pool.query<{ case_id: string; unit_id: string; run_id: string }>(
    'SELECT case_id, unit_id, run_id FROM cases WHERE run_id = ANY($1)',
    [runIds],
  );
  return new Map(rows.map((r) => [r.run_id, r]));
}

/** The run's description, raw as visibility lists runs; undefined once Temporal has none. */
async function describeRun(deps: ListDeps, workflowId: string, runId: string) {
  try {
    return await deps.temporal.workflowService.describeWorkflowExecution({
      namespace: deps.namespace,
      execution: { workflowId, runId },
    });
  } catch (error) {
    if (isGrpcServiceError(error) && Number(error.code) === GRPC_NOT_FOUND) return undefined;
    throw error;
  }
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
  const page = await listRuns(deps, query, pageSize, pageToken, 'drop');
  return { cases: page.listed.map((l) => l.summary), nextPageToken: page.nextPageToken };
}

/**
 * The summaries of the cases whose first runs are given (a citizen's own cases), in the
 * order given, each as the run it goes on in shows it.
 */
export async function casesOfRuns(
  deps: ListDeps,
  runIds: readonly string[],
): Promise<CaseSummary[]> {
  if (runIds.length === 0) return [];
  const page = await listRuns(deps, runIdIn(runIds), runIds.length, undefined, 'follow');
  const byId = new Map(page.listed.map((l) => [l.summary.caseId, l.summary]));
  const { rows } = await deps.pool.query<{ case_id: string }>(
    'SELECT case_id FROM cases WHERE run_id = ANY($1) ORDER BY created_at DESC',
    [runIds],
  );
  return rows.flatMap((r) => {
    const summary = byId.get(r.case_id);
    return summary ? [summary] : [];
  });
}
