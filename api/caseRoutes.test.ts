// The case routes against fakes of PostgreSQL and Temporal (no network): what a caller gets
// when Temporal is down, when it no longer keeps a closed case, when a case row names no
// run, and which field a refusal names. The happy paths run against the real services in
// test/integration/roleMatrix.test.ts and frontDoors.test.ts.
import { Metadata } from '@grpc/grpc-js';
import { RetryState } from '@temporalio/common';
import proto from '@temporalio/proto';
import {
  ActivityFailure,
  ApplicationFailure,
  Client,
  QueryNotRegisteredError,
  ServiceError,
  TimeoutFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { signDecision } from '../activities/sign.ts';
import type { CaseStatus } from '../domain/caseStatus.ts';
import type { DecisionOpening, DecisionRecord } from '../domain/decisions.ts';
import { fromBase64 } from '../ledger/bytes.ts';
import { agencyKeyName, generateSigningKey } from '../ledger/keys.ts';
import { commitTo, signStatement } from '../ledger/statement.ts';
import type { AccessRecord } from './access.ts';
import { buildApp, type CallerLimits } from './app.ts';
import type { CaseRow } from './caseRoutes.ts';
import { ForbiddenError, UnauthorizedError, type Principal } from './auth.ts';
import { AgencyUnavailableError, refusedInspection, SigningKeyRefusedError } from './errors.ts';

const CASE = '11111111-1111-4111-8111-111111111111';
/** A later case of the same property unit, in the same workflow id. */
const LATER_CASE = '22222222-2222-4222-8222-222222222222';
const zeros = (bytes: number) => Buffer.alloc(bytes).toString('base64');

/** Callers by name; each is sent as a JWT-shaped token `<name>.x.y` the fake verifier reads. */
const CALLERS: Record<string, Principal> = {
  citizen: { role: 'citizen', sub: 'c1' },
  neighbour: { role: 'citizen', sub: 'c2' },
  registry: { role: 'officer', sub: 'o1', agency: 'registry' },
  tax: { role: 'officer', sub: 'o2', agency: 'tax' },
  gas: { role: 'officer', sub: 'o3', agency: 'gas' },
  water: { role: 'officer', sub: 'o4', agency: 'water' },
  supervisor: { role: 'supervisor', sub: 's1' },
};

const rowOf = (overrides: Partial<CaseRow> = {}): CaseRow => ({
  case_id: CASE,
  unit_id: 'U-1',
  workflow_id: 'case:U-1',
  run_id: 'run-1',
  applicant: 'c1',
  created_at: new Date('2026-01-05T09:00:00Z'),
  erased_at: null,
  ...overrides,
});

/** The case's close entry as the ledger stores it (format only: nothing here verifies it). */
function closeEntry(caseId: string, outcome: string, index: number): Buffer {
  const entry = {
    index,
    prevLeafHash: zeros(32),
    statement: {
      type: 'onewindow.statement/v1',
      statementId: `${caseId}/close`,
      caseId,
      stepId: 'close',
      agency: 'orchestrator',
      outcome,
      commitment: zeros(32),
      facts: {},
      issuedAt: '2026-01-09T10:00:00Z',
      keyId: 'orchestrator+0011aabb',
    },
    signature: zeros(64),
    sequencedAt: '2026-01-09T10:00:01Z',
  };
  return Buffer.from(JSON.stringify(entry));
}

/** An escalation notice as the workflow writes it (activities/orchestrator.ts notify). */
interface Notice {
  id: number;
  caseId: string;
  stepId: string;
  /** Written within the last minutes, as PostgreSQL tells (the visibility store may lag it). */
  recent?: boolean;
}

/** What each notice says and when it was written (the fake's own). */
const NOTICED_AT = '2026-01-07T10:00:05.000Z';
const noticeMessage = (stepId: string) => `${stepId} escalated (the notice)`;

/** PostgreSQL as the case routes read it: case rows, ledger entries and escalation notices. */
/** agency_keys rows the fake PostgreSQL holds, by key id (registered by the tests that sign). */
const REGISTERED_KEYS = new Map<string, Record<string, unknown>>();
const registerKey = (key: { keyId: string; publicKey: Uint8Array }, agency: string) =>
  REGISTERED_KEYS.set(key.keyId, {
    key_id: key.keyId,
    agency,
    public_key: Buffer.from(key.publicKey),
    valid_from: new Date(0),
    valid_until: null,
  });

function fakePool(
  rows: CaseRow[],
  entries: Record<string, Buffer[]> = {},
  notices: Notice[] = [],
  /** The application case_secrets holds for every case, as the intake stored it. */
  application: unknown = null,
) {
  const queries: string[] = [];
  const query = (config: string | { text: string; values?: unknown[] }, params?: unknown[]) => {
    const text = typeof config === 'string' ? config : config.text;
    const values = (typeof config === 'string' ? params : (config.values ?? params)) ?? [];
    queries.push(text);
    const answer = (r: unknown[]) => Promise.resolve({ rows: r, rowCount: r.length });
    if (/FROM cases WHERE case_id = \$1|FROM cases c LEFT JOIN case_secrets/.test(text))
      return answer(
        rows.filter((r) => r.case_id === values[0]).map((r) => ({ ...r, application })),
      );
    if (/count\(\*\)::int AS submitted/.test(text)) {
      // The citizen's cases of the last 24 hours, and when the oldest of them leaves them.
      const day = 24 * 3600 * 1000;
      const mine = rows.filter(
        (r) => r.applicant === values[0] && r.created_at.getTime() > Date.now() - day,
      );
      const oldest = Math.min(...mine.map((r) => r.created_at.getTime()));
      return answer([
        { submitted: mine.length, retry_ms: mine.length ? oldest + day - Date.now() : null },
      ]);
    }
    if (/FROM cases\s+WHERE applicant = \$1/.test(text))
      return answer(rows.filter((r) => r.applicant === values[0]).slice(0, values[1] as number));
    if (/FROM cases WHERE run_id = ANY/.test(text)) {
      const runs = values[0] as string[];
      return answer(rows.filter((r) => r.run_id !== null && runs.includes(r.run_id)));
    }
    if (/FROM ledger_entries WHERE case_id = \$1 AND idx > \$2/.test(text))
      return answer(
        (entries[values[0] as string] ?? []).map((entry) => ({
          entry,
          leaf_hash: Buffer.alloc(32),
        })),
      );
    if (/FROM case_secrets WHERE case_id/.test(text)) return answer([{ application }]);
    if (/FROM agency_keys WHERE key_id = \$1/.test(text)) {
      const key = REGISTERED_KEYS.get(values[0] as string);
      return answer(key ? [key] : []);
    }
    if (/FROM notifications n JOIN cases c/.test(text)) {
      const [before, limit] = values as [string, number];
      const below = notices.filter((n) => n.id < Number(before)).sort((a, b) => b.id - a.id);
      return answer(
        below.slice(0, limit).flatMap((n) => {
          const row = rows.find((r) => r.case_id === n.caseId);
          if (!row) return [];
          const notice = {
            id: String(n.id),
            step_id: n.stepId,
            message: noticeMessage(n.stepId),
            noticed_at: new Date(NOTICED_AT),
            recent: n.recent ?? false,
          };
          return [{ ...row, ...notice }];
        }),
      );
    }
    return answer([]);
  };
  const transaction: string[] = [];
  const connect = () =>
    Promise.resolve({
      query: (text: string) => {
        transaction.push(text.split(' ')[0]!);
        return Promise.resolve({ rows: [], rowCount: 1 });
      },
      release: () => undefined,
    });
  return { pool: { query, connect }, queries, transaction };
}

interface FakeRun {
  runId: string;
  caseId: string;
  /** Temporal's status name, as describe() reports it. */
  statusName: string;
  phase: CaseStatus['phase'];
  overdue?: boolean;
  escalations?: CaseStatus['escalations'];
  /** The OneWindowCurrentSteps the visibility store shows; without, the case published none. */
  currentSteps?: string[];
  /** The steps its status query shows; without, the registry's review waiting. */
  steps?: CaseStatus['steps'];
  /** The first run of its chain: the run a reset made this one of; without, itself. */
  firstRunId?: string;
  /** The run a reset of this one made (Temporal's resetRunId). */
  resetRunId?: string;
  /** Deleted by Temporal's retention: neither listed nor described any more. */
  gone?: boolean;
  /** Its workflow id: without, `case:U-1`. */
  workflowId?: string;
}

/** A search attribute value as the visibility store returns it. */
const attribute = (value: unknown) => ({ data: Buffer.from(JSON.stringify(value)) });

/**
 * Temporal as the case routes use it: runs of the workflow id `case:U-1`, the latest last.
 * A handle without a run id follows the latest run, as the real client does.
 */
function fakeTemporal(runs: FakeRun[]) {
  const world = {
    runs,
    /** 'timeout': no worker answered in time; 'broken': the run itself cannot answer. */
    queryFails: false as false | 'timeout' | 'broken',
    /** Runs whose status query alone times out. */
    timesOut: new Set<string>(),
    /** Status queries asked. */
    queries: 0,
    /** Runs described through the workflow service (the lists, for runs a reset touched). */
    describes: 0,
    /** What every describe through the workflow service fails with, when set. */
    describeFails: undefined as Error | undefined,
    /** What a visibility page from this offset fails with, if anything. */
    listFails: undefined as ((offset: number) => Error | undefined) | undefined,
    updates: [] as (string | undefined)[],
    /** What every Update fails with, when set. */
    updateFails: undefined as Error | undefined,
    /** Sends of an Update the server aborts (its workflow task failed) before one goes through. */
    updateAborts: 0,
    /** What each of those aborts throws. */
    abortedWith: updateAborted as () => Error,
    /** Updates sent, aborted ones included. */
    updateSends: 0,
    /** The deadlines (ms from then) calls were bounded by (withDeadline). */
    deadlines: [] as number[],
  };
  const getHandle = (
    workflowId: string,
    runId?: string,
    options: { firstExecutionRunId?: string } = {},
  ) => {
    const run = () => {
      const found = runId ? world.runs.find((r) => r.runId === runId) : world.runs.at(-1);
      if (!found) throw new WorkflowNotFoundError('workflow not found', workflowId, runId);
      return found;
    };
    /**
     * The run an Update reaches. Temporal refuses one for a run of another chain than asked,
     * and one for a closed run, with NotFound (temporalio/temporal#6240).
     */
    const updated = () => {
      const found = run();
      const { firstExecutionRunId } = options;
      if (
        (firstExecutionRunId && (found.firstRunId ?? found.runId) !== firstExecutionRunId) ||
        found.statusName !== 'RUNNING'
      )
        throw new WorkflowNotFoundError('workflow not found', workflowId, runId);
      return found;
    };
    const statusOf = (r: FakeRun): CaseStatus => ({
      caseId: r.caseId,
      unitId: 'U-1',
      phase: r.phase,
      overdue: r.overdue ?? false,
      steps: r.steps ?? [
        { stepId: 'review', agency: 'registry', kind: 'human', status: 'waiting' },
      ],
      records: [],
      escalations: r.escalations ?? [],
    });
    return {
      describe: () =>
        Promise.resolve().then(() => ({
          runId: run().runId,
          status: { name: run().statusName },
          raw: {
            workflowExecutionInfo: { firstRunId: run().firstRunId ?? run().runId },
            workflowExtendedInfo: { resetRunId: run().resetRunId ?? '' },
          },
        })),
      query: () =>
        Promise.resolve().then(() => {
          world.queries++;
          if (world.queryFails === 'timeout' || world.timesOut.has(run().runId))
            throw Object.assign(new Error('4 DEADLINE_EXCEEDED: query timed out'), { code: 4 });
          if (world.queryFails === 'broken')
            throw new QueryNotRegisteredError('query failed: workflow task keeps failing', 3);
          return statusOf(run());
        }),
      result: () => Promise.resolve().then(() => statusOf(run())),
      executeUpdate: () =>
        Promise.resolve().then(() => {
          world.updateSends++;
          if (world.updateAborts > 0) {
            world.updateAborts--;
            throw world.abortedWith();
          }
          if (world.updateFails) throw world.updateFails;
          world.updates.push(updated().runId);
          return { ledgerIndex: 7 };
        }),
    };
  };
  /** A run as visibility lists it (raw, as the workflow service answers). */
  const executionOf = (r: FakeRun) => ({
    execution: { workflowId: r.workflowId ?? 'case:U-1', runId: r.runId },
    status:
      proto.temporal.api.enums.v1.WorkflowExecutionStatus[
        `WORKFLOW_EXECUTION_STATUS_${r.statusName}` as 'WORKFLOW_EXECUTION_STATUS_RUNNING'
      ],
    // A run starts the second its row is written (rowOf: 09:00), or one later than the last.
    startTime: { seconds: 1_767_603_600 + world.runs.indexOf(r) },
    ...(r.currentSteps
      ? {
          searchAttributes: {
            indexedFields: {
              OneWindowStatus: attribute(r.phase),
              OneWindowCurrentSteps: attribute(r.currentSteps),
              OneWindowOverdue: attribute(r.overdue ?? false),
            },
          },
        }
      : {}),
  });
  /**
   * Visibility: the runs a `RunId IN (...)` query names, all runs for one naming the workflow
   * id or neither, only the open ones if it asks so, and those showing one of the steps it
   * names in `OneWindowCurrentSteps IN (...)`, started since a `StartTime >=`, newest first,
   * paged by `pageSize`. Like the real store, it knows no firstRunId.
   */
  const listWorkflowExecutions = ({
    query,
    pageSize,
    nextPageToken,
  }: {
    query: string;
    pageSize?: number;
    nextPageToken?: Uint8Array;
  }) => {
    const offset = nextPageToken ? Number(Buffer.from(nextPageToken).toString()) : 0;
    if (world.listFails?.(offset)) return Promise.reject(world.listFails(offset)!);
    const since = /StartTime >= '([^']+)'/.exec(query)?.[1];
    const all = world.runs
      .filter((r) => !r.gone)
      .filter((r) => !query.includes('RunId IN') || query.includes(`'${r.runId}'`))
      .filter(
        (r) =>
          !query.includes('WorkflowId IN') || query.includes(`'${r.workflowId ?? 'case:U-1'}'`),
      )
      .filter((r) => !query.includes("ExecutionStatus = 'Running'") || r.statusName === 'RUNNING')
      .filter(
        (r) =>
          !query.includes('OneWindowCurrentSteps IN') ||
          (r.currentSteps ?? []).some((step) => query.includes(`'${step}'`)),
      )
      .map(executionOf)
      .filter((e) => !since || e.startTime.seconds * 1000 >= Date.parse(since))
      // As the store lists them: open runs first, then the latest closed (here: the latest).
      .reverse();
    const end = pageSize ? offset + pageSize : all.length;
    return Promise.resolve({
      executions: all.slice(offset, end),
      ...(end < all.length ? { nextPageToken: Buffer.from(String(end)) } : {}),
    });
  };
  /** A run's description, raw as the workflow service answers it. */
  const describeWorkflowExecution = ({ execution }: { execution: { runId: string } }) =>
    Promise.resolve().then(() => {
      world.describes++;
      if (world.describeFails) throw world.describeFails;
      const r = world.runs.find((run) => run.runId === execution.runId && !run.gone);
      if (!r)
        throw Object.assign(new Error('5 NOT_FOUND: workflow not found'), {
          code: 5,
          details: 'workflow not found',
          metadata: new Metadata(),
        });
      return {
        workflowExecutionInfo: { ...executionOf(r), firstRunId: r.firstRunId ?? r.runId },
        workflowExtendedInfo: {
          resetRunId: r.resetRunId ?? '',
          originalStartTime: executionOf(
            world.runs.find((first) => first.runId === (r.firstRunId ?? r.runId))!,
          ).startTime,
        },
      };
    });
  return {
    temporal: {
      workflow: { getHandle },
      workflowService: { listWorkflowExecutions, describeWorkflowExecution },
      /** As the client's: every call `fn` makes is bounded by `deadline` (recorded, from now). */
      withDeadline: <T>(deadline: number, fn: () => Promise<T>) => {
        world.deadlines.push(deadline - Date.now());
        return fn();
      },
    },
    world,
  };
}

/** A real Temporal client whose every call fails as gRPC does while the server is down. */
function unavailableTemporal(): Client {
  const unavailable = () =>
    Object.assign(new Error('14 UNAVAILABLE: No connection established'), {
      code: 14,
      details: 'No connection established',
      metadata: new Metadata(),
    });
  const workflowService = new Proxy(
    {},
    { get: (_t, name) => (name === 'then' ? undefined : () => Promise.reject(unavailable())) },
  );
  const connection = {
    workflowService,
    operatorService: {},
    healthService: {},
    withDeadline: (_d: unknown, fn: () => unknown) => fn(),
    withMetadata: (_m: unknown, fn: () => unknown) => fn(),
    withAbortSignal: (_s: unknown, fn: () => unknown) => fn(),
    plugins: [],
  };
  return new Client({ connection: connection as never });
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function appWith(
  temporal: unknown,
  pool: unknown,
  accessRefused?: Error,
  callerLimits?: Partial<CallerLimits>,
) {
  const accesses: AccessRecord[] = [];
  app = await buildApp({
    temporal: temporal as never,
    pool: pool as never,
    ...(callerLimits ? { callerLimits } : {}),
    verifyToken: (token) => {
      const principal = CALLERS[token.split('.')[0]!];
      return principal
        ? Promise.resolve(principal)
        : Promise.reject(new UnauthorizedError('unknown token'));
    },
    recordAccess: (record) => {
      if (accessRefused) return Promise.reject(accessRefused);
      accesses.push(record);
      return Promise.resolve({ ledgerIndex: 99 });
    },
    webAssets: { pages: new Map(), assets: new Map(), inputs: [] },
  });
  const call = (method: 'GET' | 'POST', url: string, caller: string, payload?: object) =>
    app!.inject({
      method,
      url,
      headers: { authorization: `Bearer ${caller}.x.y` },
      ...(payload ? { payload } : {}),
    });
  return { call, accesses };
}

const APPLICATION = {
  unitId: 'U-1',
  address: '1 Main Street',
  priceCents: 10_000_000,
  areaSqm: 80,
  contractFilingNumber: 'CF-2026-1',
  buyer: { name: 'Bob Buyer', idNumber: 'B1234567' },
  seller: { name: 'Ann Seller', idNumber: 'S7654321' },
  utilities: [],
  consent: true,
};

/** Temporal whose unit U-1 has an open case already: every start is refused, `handle` answers. */
function unitTaken(handle: { query: () => Promise<unknown>; describe: () => Promise<unknown> }) {
  return {
    workflow: {
      start: () =>
        Promise.reject(
          new WorkflowExecutionAlreadyStartedError(
            'already started',
            'case:U-1',
            'jointTransferCase',
          ),
        ),
      getHandle: () => handle,
    },
    workflowService: {},
  };
}

describe('while Temporal is unavailable', () => {
  it('GET /cases/:id answers 503 when the client wraps gRPC UNAVAILABLE in a ServiceError', async () => {
    const { call } = await appWith(unavailableTemporal(), fakePool([rowOf()]).pool);
    const response = await call('GET', `/cases/${CASE}`, 'citizen');
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ error: 'unavailable' });
  });

  it('POST /cases answers 503 and writes no case row, holding no database connection meanwhile', async () => {
    const db = fakePool([]);
    const { call } = await appWith(unavailableTemporal(), db.pool);
    const response = await call('POST', '/cases', 'citizen', APPLICATION);
    expect(response.statusCode, response.body).toBe(503);
    expect(db.queries.filter((q) => /INSERT INTO cases/.test(q))).toEqual([]);
    expect(db.transaction).toEqual([]);
  });

  it('POST /cases for a unit with an open case answers 503, not 409, when whose it is cannot be read', async () => {
    const unavailable = () =>
      Object.assign(new Error('14 UNAVAILABLE: no connection'), { code: 14 });
    const temporal = unitTaken({
      query: () => Promise.reject(unavailable()),
      describe: () => Promise.reject(unavailable()),
    });
    const { call } = await appWith(temporal, fakePool([]).pool);
    const response = await call('POST', '/cases', 'citizen', APPLICATION);
    expect(response.statusCode, response.body).toBe(503);
  });

  it('the timeline answers 503 and records no access: nothing was read', async () => {
    const { call, accesses } = await appWith(unavailableTemporal(), fakePool([rowOf()]).pool);
    const response = await call('GET', `/cases/${CASE}/timeline?purpose=audit`, 'supervisor');
    expect(response.statusCode).toBe(503);
    expect(accesses).toEqual([]);
  });
});

describe('a submission sent again while its first is being taken in', () => {
  /** Temporal holding the unit's open case, started by `applicant`, answering its status with `query`. */
  const openCase = (applicant: string, query: () => Promise<unknown>) =>
    unitTaken({
      query,
      describe: () =>
        Promise.resolve({
          runId: 'run-1',
          memo: { applicant },
          raw: { workflowExecutionInfo: { firstRunId: 'run-1' } },
        }),
    });
  const answers = () => Promise.resolve({ caseId: CASE, steps: [] });
  /** The first workflow task failed and is retried: the server cannot answer a query. */
  const notReady = () =>
    Promise.reject(
      Object.assign(new Error('9 FAILED_PRECONDITION: Workflow Task in failed state'), {
        code: 9,
      }),
    );
  /**
   * The database as the case left it: `row`, a row for its run (the API's or the intake's);
   * `stored`, the application the intake stored. Any other query as fakePool answers it.
   */
  const recorded = ({ row, stored }: { row: boolean; stored: boolean }) => {
    const db = fakePool([]);
    const { query } = db.pool;
    const answer = (rows: unknown[]) => Promise.resolve({ rows, rowCount: rows.length });
    const pool = {
      ...db.pool,
      query: (config: string | { text: string; values?: unknown[] }, params?: unknown[]) => {
        const text = typeof config === 'string' ? config : config.text;
        if (/FROM cases WHERE run_id = \$1/.test(text))
          return answer(row ? [{ case_id: CASE }] : []);
        if (/SELECT 1 FROM case_secrets/.test(text)) return answer(stored ? [{}] : []);
        return query(config, params);
      },
    };
    return { ...db, pool };
  };

  it("tells the same citizen to send it again shortly (503), not that the case is another's, and writes nothing", async () => {
    const db = recorded({ row: true, stored: false });
    const { call } = await appWith(openCase('c1', answers), db.pool);
    const response = await call('POST', '/cases', 'citizen', APPLICATION);
    expect(response.statusCode, response.body).toBe(503);
    expect(response.json()).toEqual({
      error: 'unavailable',
      reason:
        'your application for unit U-1 is still being taken in: send it again in a few seconds',
    });
    expect(response.headers['retry-after']).toBe('5');
    expect(db.queries.filter((q) => /INSERT INTO cases/.test(q))).toEqual([]);
  });

  it('says the same while its first workflow task fails and is retried, whether or not a row was written', async () => {
    for (const row of [true, false]) {
      const db = recorded({ row, stored: false });
      const { call } = await appWith(openCase('c1', notReady), db.pool);
      const response = await call('POST', '/cases', 'citizen', APPLICATION);
      expect(response.statusCode, response.body).toBe(503);
      expect(response.json<{ reason: string }>().reason).toContain('still being taken in');
    }
  });

  it('answers the conflict once the intake has stored another application, even while the run cannot answer', async () => {
    for (const query of [answers, notReady]) {
      const { call } = await appWith(
        openCase('c1', query),
        recorded({ row: true, stored: true }).pool,
      );
      const response = await call('POST', '/cases', 'citizen', APPLICATION);
      expect(response.statusCode, response.body).toBe(409);
    }
  });

  it('answers another citizen with the conflict: the open case is not theirs', async () => {
    const { call } = await appWith(
      openCase('someone-else', answers),
      recorded({ row: true, stored: false }).pool,
    );
    const response = await call('POST', '/cases', 'citizen', APPLICATION);
    expect(response.statusCode, response.body).toBe(409);
    expect(response.json()).toMatchObject({ error: 'conflict', field: 'unitId' });
  });
});

describe('a closed case whose history Temporal no longer keeps', () => {
  const closed = () => fakePool([rowOf()], { [CASE]: [closeEntry(CASE, 'completed', 12)] });

  it('GET /cases/:id shows the case as the ledger and the case row still hold it', async () => {
    const { call } = await appWith(fakeTemporal([]).temporal, closed().pool);
    const response = await call('GET', `/cases/${CASE}`, 'citizen');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      caseId: CASE,
      workflowStatus: 'HISTORY_DELETED',
      phase: 'completed',
      steps: [],
      entries: [{ index: 12 }],
    });
  });

  it('the timeline answers 200 and records the one access it served', async () => {
    const { call, accesses } = await appWith(fakeTemporal([]).temporal, closed().pool);
    const response = await call('GET', `/cases/${CASE}/timeline?purpose=audit`, 'supervisor');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      workflowStatus: 'HISTORY_DELETED',
      phase: 'completed',
    });
    expect(accesses).toHaveLength(1);
  });

  it("the timeline answers 503 key_refused, naming why, while the ledger refuses the server's key for the access log", async () => {
    const refused = new SigningKeyRefusedError(
      "the ledger refuses this server's key for the access log (key k was revoked at T)",
    );
    const { call } = await appWith(fakeTemporal([]).temporal, closed().pool, refused);
    const response = await call('GET', `/cases/${CASE}/timeline?purpose=audit`, 'supervisor');
    expect(response.statusCode, response.body).toBe(503);
    expect(response.json()).toEqual({ error: 'key_refused', reason: refused.message });
    // Only an operator's restart cures it: no invitation to retry in a few seconds.
    expect(response.headers['retry-after']).toBeUndefined();
  });

  it("an officer's decision is answered as for an unknown case: the officer learns nothing of it", async () => {
    const { call } = await appWith(fakeTemporal([]).temporal, closed().pool);
    const response = await call('POST', `/cases/${CASE}/decisions`, 'registry', {
      stepId: 'review',
      outcome: 'approved',
      reason: 'checked',
    });
    expect(response.statusCode, response.body).toBe(404);
    expect(response.json()).toEqual({
      error: 'not_found',
      field: 'caseId',
      reason: `no case ${CASE}`,
    });
  });

  it("the citizen's list shows how it ended, not 'submitted'", async () => {
    const { temporal } = fakeTemporal([]);
    const listing = {
      ...temporal,
      workflowService: { listWorkflowExecutions: () => Promise.resolve({ executions: [] }) },
    };
    const { call } = await appWith(listing, closed().pool);
    const response = await call('GET', '/cases', 'citizen');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<{ cases: unknown[] }>().cases).toEqual([
      expect.objectContaining({
        caseId: CASE,
        status: 'completed',
        closedAt: '2026-01-09T10:00:01Z',
      }),
    ]);
  });
});

describe("a supervisor's case list", () => {
  it('refuses a page token it did not hand out (400 naming pageToken) without asking Temporal', async () => {
    let lists = 0;
    const listing = {
      ...fakeTemporal([]).temporal,
      workflowService: {
        listWorkflowExecutions: () => {
          lists++;
          return Promise.resolve({ executions: [] });
        },
      },
    };
    const { call } = await appWith(listing, fakePool([rowOf()]).pool);
    for (const token of ['eyJSdW5JRCI6MX0', 'bm90LWEtdG9rZW4']) {
      const refused = await call('GET', `/cases?status=running&pageToken=${token}`, 'supervisor');
      expect(refused.statusCode, refused.body).toBe(400);
      expect(refused.json()).toMatchObject({ error: 'invalid_request', field: 'pageToken' });
    }
    expect(lists).toBe(0);
  });
});

describe('an application stored under earlier input rules', () => {
  it("is still the case's application: the officer reads its view", async () => {
    // Taken before unit ids were capitals only and the parties had to differ.
    const stored = {
      ...APPLICATION,
      unitId: 'u-1',
      seller: { ...APPLICATION.seller, idNumber: APPLICATION.buyer.idNumber },
    };
    const { temporal } = fakeTemporal([
      { runId: 'run-1', caseId: CASE, statusName: 'RUNNING', phase: 'running' },
    ]);
    const { call, accesses } = await appWith(temporal, fakePool([rowOf()], {}, [], stored).pool);
    const response = await call('GET', `/cases/${CASE}/view?purpose=review`, 'registry');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<{ view: Record<string, string> }>().view).toMatchObject({
      unitId: 'u-1',
      buyerIdNumber: 'B1234567',
    });
    expect(accesses).toHaveLength(1);
  });
});

describe('when the status query fails', () => {
  it("the officer's view answers 503, not 404, and records no access", async () => {
    const { temporal, world } = fakeTemporal([
      { runId: 'run-1', caseId: CASE, statusName: 'RUNNING', phase: 'running' },
    ]);
    world.queryFails = 'timeout';
    const { call, accesses } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await call('GET', `/cases/${CASE}/view?purpose=review`, 'registry');
    expect(response.statusCode, response.body).toBe(503);
    expect(accesses).toEqual([]);
  });

  it.each(['timeout', 'broken'] as const)(
    'the inbox lists the case unconfirmed (query %s), as the visibility store shows it, rather than failing or leaving it out',
    async (fails) => {
      const { temporal, world } = fakeTemporal([
        { runId: 'run-1', caseId: CASE, statusName: 'RUNNING', phase: 'running' },
      ]);
      // A timeout (nobody answers now), or a run whose workflow task keeps failing.
      world.queryFails = fails;
      const listing = {
        ...temporal,
        workflowService: {
          listWorkflowExecutions: () =>
            Promise.resolve({
              executions: [
                {
                  execution: { workflowId: 'case:U-1', runId: 'run-1' },
                  status:
                    proto.temporal.api.enums.v1.WorkflowExecutionStatus
                      .WORKFLOW_EXECUTION_STATUS_RUNNING,
                  searchAttributes: {
                    indexedFields: {
                      OneWindowCurrentSteps: attribute(['review', 'settleArrears.water']),
                      OneWindowOverdue: attribute(true),
                    },
                  },
                },
              ],
            }),
        },
      };
      const { call } = await appWith(listing, fakePool([rowOf()]).pool);
      const response = await call('GET', '/inbox', 'registry');
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toEqual({
        items: [
          {
            caseId: CASE,
            unitId: 'U-1',
            stepId: 'review',
            startedAt: null,
            deadlineAt: null,
            overdue: true,
            confirmed: false,
          },
        ],
        nextPageToken: null,
      });
    },
  );
});

describe("an officer's view of a case", () => {
  // The fake pool holds no application: a case that passes the need-to-know test goes on to
  // "holds no personal data"; one that does not is "no case". Neither records an access.
  it.each([
    [
      'passes while the case is open and the agency has begun its part',
      { statusName: 'RUNNING', phase: 'running' },
      'waiting',
      /holds no personal data/,
    ],
    [
      'looks like no case before the agency has begun its part',
      { statusName: 'RUNNING', phase: 'running' },
      'pending',
      /^no case /,
    ],
    [
      'looks like no case once the case has closed',
      { statusName: 'COMPLETED', phase: 'completed' },
      'done',
      /^no case /,
    ],
  ] as const)('%s', async (_, run, reviewStatus, reason) => {
    const { temporal } = fakeTemporal([
      {
        runId: 'run-1',
        caseId: CASE,
        ...run,
        steps: [{ stepId: 'review', agency: 'registry', kind: 'human', status: reviewStatus }],
      },
    ]);
    const { call, accesses } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await call('GET', `/cases/${CASE}/view?purpose=review`, 'registry');
    expect(response.statusCode, response.body).toBe(404);
    expect(response.json<{ reason: string }>().reason).toMatch(reason);
    expect(accesses).toEqual([]);
  });
});

describe("what an officer's view of a case holds", () => {
  const withWater = { ...APPLICATION, utilities: ['water'] };
  const viewWith = async (
    agency: 'water' | 'registry',
    steps: { stepId: string; kind: 'auto' | 'wait' | 'human'; status: string }[],
  ) => {
    const { temporal } = fakeTemporal([
      {
        runId: 'run-1',
        caseId: CASE,
        statusName: 'RUNNING',
        phase: 'running',
        steps: steps.map((step) => ({ ...step, agency })) as CaseStatus['steps'],
      },
    ]);
    const { call } = await appWith(temporal, fakePool([rowOf()], {}, [], withWater).pool);
    const response = await call('GET', `/cases/${CASE}/view?purpose=arrears`, agency);
    expect(response.statusCode, response.body).toBe(200);
    return response.json<{ view: Record<string, unknown> }>().view;
  };

  it("is a utility's precheck view while only the precheck has run: not the new holder's name", async () => {
    const view = await viewWith('water', [
      { stepId: 'precheck.water', kind: 'auto', status: 'done' },
      { stepId: 'settleArrears.water', kind: 'wait', status: 'waiting' },
      { stepId: 'transferAccount.water', kind: 'auto', status: 'pending' },
    ]);
    expect(view).toEqual({ unitId: 'U-1', address: '1 Main Street' });
  });

  it("holds the new holder's name once the account's transfer has begun", async () => {
    const view = await viewWith('water', [
      { stepId: 'precheck.water', kind: 'auto', status: 'done' },
      { stepId: 'transferAccount.water', kind: 'auto', status: 'running' },
    ]);
    expect(view).toMatchObject({ newHolderName: 'Bob Buyer' });
  });

  it("is the registry's title view while only the title check runs, and the registration's once its review is open", async () => {
    const checking = await viewWith('registry', [
      { stepId: 'checkTitle', kind: 'auto', status: 'running' },
      { stepId: 'review', kind: 'human', status: 'pending' },
    ]);
    expect(Object.keys(checking)).not.toContain('buyerIdNumber');
    expect(JSON.stringify(checking)).not.toContain('Bob Buyer');
    const reviewing = await viewWith('registry', [
      { stepId: 'checkTitle', kind: 'auto', status: 'done' },
      { stepId: 'review', kind: 'human', status: 'waiting' },
    ]);
    expect(reviewing).toMatchObject({ buyerIdNumber: 'B1234567' });
  });
});

describe('a decision by an officer whose agency has no step in the case', () => {
  it('is answered as for an unknown case: no case, and nothing signed', async () => {
    const { temporal, world } = fakeTemporal([
      { runId: 'run-1', caseId: CASE, statusName: 'RUNNING', phase: 'running' },
    ]);
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const { signed } = signDecision({
      key: generateSigningKey(agencyKeyName('gas')),
      agency: 'gas',
      caseId: CASE,
      stepId: 'settleArrears.gas',
      outcome: 'settled',
      decidedBy: 'system',
    });
    const decision = { stepId: 'settleArrears.gas', signed };
    const known = await call('POST', `/cases/${CASE}/decisions`, 'gas', decision);
    const unknown = await call(
      'POST',
      '/cases/22222222-2222-4222-8222-222222222222/decisions',
      'gas',
      decision,
    );
    expect([known.statusCode, unknown.statusCode]).toEqual([404, 404]);
    expect(known.json<{ reason: string }>().reason).toBe(`no case ${CASE}`);
    expect(world.updates).toEqual([]);
  });
});

describe("a gas officer's record of a passed safety inspection", () => {
  const GAS_STEPS: CaseStatus['steps'] = [
    { stepId: 'transferAccount.gas', agency: 'gas', kind: 'auto', status: 'escalated' },
  ];
  const withGas = (overrides: Partial<FakeRun> = {}) =>
    fakeTemporal([
      {
        runId: 'run-1',
        caseId: CASE,
        statusName: 'RUNNING',
        phase: 'running',
        steps: GAS_STEPS,
        ...overrides,
      },
    ]);

  it('is refused to anyone but the gas company (403), before the case is asked', async () => {
    const { temporal, world } = withGas();
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    for (const caller of ['registry', 'tax', 'citizen', 'supervisor']) {
      const response = await call('POST', `/cases/${CASE}/inspections`, caller, {
        unitId: 'U-1',
        outcome: 'passed',
      });
      expect(response.statusCode, caller).toBe(403);
    }
    expect(world.queries).toBe(0);
  });

  it('names what is wrong with the request (400), and records nothing', async () => {
    const { temporal, world } = withGas();
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    for (const [payload, field] of [
      [{ unitId: 'U-1', outcome: 'failed' }, 'outcome'],
      [{ unitId: 'U-1' }, 'outcome'],
      [{ outcome: 'passed' }, 'unitId'],
      [{ unitId: 'U-1', outcome: 'passed', inspector: 'someone' }, 'inspector'],
    ] as const) {
      const response = await call('POST', `/cases/${CASE}/inspections`, 'gas', payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json(), JSON.stringify(payload)).toMatchObject({ field });
    }
    expect(world.queries).toBe(0);
  });

  it('looks like no case (404) for a case without a gas account, and is a conflict (409) once the case closed', async () => {
    const noGas = withGas({ steps: undefined });
    let { call } = await appWith(noGas.temporal, fakePool([rowOf()]).pool);
    const passed = { unitId: 'U-1', outcome: 'passed' };
    const none = await call('POST', `/cases/${CASE}/inspections`, 'gas', passed);
    expect(none.statusCode).toBe(404);
    expect(none.json()).toMatchObject({ field: 'caseId', reason: `no case ${CASE}` });
    await app?.close();
    const closed = withGas({ statusName: 'COMPLETED', phase: 'completed' });
    ({ call } = await appWith(closed.temporal, fakePool([rowOf()]).pool));
    const late = await call('POST', `/cases/${CASE}/inspections`, 'gas', passed);
    expect(late.statusCode, late.body).toBe(409);
    expect(late.json()).toMatchObject({ error: 'conflict', field: 'caseId' });
  });
});

describe("a gas officer's record of a passed safety inspection, for another unit than the case's", () => {
  it('is refused naming unitId (422), and nothing is recorded', async () => {
    const { temporal } = fakeTemporal([
      {
        runId: 'run-1',
        caseId: CASE,
        statusName: 'RUNNING',
        phase: 'running',
        steps: [
          { stepId: 'transferAccount.gas', agency: 'gas', kind: 'auto', status: 'escalated' },
        ],
      },
    ]);
    // No workflow.execute on the fake: reaching the gas company would be a 500.
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await call('POST', `/cases/${CASE}/inspections`, 'gas', {
      unitId: 'U-2',
      outcome: 'passed',
    });
    expect(response.statusCode, response.body).toBe(422);
    expect(response.json()).toMatchObject({ field: 'unitId' });
    expect(response.json<{ reason: string }>().reason).toBe(
      `unit U-2 is not the unit of case ${CASE}: check the case id and the unit`,
    );
  });
});

describe('a failed record of a safety inspection', () => {
  /** The safetyInspection workflow failed as its activity did, with `cause`. */
  const failed = (retryState: RetryState, cause: Error) =>
    new WorkflowFailedError(
      'workflow failed',
      new ActivityFailure(
        'activity failed',
        'recordSafetyInspection',
        '1',
        retryState,
        undefined,
        cause,
      ),
      retryState,
    );
  const application = (type: string, nonRetryable: boolean) =>
    ApplicationFailure.create({ message: 'no', type, nonRetryable });

  it('is a 403 when the gas company refuses the officer', () => {
    const refused = failed(
      RetryState.NON_RETRYABLE_FAILURE,
      application('InspectionRefused', true),
    );
    expect(refusedInspection(refused)).toBeInstanceOf(ForbiddenError);
  });

  it("is a 503 naming caseId when the company's system did not answer in time", () => {
    for (const unanswered of [
      failed(RetryState.MAXIMUM_ATTEMPTS_REACHED, application('AgencySystemError', false)),
      failed(RetryState.TIMEOUT, new TimeoutFailure('timed out', undefined, 'SCHEDULE_TO_CLOSE')),
    ]) {
      const mapped = refusedInspection(unanswered);
      expect(mapped).toBeInstanceOf(AgencyUnavailableError);
      expect(mapped).toMatchObject({ field: 'caseId' });
    }
  });

  it('passes any other failure on as it is (a 500, not "try again")', () => {
    const unreadable = failed(
      RetryState.NON_RETRYABLE_FAILURE,
      application('InvalidActivityInput', true),
    );
    expect(refusedInspection(unreadable)).toBe(unreadable);
    const other = new Error('not a workflow failure');
    expect(refusedInspection(other)).toBe(other);
  });
});

describe('a decision on a case that has closed', () => {
  it('is a conflict with the case (409 naming caseId), as when it closes while the decision is on its way, and nothing is signed', async () => {
    const { temporal, world } = fakeTemporal([
      {
        runId: 'run-1',
        caseId: CASE,
        statusName: 'COMPLETED',
        phase: 'rejected',
        steps: [{ stepId: 'review', agency: 'registry', kind: 'human', status: 'cancelled' }],
      },
    ]);
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await call('POST', `/cases/${CASE}/decisions`, 'registry', {
      stepId: 'review',
      outcome: 'approved',
      reason: 'title and payment in order',
    });
    expect(response.statusCode, response.body).toBe(409);
    expect(response.json()).toEqual({
      error: 'conflict',
      field: 'caseId',
      reason: `case ${CASE} is rejected: it takes no more decisions`,
    });
    expect(world.updates).toEqual([]);
  });
});

describe('the inbox of an agency with no review steps', () => {
  it('is one empty page, and refuses a page token with 400 naming pageToken', async () => {
    const { temporal } = fakeTemporal([]);
    const { call } = await appWith(temporal, fakePool([]).pool);
    const empty = await call('GET', '/inbox', 'tax');
    expect(empty.statusCode, empty.body).toBe(200);
    expect(empty.json()).toEqual({ items: [], nextPageToken: null });
    const made = await call('GET', '/inbox?pageToken=garbage', 'tax');
    expect(made.statusCode, made.body).toBe(400);
    expect(made.json()).toMatchObject({ error: 'invalid_request', field: 'pageToken' });
  });
});

describe('when the run itself cannot answer its status query', () => {
  it('the case is shown from the ledger without its steps, not as an outage', async () => {
    const { temporal, world } = fakeTemporal([
      { runId: 'run-1', caseId: CASE, statusName: 'RUNNING', phase: 'running' },
    ]);
    world.queryFails = 'broken';
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await call('GET', `/cases/${CASE}`, 'supervisor');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ caseId: CASE, workflowStatus: 'RUNNING', steps: [] });
  });
});

describe('a case row without a run id (its submission was never answered)', () => {
  const orphan = () => fakePool([rowOf({ run_id: null, applicant: null })]);
  /** The workflow id's latest run is a later case of the same unit. */
  const laterCase = () =>
    fakeTemporal([{ runId: 'run-2', caseId: LATER_CASE, statusName: 'RUNNING', phase: 'running' }]);

  it.each([
    [
      "a supervisor's escalation",
      'supervisor',
      'escalations',
      { stepId: 'review', action: 'retry', reason: 'stuck' },
    ],
    [
      "an officer's decision",
      'registry',
      'decisions',
      { stepId: 'review', outcome: 'approved', reason: 'all in order' },
    ],
  ])('%s is refused with 409 and reaches no workflow', async (_what, caller, route, body) => {
    const { temporal, world } = laterCase();
    const { call } = await appWith(temporal, orphan().pool);
    const response = await call('POST', `/cases/${CASE}/${route}`, caller, body);
    expect(response.statusCode, response.body).toBe(409);
    expect(response.json()).toMatchObject({ error: 'conflict', field: 'caseId' });
    expect(world.updates).toEqual([]);
  });

  it("GET /cases/:id does not show the later case's status as this one's", async () => {
    const { call } = await appWith(laterCase().temporal, orphan().pool);
    const response = await call('GET', `/cases/${CASE}`, 'supervisor');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      workflowStatus: 'RUN_UNKNOWN',
      phase: null,
      steps: [],
    });
  });

  it("GET /cases/:id shows the latest run's status when that run is this case's", async () => {
    const { temporal } = fakeTemporal([
      { runId: 'run-1', caseId: CASE, statusName: 'RUNNING', phase: 'running' },
    ]);
    const { call } = await appWith(temporal, orphan().pool);
    const response = await call('GET', `/cases/${CASE}`, 'supervisor');
    expect(response.json()).toMatchObject({
      workflowStatus: 'RUNNING',
      phase: 'running',
      steps: [{ stepId: 'review' }],
    });
  });
});

describe('refusals name the field at fault', () => {
  it("an officer deciding another agency's step is refused naming stepId", async () => {
    const { call } = await appWith(fakeTemporal([]).temporal, fakePool([rowOf()]).pool);
    const response = await call('POST', `/cases/${CASE}/decisions`, 'tax', {
      stepId: 'review',
      outcome: 'approved',
      reason: 'all in order',
    });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: 'forbidden', field: 'stepId' });
  });

  it('a citizen filtering the case list is refused naming the filter', async () => {
    const { call } = await appWith(fakeTemporal([]).temporal, fakePool([rowOf()]).pool);
    const response = await call('GET', '/cases?status=running', 'citizen');
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: 'forbidden', field: 'status' });
  });

  it('a signed decision sent with a reason is refused naming reason, not outcome', async () => {
    const { call } = await appWith(fakeTemporal([]).temporal, fakePool([rowOf()]).pool);
    const signed = JSON.parse(closeEntry(CASE, 'approved', 0).toString()) as {
      statement: Record<string, unknown>;
      signature: string;
    };
    const response = await call('POST', `/cases/${CASE}/decisions`, 'registry', {
      stepId: 'review',
      reason: 'because',
      signed: {
        statement: {
          ...signed.statement,
          statementId: `${CASE}/review`,
          stepId: 'review',
          agency: 'registry',
          keyId: 'registry+0011aabb',
        },
        signature: signed.signature,
      },
    });
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ field: 'reason' });
  });
});

/** What the client throws when the server answers an Update FAILED_PRECONDITION with `details`. */
const updateFailedPrecondition = (details: string) =>
  new ServiceError('Workflow Update failed', {
    cause: Object.assign(new Error(`9 FAILED_PRECONDITION: ${details}`), {
      code: 9,
      details,
      metadata: new Metadata(),
    }),
  });

/**
 * What the client throws when the server aborted an Update because the workflow task carrying
 * it failed (its WorkflowNotReady, temporalio/temporal's workflowTaskFailErr, as Server 1.29.x
 * words it).
 */
const updateAborted = () =>
  updateFailedPrecondition(
    'Unable to perform workflow execution update due to unexpected workflow task failure.',
  );

/** What the client throws when a case has not taken an Update by its deadline. */
const updateTimedOut = () =>
  new WorkflowUpdateRPCTimeoutOrCancelledError('Deadline exceeded after 29.998s', {
    cause: Object.assign(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'), { code: 4 }),
  });

/** `response` says the case did not take the Update in time, sent with one 30 s deadline. */
function expectNotTakenInTime(response: LightMyRequestResponse, deadlines: number[]) {
  expect(response.statusCode, response.body).toBe(503);
  expect(response.json()).toEqual({
    error: 'unavailable',
    reason:
      'the case did not take this in time (its workers may be down or busy) and may still take it: look at the case before sending it again',
  });
  expect(deadlines).toHaveLength(1);
  expect(deadlines[0]).toBeGreaterThan(29_000);
  expect(deadlines[0]).toBeLessThanOrEqual(30_000);
}

/**
 * `body` POSTed to `url` by `caller`, with CASE running (run-1, its review waiting); its Update
 * fails with `updateFails`, if given. The fake Temporal's `world` tells what reached the case.
 */
async function postToRunningCase(caller: string, url: string, body: object, updateFails?: Error) {
  const { temporal, world } = fakeTemporal([
    { runId: 'run-1', caseId: CASE, statusName: 'RUNNING', phase: 'running' },
  ]);
  world.updateFails = updateFails;
  const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
  const response = await call('POST', url, caller, body);
  return { response, world };
}

/** `body` posted as the registry's decision on the review of a running case; its Update fails with `updateFails`, if given. */
function sendReviewDecision(body: object, updateFails?: Error) {
  return postToRunningCase(
    'registry',
    `/cases/${CASE}/decisions`,
    { stepId: 'review', ...body },
    updateFails,
  );
}

describe('a signed decision with the opening of its commitment', () => {
  const key = generateSigningKey(agencyKeyName('registry'));
  registerKey(key, 'registry');
  const decision = () =>
    signDecision({
      key,
      agency: 'registry',
      caseId: CASE,
      stepId: 'review',
      outcome: 'rejected',
      decidedBy: 'system',
      reason: 'the seller has not signed the contract',
    });
  const send = sendReviewDecision;

  it('reaches the case when the opening opens the commitment', async () => {
    const { signed, opening } = decision();
    const { response, world } = await send({ signed, opening });
    expect(response.statusCode, response.body).toBe(200);
    expect(world.updates).toHaveLength(1);
  });

  /** A decision the agency signed committing to `change` of its record, with its opening. */
  const committedTo = (change: (record: DecisionRecord) => DecisionRecord) => {
    const { signed, opening } = decision();
    const record = change(opening.record);
    const commitment = commitTo(fromBase64(opening.salt), record);
    return {
      signed: signStatement({ ...signed.statement, commitment }, key),
      opening: { salt: opening.salt, record },
    };
  };

  // An agency's own system commits to its record as it is: checked as received, not trimmed.
  it('reaches the case when the committed reason has white space at its ends', async () => {
    const { response, world } = await send(
      committedTo((record) => ({ ...record, reason: ' title clear\n' })),
    );
    expect(response.statusCode, response.body).toBe(200);
    expect(world.updates).toHaveLength(1);
  });

  it.each([
    ['another reason', (o: DecisionOpening) => ({ ...o, record: { ...o.record, reason: 'x' } })],
    ['another salt', (o: DecisionOpening) => ({ ...o, salt: zeros(32) })],
    [
      'another role',
      (o: DecisionOpening) => ({ ...o, record: { ...o.record, decidedBy: 'citizen' as const } }),
    ],
  ])(
    'is refused with 400 naming opening when it has %s, and reaches no workflow',
    async (_, change) => {
      const { signed, opening } = decision();
      const { response, world } = await send({ signed, opening: change(opening) });
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({ error: 'invalid_request', field: 'opening' });
      expect(response.json<{ reason: string }>().reason).toMatch(/do not open/);
      expect(world.updates).toEqual([]);
    },
  );

  it('is refused naming opening when it records another outcome than the statement', async () => {
    const { signed, opening } = decision();
    const salt = fromBase64(opening.salt);
    // The statement re-committed to a record of another outcome (its signature no longer
    // checks, which only the case's ledger append would see): the outcome check catches it.
    const record = { ...opening.record, outcome: 'approved' };
    const forged = {
      ...signed,
      statement: { ...signed.statement, commitment: commitTo(salt, record) },
    };
    const { response, world } = await send({
      signed: forged,
      opening: { salt: opening.salt, record },
    });
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_request', field: 'opening' });
    expect(response.json<{ reason: string }>().reason).toMatch(/outcome approved/);
    expect(world.updates).toEqual([]);
  });

  it('is refused naming opening when its record commits to another role than its facts name', async () => {
    const { response, world } = await send(
      committedTo((record) => ({ ...record, decidedBy: 'officer' })),
    );
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_request', field: 'opening' });
    expect(response.json<{ reason: string }>().reason).toMatch(/decidedBy officer/);
    expect(world.updates).toEqual([]);
  });

  // The entry is public for good: what an agency's system signs into the facts stays there.
  it.each([
    [
      'a reason beside the role',
      { decidedBy: 'system', reason: 'Jan Novák has not paid' },
      /reason/,
    ],
    ['a person for a role', { decidedBy: 'Jan Novák' }, /decidedBy must be one of/],
    [
      'a role that does not review',
      { decidedBy: 'citizen' },
      /decidedBy citizen does not decide review/,
    ],
    ['no role', {}, /decidedBy must be one of/],
  ])(
    'is refused with 400 naming signed.statement.facts when its facts hold %s, and reaches no workflow',
    async (_, facts, reason) => {
      const { signed } = decision();
      const { response, world } = await send({
        signed: signStatement({ ...signed.statement, facts }, key),
      });
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({
        error: 'invalid_request',
        field: 'signed.statement.facts',
      });
      expect(response.json<{ reason: string }>().reason).toMatch(reason);
      expect(world.updates).toEqual([]);
    },
  );

  it('is refused with 400 naming the field when its statement carries a field of its own beside the fixed ones, and reaches no workflow', async () => {
    const { signed } = decision();
    const { response, world } = await send({
      signed: signStatement({ ...signed.statement, reason: 'the seller J. Doe is bankrupt' }, key),
    });
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({
      error: 'invalid_request',
      field: 'signed.statement.reason',
    });
    expect(response.json<{ reason: string }>().reason).toMatch(/not a field of a statement/);
    expect(world.updates).toEqual([]);
  });

  it("is refused naming opening when it comes with an officer's outcome instead of a signed decision", async () => {
    const { opening } = decision();
    const { response, world } = await send({ outcome: 'rejected', reason: 'no contract', opening });
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_request', field: 'opening' });
    expect(world.updates).toEqual([]);
  });
});

describe('the escalations waiting for a supervisor', () => {
  const C2 = '33333333-3333-4333-8333-333333333333';
  const C3 = '44444444-4444-4444-8444-444444444444';
  const C4 = '55555555-5555-4555-8555-555555555555';
  const C5 = '66666666-6666-4666-8666-666666666666';
  const open = (stepId: string) => ({
    stepId,
    reason: `${stepId} failed after retries: the service does not answer`,
    at: '2026-01-07T10:00:00.000Z',
    resolved: false,
  });
  /** Five cases with an escalation notice each, the newest last; two still wait for a supervisor. */
  const setting = () => {
    const fake = fakeTemporal([
      // Its status not published yet: the visibility store cannot pass over it.
      {
        runId: 'run-1',
        caseId: CASE,
        statusName: 'RUNNING',
        phase: 'running',
        escalations: [open('registerTransfer')],
      },
      // Retried by a supervisor: running again, its escalation resolved.
      {
        runId: 'run-2',
        caseId: C2,
        statusName: 'RUNNING',
        phase: 'running',
        escalations: [{ ...open('transferAccount.gas'), resolved: true }],
        currentSteps: ['transferAccount.gas'],
      },
      // Closed: its status is never asked.
      {
        runId: 'run-3',
        caseId: C3,
        statusName: 'COMPLETED',
        phase: 'completed',
        escalations: [open('releaseTitleLock')],
      },
      {
        runId: 'run-4',
        caseId: C4,
        statusName: 'RUNNING',
        phase: 'running',
        overdue: true,
        escalations: [open('transferAccount.water')],
        currentSteps: ['transferAccount.water', 'transferAccount.gas'],
      },
      // run-5 (C5): Temporal no longer keeps it.
    ]);
    // Each case of its own unit (one run of a workflow id is open at a time).
    for (const [i, run] of fake.world.runs.entries()) run.workflowId = `case:U-${i + 1}`;
    const rows = [CASE, C2, C3, C4, C5].map((caseId, i) =>
      rowOf({ case_id: caseId, run_id: `run-${i + 1}`, workflow_id: `case:U-${i + 1}` }),
    );
    const steps = [
      'registerTransfer',
      'transferAccount.gas',
      'releaseTitleLock',
      'transferAccount.water',
      'registerTransfer',
    ];
    const notices = steps.map((stepId, i) => ({ id: i + 1, caseId: rows[i]!.case_id, stepId }));
    return { ...fake, pool: fakePool(rows, {}, notices).pool };
  };
  /** How the list shows `caseId`'s open escalation at `stepId`. */
  const waiting = (caseId: string, stepId: string, overdue: boolean) => ({
    caseId,
    unitId: 'U-1',
    stepId,
    reason: open(stepId).reason,
    escalatedAt: '2026-01-07T10:00:00.000Z',
    overdue,
    confirmed: true,
  });
  /** How the list shows a notice whose case's status could not be asked. */
  const unconfirmed = (caseId: string, stepId: string, overdue: boolean) => ({
    ...waiting(caseId, stepId, overdue),
    reason: noticeMessage(stepId),
    escalatedAt: NOTICED_AT,
    confirmed: false,
  });
  const waitingIn = waiting(C4, 'transferAccount.water', true);
  const waitingOut = waiting(CASE, 'registerTransfer', false);

  it('lists those still waiting, newest first, passing over resolved ones, closed cases and cases Temporal no longer keeps', async () => {
    const { temporal, pool } = setting();
    const { call } = await appWith(temporal, pool);
    const response = await call('GET', '/escalations', 'supervisor');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ items: [waitingIn, waitingOut], nextPageToken: null });
  });

  it('pages with a token sealed for this list, and refuses a changed one naming pageToken', async () => {
    const { temporal, pool } = setting();
    const { call } = await appWith(temporal, pool);
    const first = (await call('GET', '/escalations?pageSize=1', 'supervisor')).json<{
      items: unknown[];
      nextPageToken: string;
    }>();
    expect(first.items).toEqual([waitingIn]);
    const second = await call(
      'GET',
      `/escalations?pageSize=1&pageToken=${first.nextPageToken}`,
      'supervisor',
    );
    expect(second.json()).toEqual({ items: [waitingOut], nextPageToken: null });
    const changed = `${first.nextPageToken.slice(0, -2)}${first.nextPageToken.endsWith('AA') ? 'BB' : 'AA'}`;
    const refused = await call('GET', `/escalations?pageToken=${changed}`, 'supervisor');
    expect(refused.statusCode, refused.body).toBe(400);
    expect(refused.json()).toMatchObject({ error: 'invalid_request', field: 'pageToken' });
  });

  it('stops after 1,000 stale notices with a short page whose token goes on to the rest', async () => {
    const { temporal } = setting();
    const rows = [rowOf(), rowOf({ case_id: C3, run_id: 'run-3' })];
    // The waiting escalation first, then 1,100 notices of the closed case above it.
    const notices = [{ id: 1, caseId: CASE, stepId: 'registerTransfer' }];
    for (let id = 2; id <= 1_101; id++)
      notices.push({ id, caseId: C3, stepId: 'releaseTitleLock' });
    const { call } = await appWith(temporal, fakePool(rows, {}, notices).pool);
    const first = (await call('GET', '/escalations', 'supervisor')).json<{
      items: unknown[];
      nextPageToken: string | null;
    }>();
    expect(first.items).toEqual([]);
    expect(first.nextPageToken).not.toBeNull();
    const second = await call('GET', `/escalations?pageToken=${first.nextPageToken}`, 'supervisor');
    expect(second.json()).toEqual({ items: [waitingOut], nextPageToken: null });
  });

  /** A running case whose visibility shows `currentSteps`, with escalation notices at `stepIds`, the last newest. */
  const oneCase = (
    currentSteps: string[] | undefined,
    escalations: CaseStatus['escalations'],
    stepIds: string[],
    recent = false,
  ) => {
    const fake = fakeTemporal([
      { runId: 'run-1', caseId: CASE, statusName: 'RUNNING', phase: 'running', escalations },
    ]);
    if (currentSteps) fake.world.runs[0]!.currentSteps = currentSteps;
    const notices = stepIds.map((stepId, i) => ({ id: i + 1, caseId: CASE, stepId, recent }));
    return { ...fake, pool: fakePool([rowOf()], {}, notices).pool };
  };

  it('asks no status of notices whose step is no longer among their case’s current steps', async () => {
    const resolved = Array.from({ length: 60 }, (_, i) => `step${i}`);
    const { temporal, pool, world } = oneCase(
      ['review'],
      resolved.map((stepId) => ({ ...open(stepId), resolved: true })),
      resolved,
    );
    const { call } = await appWith(temporal, pool);
    const response = await call('GET', '/escalations', 'supervisor');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ items: [], nextPageToken: null });
    expect(world.queries).toBe(0);
  });

  it.each([
    ['a notice of the last minutes, whose step visibility may not show yet', ['review'], true],
    ['a notice of a case that has published no status yet', undefined, false],
  ])('asks the status of %s', async (_name, currentSteps, recent) => {
    const { temporal, pool, world } = oneCase(
      currentSteps,
      [open('releaseTitleLock')],
      ['releaseTitleLock'],
      recent,
    );
    const { call } = await appWith(temporal, pool);
    const response = await call('GET', '/escalations', 'supervisor');
    expect(response.json()).toEqual({
      items: [waiting(CASE, 'releaseTitleLock', false)],
      nextPageToken: null,
    });
    expect(world.queries).toBe(1);
  });

  it('asks at most pageSize + 10 statuses for a page, whose token goes on to the rest', async () => {
    // The waiting escalation first, then 40 notices of steps retried and running again.
    const retried = Array.from({ length: 40 }, (_, i) => `step${i}`);
    const { temporal, pool, world } = oneCase(
      ['registerTransfer', ...retried],
      [open('registerTransfer'), ...retried.map((stepId) => ({ ...open(stepId), resolved: true }))],
      ['registerTransfer', ...retried],
    );
    const { call } = await appWith(temporal, pool);
    const items: unknown[] = [];
    let pageToken: string | null = null;
    let pages = 0;
    do {
      world.queries = 0;
      const url: string = `/escalations?pageSize=5${pageToken ? `&pageToken=${pageToken}` : ''}`;
      const page = (await call('GET', url, 'supervisor')).json<{
        items: unknown[];
        nextPageToken: string | null;
      }>();
      expect(world.queries).toBeLessThanOrEqual(15);
      items.push(...page.items);
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    expect(items).toEqual([waitingOut]);
    expect(pages).toBe(3);
  });

  it('answers 200 when one status query times out, with the others and that notice unconfirmed', async () => {
    const { temporal, pool, world } = setting();
    world.timesOut.add('run-4');
    const { call } = await appWith(temporal, pool);
    const response = await call('GET', '/escalations', 'supervisor');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      items: [unconfirmed(C4, 'transferAccount.water', true), waitingOut],
      nextPageToken: null,
    });
  });

  /** The list as a supervisor gets it while every status query fails so. */
  const listedWhileQueries = async (fail: 'timeout' | 'broken') => {
    const { temporal, pool, world } = setting();
    world.queryFails = fail;
    const { call } = await appWith(temporal, pool);
    return call('GET', '/escalations', 'supervisor');
  };

  // A timeout says nothing about the step; an open run that cannot answer is stuck, which a
  // supervisor needs to see most.
  it.each(['timeout', 'broken'] as const)(
    'lists every plausible notice unconfirmed while each status query fails so (%s), instead of failing',
    async (fail) => {
      const response = await listedWhileQueries(fail);
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toEqual({
        items: [
          unconfirmed(C4, 'transferAccount.water', true),
          unconfirmed(C2, 'transferAccount.gas', false),
          unconfirmed(CASE, 'registerTransfer', false),
        ],
        nextPageToken: null,
      });
    },
  );

  it("finds a unit's open run while another unit shows a closed case's run still open beside its next case", async () => {
    // Started in this order: C2 on U-2, CASE on U-1 (closed, not yet so in visibility), C3 on U-1.
    const { temporal, world } = fakeTemporal([
      {
        runId: 'run-2',
        caseId: C2,
        statusName: 'RUNNING',
        phase: 'running',
        escalations: [open('transferAccount.gas')],
        currentSteps: ['transferAccount.gas'],
        workflowId: 'case:U-2',
      },
      { runId: 'run-1', caseId: CASE, statusName: 'RUNNING', phase: 'completed' },
      {
        runId: 'run-3',
        caseId: C3,
        statusName: 'RUNNING',
        phase: 'running',
        escalations: [open('registerTransfer')],
        currentSteps: ['registerTransfer'],
      },
    ]);
    const rows = [
      rowOf({ case_id: C2, run_id: 'run-2', workflow_id: 'case:U-2' }),
      rowOf({ case_id: C3, run_id: 'run-3' }),
    ];
    const notices = [
      { id: 1, caseId: C2, stepId: 'transferAccount.gas' },
      { id: 2, caseId: C3, stepId: 'registerTransfer' },
    ];
    const { call } = await appWith(temporal, fakePool(rows, {}, notices).pool);
    const response = await call('GET', '/escalations', 'supervisor');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      items: [waiting(C3, 'registerTransfer', false), waiting(C2, 'transferAccount.gas', false)],
      nextPageToken: null,
    });
    expect(world.queries).toBe(2);
  });

  it('is for supervisors only', async () => {
    const { temporal, pool } = setting();
    const { call } = await appWith(temporal, pool);
    for (const caller of ['citizen', 'registry']) {
      const response = await call('GET', '/escalations', caller);
      expect(response.statusCode, caller).toBe(403);
    }
  });
});

describe('requests that name what is wrong', () => {
  const running = () =>
    fakeTemporal([{ runId: 'run-1', caseId: CASE, statusName: 'RUNNING', phase: 'running' }]);

  it('answers 404 naming caseId for a case the caller cannot see, and url for no route', async () => {
    const { call } = await appWith(fakeTemporal([]).temporal, fakePool([]).pool);
    for (const url of [`/cases/${CASE}`, `/cases/${CASE}/access-log`]) {
      const response = await call('GET', url, 'citizen');
      expect(response.statusCode, url).toBe(404);
      expect(response.json(), url).toMatchObject({ error: 'not_found', field: 'caseId' });
    }
    const none = await call('GET', '/no-such-route', 'citizen');
    expect(none.statusCode).toBe(404);
    expect(none.json()).toMatchObject({ error: 'not_found', field: 'url' });
  });

  it('refuses a query parameter a route does not take, naming it, and starts no case', async () => {
    const pool = fakePool([]);
    const { call } = await appWith(running().temporal, pool.pool);
    const created = await call('POST', '/cases?dryRun=true', 'citizen', APPLICATION);
    expect(created.statusCode).toBe(400);
    expect(created.json()).toMatchObject({ error: 'invalid_request', field: 'dryRun' });
    expect(pool.queries).toEqual([]);
    const read = await call('GET', `/cases/${CASE}/access-log?bogus=1`, 'citizen');
    expect(read.statusCode).toBe(400);
    expect(read.json()).toMatchObject({ field: 'bogus' });
  });

  it('answers 409 naming caseId when the case closed before its Update arrived', async () => {
    const { response } = await postToRunningCase(
      'supervisor',
      `/cases/${CASE}/escalations`,
      { stepId: 'review', action: 'retry', reason: 'try again' },
      new WorkflowNotFoundError('workflow execution already completed', 'case:U-1', 'run-1'),
    );
    expect(response.statusCode, response.body).toBe(409);
    expect(response.json()).toMatchObject({ error: 'conflict', field: 'caseId' });
  });

  it.each([
    ['aborts it for a failed workflow task', updateAborted],
    [
      'refuses it while a workflow task keeps failing',
      () =>
        // temporalio/temporal service/history/api/updateworkflow/api.go (attempt 3 or more).
        updateFailedPrecondition(
          'Unable to perform workflow execution update due to Workflow Task in failed state.',
        ),
    ],
  ])(
    "sends a supervisor's action again while the server %s, and answers 503 after four sends",
    async (_, abortedWith) => {
      vi.useFakeTimers({ toFake: ['setTimeout'] });
      const { temporal, world } = running();
      world.abortedWith = abortedWith;
      const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
      const act = async () => {
        let answered = false;
        const response = call('POST', `/cases/${CASE}/escalations`, 'supervisor', {
          stepId: 'review',
          action: 'retry',
          reason: 'try again',
        }).finally(() => (answered = true));
        // Runs out the waits between sends (0.5, 1 and 2 s) as they come.
        while (!answered) {
          await vi.runOnlyPendingTimersAsync();
          await new Promise((resolve) => setImmediate(resolve));
        }
        return response;
      };
      world.updateAborts = 2;
      expect((await act()).statusCode).toBe(200);
      expect([world.updateSends, world.updates.length]).toEqual([3, 1]);
      world.updateAborts = 10;
      world.updateSends = 0;
      const refused = await act();
      expect(refused.statusCode, refused.body).toBe(503);
      expect(refused.json<{ reason: string }>().reason).toBe(
        'the case could not take this now (its workflow task failed and is being retried); nothing changed: send it again shortly',
      );
      expect([world.updateSends, world.updates.length]).toEqual([4, 1]);
      vi.useRealTimers();
    },
  );

  it("sends a supervisor's action once when the server refuses it with another FAILED_PRECONDITION (the run's Update limit), and passes that on as a 500, not 'send it again'", async () => {
    const { response, world } = await postToRunningCase(
      'supervisor',
      `/cases/${CASE}/escalations`,
      { stepId: 'review', action: 'retry', reason: 'try again' },
      // temporalio/temporal service/history/workflow/update/registry.go (checkTotalLimit).
      updateFailedPrecondition('limit on number of total updates has been reached (2000)'),
    );
    expect(response.statusCode, response.body).toBe(500);
    expect(response.json()).toEqual({ error: 'internal', reason: 'internal error' });
    expect([world.updateSends, world.updates.length]).toEqual([1, 0]);
  });

  it("answers 503 for a supervisor's action its case did not take within 30 s, saying it may still take it", async () => {
    const { response, world } = await postToRunningCase(
      'supervisor',
      `/cases/${CASE}/escalations`,
      { stepId: 'review', action: 'retry', reason: 'try again' },
      updateTimedOut(),
    );
    expectNotTakenInTime(response, world.deadlines);
  });

  it('answers an officer whose agency has no step in the case 404, whatever the outcome', async () => {
    const { response } = await postToRunningCase('gas', `/cases/${CASE}/decisions`, {
      stepId: 'settleArrears.gas',
      outcome: 'approved',
      reason: 'looks fine',
    });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: 'not_found', field: 'caseId' });
  });

  it('takes the bearer scheme in any case (RFC 7235 §2.1)', async () => {
    const { temporal } = running();
    await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await app!.inject({
      method: 'GET',
      url: `/cases/${CASE}`,
      headers: { authorization: 'bearer citizen.x.y' },
    });
    expect(response.statusCode, response.body).toBe(200);
  });

  it('answers 503 naming the missing trust file, not 404, for evidence on a server without one', async () => {
    const { call } = await appWith(running().temporal, fakePool([rowOf()]).pool);
    const response = await call('GET', `/cases/${CASE}/evidence`, 'supervisor');
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ error: 'unavailable' });
    expect(response.json<{ reason: string }>().reason).toContain('ONEWINDOW_TRUST_FILE');
  });
});

describe("a decision an agency's system signed itself", () => {
  const registered = generateSigningKey(agencyKeyName('registry'));
  registerKey(registered, 'registry');
  const send = (key: ReturnType<typeof generateSigningKey>, tamper = false) => {
    const { signed } = signDecision({
      key,
      agency: 'registry',
      caseId: CASE,
      stepId: 'review',
      outcome: 'approved',
      decidedBy: 'system',
    });
    const signature = tamper
      ? `${signed.signature.startsWith('A') ? 'B' : 'A'}${signed.signature.slice(1)}`
      : signed.signature;
    return sendReviewDecision({ signed: { ...signed, signature } });
  };

  it('reaches the case under a key the registry holds for the agency', async () => {
    const { response, world } = await send(registered);
    expect(response.statusCode, response.body).toBe(200);
    expect(world.updates).toHaveLength(1);
  });

  it('answers 503 when its case did not take it within 30 s, saying it may still take it', async () => {
    const { signed } = signDecision({
      key: registered,
      agency: 'registry',
      caseId: CASE,
      stepId: 'review',
      outcome: 'approved',
      decidedBy: 'system',
    });
    const { response, world } = await sendReviewDecision({ signed }, updateTimedOut());
    expectNotTakenInTime(response, world.deadlines);
  });

  it('is refused with 422 naming signed, before any Update, under a key the registry does not hold', async () => {
    const { response, world } = await send(generateSigningKey(agencyKeyName('registry')));
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ error: 'refused', field: 'signed' });
    expect(response.json<{ reason: string }>().reason).toMatch(/^UnknownKeyError: /);
    expect(world.updates).toEqual([]);
  });

  it('is refused with 422 naming signed, before any Update, when its signature does not verify', async () => {
    const { response, world } = await send(registered, true);
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ error: 'refused', field: 'signed' });
    expect(response.json<{ reason: string }>().reason).toMatch(/^BadSignatureError: /);
    expect(world.updates).toEqual([]);
  });
});

describe("a caller's limits", () => {
  /** Temporal counting the workflows it is asked to start, each refused as unavailable. */
  function countingStarts() {
    const temporal = unavailableTemporal();
    const starts: string[] = [];
    const start = temporal.workflow.start.bind(temporal.workflow);
    temporal.workflow.start = ((type: string, options: never) => {
      starts.push(type);
      return start(type, options);
    }) as typeof temporal.workflow.start;
    return { temporal, starts };
  }

  /** Case rows citizen c1 applied for `hoursAgo` each, of units other than APPLICATION's. */
  const appliedFor = (...hoursAgo: number[]) =>
    hoursAgo.map((hours, i) =>
      rowOf({
        case_id: `00000000-0000-4000-8000-00000000000${i}`,
        unit_id: `U-OLD-${i}`,
        created_at: new Date(Date.now() - hours * 3600 * 1000),
      }),
    );

  it("refuses a citizen's submission past their cases of the last 24 hours with 429, starting nothing", async () => {
    const { temporal, starts } = countingStarts();
    const db = fakePool(appliedFor(1, 5));
    const { call } = await appWith(temporal, db.pool, undefined, { casesPerDay: 2 });
    const refused = await call('POST', '/cases', 'citizen', APPLICATION);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toEqual({
      error: 'rate_limited',
      field: 'request',
      // The older of the two leaves the 24 hours in 19 of them.
      reason: 'too many cases submitted by this citizen: at most 2 a day; retry in 19 h',
    });
    expect(Number(refused.headers['retry-after'])).toBeCloseTo(19 * 3600, -2);
    expect(starts).toEqual([]);
    // Another citizen's cases are their own.
    expect((await call('POST', '/cases', 'neighbour', APPLICATION)).statusCode).toBe(503);
    expect(starts).toEqual(['jointTransferCase']);
  });

  it.each([
    ['RUNNING', 201],
    ['COMPLETED', 429],
  ])(
    'gives a citizen at the limit, retrying a submission whose answer was lost, their open case back, describing its run once (%s: %i)',
    async (statusName, statusCode) => {
      let describes = 0;
      const temporal = unitTaken({
        query: () => Promise.resolve({ caseId: CASE, steps: [] }),
        describe: () => {
          describes++;
          return Promise.resolve({
            runId: 'run-1',
            status: { name: statusName },
            memo: { applicant: 'c1' },
            raw: { workflowExecutionInfo: { firstRunId: 'run-1' } },
          });
        },
      });
      // At the limit, with the retried case's row unclaimed (the intake's) and its application stored.
      const db = fakePool(appliedFor(1, 5));
      const { query } = db.pool;
      const pool = {
        ...db.pool,
        query: (config: string | { text: string; values?: unknown[] }, params?: unknown[]) =>
          /UPDATE cases c SET applicant/.test(typeof config === 'string' ? config : config.text)
            ? Promise.resolve({ rows: [{ case_id: CASE, run_id: 'run-1' }], rowCount: 1 })
            : query(config, params),
      };
      const { call } = await appWith(temporal, pool, undefined, {
        casesPerDay: 2,
      });
      const response = await call('POST', '/cases', 'citizen', APPLICATION);
      expect(response.statusCode, response.body).toBe(statusCode);
      if (statusCode === 201)
        expect(response.json()).toEqual({ caseId: CASE, workflowId: 'case:U-1', runId: 'run-1' });
      expect(describes).toBe(1);
    },
  );

  it('counts the submissions of this process still being started: sent at once, they get no further than the limit', async () => {
    // Temporal holds every start until released, as a slow server does.
    const temporal = unavailableTemporal();
    const starts: (() => void)[] = [];
    temporal.workflow.start = (() =>
      new Promise((resolve) =>
        starts.push(() => resolve({ firstExecutionRunId: `run-${starts.length}` })),
      )) as unknown as typeof temporal.workflow.start;
    const { call } = await appWith(temporal, fakePool([]).pool, undefined, { casesPerDay: 2 });
    // Two sent at once are being started, so neither has its row yet...
    const first = [0, 1].map(() =>
      call('POST', '/cases', 'citizen', APPLICATION).then((response) => response),
    );
    await vi.waitFor(() => expect(starts).toHaveLength(2));
    // ...and a third is refused all the same.
    const refused = await call('POST', '/cases', 'citizen', APPLICATION);
    expect(refused.statusCode).toBe(429);
    expect(starts).toHaveLength(2);
    for (const start of starts) start();
    expect((await Promise.all(first)).map((r) => r.statusCode)).toEqual([201, 201]);
  });

  it('counts only the cases of the last 24 hours', async () => {
    const { temporal, starts } = countingStarts();
    const { call } = await appWith(temporal, fakePool(appliedFor(1, 25, 48)).pool, undefined, {
      casesPerDay: 2,
    });
    expect((await call('POST', '/cases', 'citizen', APPLICATION)).statusCode).toBe(503);
    expect(starts).toHaveLength(1);
  });

  it('counts nothing for a submission that failed or was refused as invalid', async () => {
    const { temporal, starts } = countingStarts();
    const { call } = await appWith(temporal, fakePool([]).pool, undefined, { casesPerDay: 1 });
    const invalid = { ...APPLICATION, unitId: 'u-1' };
    for (let i = 0; i < 3; i++) {
      expect((await call('POST', '/cases', 'citizen', invalid)).statusCode).toBe(400);
      // Temporal is away: nothing is started, so nothing is counted.
      expect((await call('POST', '/cases', 'citizen', APPLICATION)).statusCode).toBe(503);
    }
    expect(starts).toHaveLength(3);
  });

  it('refuses a caller past their requests a minute with 429 and Retry-After; others go on', async () => {
    const { call } = await appWith(unavailableTemporal(), fakePool([rowOf()]).pool, undefined, {
      requestsPerMinute: 2,
    });
    for (let i = 0; i < 2; i++)
      expect((await call('GET', `/cases/${CASE}`, 'citizen')).statusCode).toBe(503);
    const refused = await call('GET', `/cases/${CASE}`, 'citizen');
    expect(refused.statusCode).toBe(429);
    const body = refused.json<{ error: string; field: string; reason: string }>();
    expect([body.error, body.field]).toEqual(['rate_limited', 'request']);
    expect(body.reason).toMatch(
      /^too many requests by this caller: at most 2 a minute; retry in \d+ s$/,
    );
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect((await call('GET', `/cases/${CASE}`, 'supervisor')).statusCode).toBe(503);
  });

  it("counts a good token's requests, refused ones too, and none of a forged token's against anyone", async () => {
    const { call } = await appWith(unavailableTemporal(), fakePool([rowOf()]).pool, undefined, {
      requestsPerMinute: 2,
    });
    for (let i = 0; i < 3; i++)
      expect((await call('GET', `/cases/${CASE}`, 'forger')).statusCode).toBe(401);
    expect((await call('POST', `/cases/${CASE}/decisions`, 'citizen', {})).statusCode).toBe(403);
    expect((await call('GET', `/cases/${CASE}`, 'citizen')).statusCode).toBe(503);
    expect((await call('GET', `/cases/${CASE}`, 'citizen')).statusCode).toBe(429);
    expect((await call('POST', `/cases/${CASE}/decisions`, 'citizen', {})).statusCode).toBe(429);
  });
});

type Call = Awaited<ReturnType<typeof appWith>>['call'];

/** The registry's own system approves the review of CASE, signed with `key`. */
const approveReview = (call: Call, key: ReturnType<typeof generateSigningKey>) =>
  call('POST', `/cases/${CASE}/decisions`, 'registry', {
    stepId: 'review',
    ...signDecision({
      key,
      agency: 'registry',
      caseId: CASE,
      stepId: 'review',
      outcome: 'approved',
      decidedBy: 'system',
      reason: 'all in order',
    }),
  });

/** A supervisor retries the review of CASE. */
const retryReview = (call: Call) =>
  call('POST', `/cases/${CASE}/escalations`, 'supervisor', {
    stepId: 'review',
    action: 'retry',
    reason: 'the registry is back',
  });

describe('a case an operator reset (its run terminated, the case going on in a new run)', () => {
  const key = generateSigningKey(agencyKeyName('registry'));
  registerKey(key, 'registry');
  /** The reset run-1 (its review already decided) and run-2, waiting for the review again. */
  const reset = () =>
    fakeTemporal([
      {
        runId: 'run-1',
        caseId: CASE,
        statusName: 'TERMINATED',
        phase: 'running',
        steps: [{ stepId: 'review', agency: 'registry', kind: 'human', status: 'done' }],
      },
      {
        runId: 'run-2',
        firstRunId: 'run-1',
        caseId: CASE,
        statusName: 'RUNNING',
        phase: 'running',
      },
    ]);

  it('is shown as the run the reset made shows it', async () => {
    const { temporal } = reset();
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await call('GET', `/cases/${CASE}`, 'citizen');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      workflowStatus: 'RUNNING',
      steps: [{ stepId: 'review', status: 'waiting' }],
    });
  });

  it("takes a decision in the run the reset made, checked against that run's steps", async () => {
    const { temporal, world } = reset();
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await approveReview(call, key);
    expect(response.statusCode, response.body).toBe(200);
    expect(world.updates).toEqual(['run-2']);
  });

  /**
   * The case completed in run-2, which the reset of run-1 made (run-1 names it), and a later
   * case of the unit runs as run-3. Run-1, terminated, still shows the review waiting.
   */
  const resetThenFollowed = () => {
    const { temporal, world } = reset();
    world.runs[0]!.resetRunId = 'run-2';
    world.runs[0]!.steps = undefined;
    world.runs[1]!.statusName = 'COMPLETED';
    world.runs[1]!.phase = 'completed';
    world.runs.push({
      runId: 'run-3',
      caseId: LATER_CASE,
      statusName: 'RUNNING',
      phase: 'running',
    });
    return { temporal, world };
  };

  it('is shown as the run the reset made ended, once a later case of the unit followed', async () => {
    const { temporal } = resetThenFollowed();
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await call('GET', `/cases/${CASE}`, 'citizen');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ workflowStatus: 'COMPLETED', phase: 'completed' });
  });

  it('shows an officer nothing of it once a later case of the unit followed, whatever its terminated run shows', async () => {
    const { temporal } = resetThenFollowed();
    const { call, accesses } = await appWith(
      temporal,
      fakePool([rowOf()], {}, [], APPLICATION).pool,
    );
    const response = await call('GET', `/cases/${CASE}/view?purpose=review`, 'registry');
    expect(response.statusCode, response.body).toBe(404);
    expect(accesses).toEqual([]);
  });

  it('refuses a decision with 409 once a later case of the unit followed, whatever its terminated run shows', async () => {
    const { temporal, world } = resetThenFollowed();
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await approveReview(call, key);
    expect(response.statusCode, response.body).toBe(409);
    expect(response.json()).toMatchObject({ field: 'caseId' });
    // An officer's decision is refused before the agency's desk is asked to sign it (this
    // fake Temporal runs no desk workflow: asked, it would fail the request with a 500).
    const officers = await call('POST', `/cases/${CASE}/decisions`, 'registry', {
      stepId: 'review',
      outcome: 'approved',
      reason: 'all in order',
    });
    expect(officers.statusCode, officers.body).toBe(409);
    expect(world.updates).toEqual([]);
  });

  /**
   * reset() as Temporal has it: run-1 names the run its reset made, and each run shows what
   * it last published: run-1 the payment it waited for, run-2 the review it waits for.
   */
  const resetAndListed = () => {
    const { temporal, world } = reset();
    world.runs[0]!.resetRunId = 'run-2';
    world.runs[0]!.currentSteps = ['confirmPayment'];
    world.runs[1]!.currentSteps = ['review'];
    return { temporal, world };
  };
  /** How the lists show the case: as run-2 shows it, submitted when run-1 began. */
  const listed = {
    caseId: CASE,
    status: 'running',
    currentSteps: ['review'],
    submittedAt: '2026-01-05T09:00:00.000Z',
  };

  it("is listed once, as the run the reset made shows it, in the supervisors' list and in the citizen's", async () => {
    const { temporal } = resetAndListed();
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    for (const caller of ['supervisor', 'citizen']) {
      const response = await call('GET', '/cases', caller);
      expect(response.statusCode, response.body).toBe(200);
      const { cases } = response.json<{ cases: unknown[] }>();
      expect(cases, caller).toHaveLength(1);
      expect(cases[0], caller).toMatchObject(listed);
    }
  });

  it('is listed once, as the run the reset made shows it, when the run it reset had completed', async () => {
    const { temporal, world } = resetAndListed();
    world.runs[0]!.statusName = 'COMPLETED';
    world.runs[0]!.phase = 'rejected';
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    for (const caller of ['supervisor', 'citizen']) {
      const { cases } = (await call('GET', '/cases', caller)).json<{ cases: unknown[] }>();
      expect(cases, caller).toHaveLength(1);
      expect(cases[0], caller).toMatchObject(listed);
    }
  });

  it("is listed once, as the run the reset made shows it, though the list kept its completed run's facts from a minute before", async () => {
    const { temporal, world } = resetAndListed();
    world.runs[0]!.statusName = 'COMPLETED';
    world.runs[0]!.resetRunId = undefined;
    const run2 = world.runs.pop()!;
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const list = async () =>
      (await call('GET', '/cases', 'supervisor')).json<{ cases: unknown[] }>().cases;
    expect(await list()).toMatchObject([{ caseId: CASE, currentSteps: ['confirmPayment'] }]);
    // The reset, within the minute the list keeps that run-1 was not reset.
    world.runs[0]!.resetRunId = 'run-2';
    world.runs.push(run2);
    expect(await list()).toEqual([expect.objectContaining(listed)]);
  });

  it('is listed by a case row that names the run a reset made (written by an intake before b027f70)', async () => {
    const { temporal, world } = resetAndListed();
    world.runs[1]!.statusName = 'COMPLETED';
    world.runs[1]!.phase = 'completed';
    const { call } = await appWith(temporal, fakePool([rowOf({ run_id: 'run-2' })]).pool);
    const { cases } = (await call('GET', '/cases', 'supervisor')).json<{ cases: unknown[] }>();
    expect(cases).toEqual([expect.objectContaining({ caseId: CASE, status: 'completed' })]);
  });

  it("is in the citizen's list once Temporal's retention deleted the run it reset", async () => {
    const { temporal, world } = resetAndListed();
    world.runs[0]!.gone = true;
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const { cases } = (await call('GET', '/cases', 'citizen')).json<{ cases: unknown[] }>();
    expect(cases).toEqual([expect.objectContaining(listed)]);
  });

  /**
   * resetAndListed() long after: run-1 gone with retention, run-2 completed, and `later` runs
   * of the unit since (other cases', no row of this citizen's), newer than run-2.
   */
  const resetLongAgo = (later: number) => {
    const { temporal, world } = resetAndListed();
    world.runs[0]!.gone = true;
    Object.assign(world.runs[1]!, {
      statusName: 'COMPLETED',
      phase: 'completed',
      currentSteps: [],
    });
    for (let i = 0; i < later; i++)
      world.runs.push({
        runId: `later-${i}`,
        caseId: LATER_CASE,
        statusName: 'COMPLETED',
        phase: 'completed',
      });
    return { temporal, world };
  };
  const citizensCase = async (temporal: unknown) => {
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await call('GET', '/cases', 'citizen');
    expect(response.statusCode, response.body).toBe(200);
    return response.json<{ cases: { caseId: string; status: string }[] }>().cases;
  };

  it("is in the citizen's list from a later page of its unit's runs", async () => {
    const { temporal } = resetLongAgo(120);
    expect(await citizensCase(temporal)).toMatchObject([{ caseId: CASE, status: 'completed' }]);
  });

  it("is in the citizen's list from its row when a later page of its unit's runs cannot be read, the list answered", async () => {
    const { temporal, world } = resetLongAgo(120);
    world.listFails = (offset) =>
      offset >= 100
        ? Object.assign(new Error('14 UNAVAILABLE: no connection'), {
            code: 14,
            details: 'no connection',
            metadata: new Metadata(),
          })
        : undefined;
    const cases = await citizensCase(temporal);
    expect(cases).toMatchObject([{ caseId: CASE }]);
    expect(cases[0]!.status).not.toBe('completed');
  });

  it("is in the citizen's list from its row past three pages of its unit's runs: no more are read", async () => {
    const { temporal } = resetLongAgo(320);
    const cases = await citizensCase(temporal);
    expect(cases).toMatchObject([{ caseId: CASE }]);
    expect(cases[0]!.status).not.toBe('completed');
  });

  it('describes a closed run once a minute for the lists, and lists it as visibility shows it while it cannot be described', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-07T10:00:00Z'));
    try {
      const { temporal, world } = fakeTemporal([
        {
          runId: 'run-1',
          caseId: CASE,
          statusName: 'COMPLETED',
          phase: 'completed',
          currentSteps: [],
        },
      ]);
      const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
      const list = async () =>
        (await call('GET', '/cases', 'supervisor')).json<{ cases: { caseId: string }[] }>().cases;
      expect(await list()).toMatchObject([{ caseId: CASE, status: 'completed' }]);
      expect(await list()).toMatchObject([{ caseId: CASE }]);
      expect(world.describes).toBe(1);
      vi.setSystemTime(new Date('2026-01-07T10:01:00Z'));
      world.describeFails = Object.assign(new Error('14 UNAVAILABLE: no connection'), {
        code: 14,
        details: 'no connection',
        metadata: new Metadata(),
      });
      expect(await list()).toMatchObject([{ caseId: CASE, status: 'completed' }]);
      expect(world.describes).toBe(2);
      // The failure is remembered a few seconds: Temporal is not asked on every request.
      expect(await list()).toMatchObject([{ caseId: CASE }]);
      expect(world.describes).toBe(2);
      // A fault of this process, not Temporal's answer, fails the page and is not kept.
      vi.setSystemTime(new Date('2026-01-07T10:01:05Z'));
      world.describeFails = new TypeError('a bug');
      expect((await call('GET', '/cases', 'supervisor')).statusCode).toBe(500);
      world.describeFails = undefined;
      expect(await list()).toMatchObject([{ caseId: CASE, status: 'completed' }]);
      expect(world.describes).toBe(4);
    } finally {
      vi.useRealTimers();
    }
  });

  it("is in the registry's inbox at the review the run the reset made waits for", async () => {
    const { temporal } = resetAndListed();
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await call('GET', '/inbox', 'registry');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      items: [{ caseId: CASE, stepId: 'review', confirmed: true }],
    });
  });

  it('is among the escalations while the run the reset made waits for a supervisor', async () => {
    const { temporal, world } = resetAndListed();
    world.runs[1]!.escalations = [
      {
        stepId: 'review',
        reason: 'review escalated',
        at: '2026-01-07T10:00:00.000Z',
        resolved: false,
      },
    ];
    const notices = [{ id: 1, caseId: CASE, stepId: 'review' }];
    const { call } = await appWith(temporal, fakePool([rowOf()], {}, notices).pool);
    const response = await call('GET', '/escalations', 'supervisor');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      items: [{ caseId: CASE, stepId: 'review', reason: 'review escalated', confirmed: true }],
    });
  });

  it("takes a supervisor's resolution in the run the reset made", async () => {
    const { temporal, world } = reset();
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await retryReview(call);
    expect(response.statusCode, response.body).toBe(200);
    expect(world.updates).toEqual(['run-2']);
  });
});

describe('a completed case an operator reset to run it again', () => {
  afterEach(() => vi.useRealTimers());

  it('is shown as the run the reset made once the API has kept it a minute', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-07T10:00:00Z'));
    const { temporal, world } = fakeTemporal([
      { runId: 'run-1', caseId: CASE, statusName: 'COMPLETED', phase: 'rejected' },
    ]);
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const read = async () =>
      (await call('GET', `/cases/${CASE}`, 'citizen')).json<{ workflowStatus: string }>()
        .workflowStatus;
    expect(await read()).toBe('COMPLETED');
    // The reset: run-1, closed, stays completed and names run-2, where the case goes on.
    world.runs[0]!.resetRunId = 'run-2';
    world.runs.push({
      runId: 'run-2',
      firstRunId: 'run-1',
      caseId: CASE,
      statusName: 'RUNNING',
      phase: 'running',
    });
    // Kept: Temporal, which would say RUNNING now, is not asked within the minute.
    vi.setSystemTime(new Date('2026-01-07T10:00:59Z'));
    expect(await read()).toBe('COMPLETED');
    vi.setSystemTime(new Date('2026-01-07T10:01:00Z'));
    expect(await read()).toBe('RUNNING');
  });
});

describe('a closed case whose unit has a later case', () => {
  const key = generateSigningKey(agencyKeyName('registry'));
  registerKey(key, 'registry');
  const later = () =>
    fakeTemporal([
      { runId: 'run-1', caseId: CASE, statusName: 'COMPLETED', phase: 'completed' },
      { runId: 'run-2', caseId: LATER_CASE, statusName: 'RUNNING', phase: 'running' },
    ]);

  it('is shown as its own run ended', async () => {
    const { temporal } = later();
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await call('GET', `/cases/${CASE}`, 'citizen');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ caseId: CASE, workflowStatus: 'COMPLETED' });
  });

  it("refuses a decision with 409, reaching neither its run nor the later case's", async () => {
    const { temporal, world } = later();
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await approveReview(call, key);
    expect(response.statusCode, response.body).toBe(409);
    expect(world.updates).toEqual([]);
  });

  it("refuses a supervisor's resolution with 409, reaching the later case in no way", async () => {
    const { temporal, world } = later();
    const { call } = await appWith(temporal, fakePool([rowOf()]).pool);
    const response = await retryReview(call);
    expect(response.statusCode, response.body).toBe(409);
    expect(world.updates).toEqual([]);
  });
});

describe('a request body', () => {
  /** Temporal recording the application of each case it is asked to start, then unavailable. */
  function recordingStarts() {
    const temporal = unavailableTemporal();
    const started: unknown[] = [];
    const start = temporal.workflow.start.bind(temporal.workflow);
    temporal.workflow.start = ((
      type: string,
      options: { args: readonly [{ application: unknown }] },
    ) => {
      started.push(options.args[0].application);
      return start(type, options as never);
    }) as unknown as typeof temporal.workflow.start;
    return { temporal, started };
  }

  /** POSTs `bytes` to /cases as the citizen, with `contentType`. */
  async function submit(bytes: string | Buffer, contentType: string) {
    const { temporal, started } = recordingStarts();
    await appWith(temporal, fakePool([]).pool);
    const response = await app!.inject({
      method: 'POST',
      url: '/cases',
      headers: { authorization: 'Bearer citizen.x.y', 'content-type': contentType },
      payload: bytes,
    });
    return { response, started };
  }

  const withBuyer = (name: string) =>
    JSON.stringify({ ...APPLICATION, buyer: { ...APPLICATION.buyer, name } });

  it('in UTF-8, declared so or not, reaches the case with its text as sent', async () => {
    for (const contentType of ['application/json', 'application/json; charset="UTF-8"']) {
      const { response, started } = await submit(Buffer.from(withBuyer('Bob Müller')), contentType);
      // Temporal is away: the case was asked to start, with the name intact.
      expect(response.statusCode, response.body).toBe(503);
      expect(started).toMatchObject([{ buyer: { name: 'Bob Müller' } }]);
    }
  });

  // The Encoding Standard's other labels of UTF-8 (api/jsonBody.ts), and a quoted value
  // (RFC 9110 §8.3.1: a parameter's value is a token or a quoted-string).
  it.each(['utf8', 'UTF8', '"utf-8"', 'unicode-1-1-utf-8'])(
    'in UTF-8 declared as charset=%s reaches the case with its text as sent',
    async (charset) => {
      const { response, started } = await submit(
        Buffer.from(withBuyer('Bob Müller')),
        `application/json; charset=${charset}`,
      );
      // Temporal is away: the case was asked to start, with the name intact.
      expect(response.statusCode, response.body).toBe(503);
      expect(started).toMatchObject([{ buyer: { name: 'Bob Müller' } }]);
    },
  );

  it.each(['iso-8859-1', 'utf-16', 'latin1'])(
    'declared in charset %s is refused with 415 naming content-type, and starts no case',
    async (charset) => {
      const { response, started } = await submit(
        Buffer.from(withBuyer('Bob Müller'), 'latin1'),
        `application/json; charset=${charset}`,
      );
      expect(response.statusCode, response.body).toBe(415);
      expect(response.json()).toMatchObject({
        error: 'unsupported_media_type',
        field: 'content-type',
      });
      expect(started).toEqual([]);
    },
  );

  it('of bytes that are not UTF-8 (Latin-1 ü, 0xFC) is refused with 400 naming body, not read as U+FFFD', async () => {
    const { response, started } = await submit(
      Buffer.from(withBuyer('Bob Müller'), 'latin1'),
      'application/json',
    );
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_request', field: 'body' });
    expect(response.json<{ reason: string }>().reason).toMatch(/UTF-8/);
    expect(started).toEqual([]);
  });

  // The application's other members, and the one or two written out by hand after them.
  const written = JSON.stringify({ ...APPLICATION, consent: undefined, buyer: undefined }).slice(
    1,
    -1,
  );
  it.each([
    ['consent', '"buyer":{"name":"Bob","idNumber":"B1234567"},"consent":false,"consent":true'],
    ['consent', '"buyer":{"name":"Bob","idNumber":"B1234567"},"consent":true,"\\u0063onsent":true'],
    ['buyer.name', '"consent":true,"buyer":{"name":"Bob","idNumber":"B1234567","name":"Eve"}'],
  ])(
    'with a member name given twice is refused with 400 naming %s, and starts no case',
    async (field, members) => {
      const { response, started } = await submit(`{${written},${members}}`, 'application/json');
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({ error: 'invalid_request', field });
      expect(started).toEqual([]);
    },
  );

  it('with a member of its own inside a party is refused with 400 naming it, and starts no case', async () => {
    const { response, started } = await submit(
      JSON.stringify({ ...APPLICATION, buyer: { ...APPLICATION.buyer, share: 50 } }),
      'application/json',
    );
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_request', field: 'buyer.share' });
    expect(started).toEqual([]);
  });

  it.each([
    ['application/x-www-form-urlencoded', 'unitId=U-1&consent=true'],
    ['text/plain', JSON.stringify(APPLICATION)],
  ])('sent as %s is refused with 415 naming content-type', async (contentType, body) => {
    const { response, started } = await submit(body, contentType);
    expect(response.statusCode, response.body).toBe(415);
    expect(response.json()).toMatchObject({
      error: 'unsupported_media_type',
      field: 'content-type',
    });
    expect(started).toEqual([]);
  });
});

describe('a signed decision with a member of its own beside statement and signature', () => {
  it('is refused with 400 naming it, and reaches no workflow', async () => {
    const key = generateSigningKey(agencyKeyName('registry'));
    registerKey(key, 'registry');
    const { signed, opening } = signDecision({
      key,
      agency: 'registry',
      caseId: CASE,
      stepId: 'review',
      outcome: 'approved',
      decidedBy: 'system',
      reason: 'title clear',
    });
    const { response, world } = await sendReviewDecision({
      signed: { ...signed, note: 'kept?' },
      opening,
    });
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_request', field: 'signed.note' });
    expect(world.updates).toEqual([]);
  });
});

describe('a case id in upper case', () => {
  it('reads the case it names, as UUIDs are case-insensitive (RFC 9562 §4)', async () => {
    const caseId = 'abcdef01-1111-4111-8111-111111111111';
    const { temporal } = fakeTemporal([
      { runId: 'run-1', caseId, statusName: 'RUNNING', phase: 'running' },
    ]);
    const { call } = await appWith(temporal, fakePool([rowOf({ case_id: caseId })]).pool);
    const response = await call('GET', `/cases/${caseId.toUpperCase()}`, 'citizen');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ caseId });
  });
});

describe("a supervisor's action on an escalation", () => {
  it.each([
    ['a bidi override', 'review\u202e'],
    ['a control character', 'review\u0007'],
    ['a space', 'review x'],
  ])(
    'naming a step with %s is refused with 400 naming stepId, and reaches no workflow',
    async (_what, stepId) => {
      const { response, world } = await postToRunningCase(
        'supervisor',
        `/cases/${CASE}/escalations`,
        { stepId, action: 'retry', reason: 'try again' },
      );
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({ error: 'invalid_request', field: 'stepId' });
      expect(world.updates).toEqual([]);
    },
  );
});

describe("a decision on a step not the officer's agency's to decide", () => {
  it.each([
    ['no step of the process', 'foo', 'registry officers do not decide foo'],
    ['a step no person decides', 'checkTitle', 'registry officers do not decide checkTitle'],
    [
      "another agency's step",
      'settleArrears.gas',
      'registry officers do not decide settleArrears.gas (gas does)',
    ],
  ])(
    'is refused with 403 naming stepId for %s, before the case is asked: it tells nothing of the case',
    async (_what, stepId, reason) => {
      const { response, world } = await postToRunningCase('registry', `/cases/${CASE}/decisions`, {
        stepId,
        outcome: 'approved',
        reason: 'looks fine',
      });
      expect(response.statusCode, response.body).toBe(403);
      expect(response.json()).toEqual({ error: 'forbidden', field: 'stepId', reason });
      expect(world.queries).toBe(0);
      expect(world.updates).toEqual([]);
    },
  );
});

describe("the citizen's case list", () => {
  it.each(['0x10', '1e1', '+5', '05'])(
    'refuses a page size written %j with 400 naming pageSize',
    async (pageSize) => {
      const { call } = await appWith(fakeTemporal([]).temporal, fakePool([rowOf()]).pool);
      const response = await call('GET', `/cases?pageSize=${pageSize}`, 'citizen');
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({ error: 'invalid_request', field: 'pageSize' });
    },
  );

  it.each(['1', '16', '100'])('takes a page size of %s in decimal digits', async (pageSize) => {
    const { call } = await appWith(fakeTemporal([]).temporal, fakePool([rowOf()]).pool);
    const response = await call('GET', `/cases?pageSize=${pageSize}`, 'citizen');
    expect(response.statusCode, response.body).toBe(200);
  });
});
