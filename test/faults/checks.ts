// What must hold after any fault: every case reached its outcome, every statement is in the
// ledger exactly once, indices run from 0 without a gap, the witnesses raised no alarm, the
// newest checkpoint got published, and `onewindow ledger audit` (the real CLI) passes.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster } from './cluster.ts';
import { expectedSteps, type CaseRun } from './driver.ts';

const BIN = fileURLToPath(new URL('../../bin/onewindow.mjs', import.meta.url));

export interface LedgerReport {
  size: number;
  minIndex: number | null;
  maxIndex: number | null;
  /** Statement ids found more than once. */
  duplicates: string[];
  /** `<caseId>/<stepId>` expected and missing, and found but not expected. */
  missing: string[];
  unexpected: string[];
  /** Units with more than one case row, or cases without their applicant. */
  caseRowProblems: string[];
  witnessAlarms: string[];
  /** Size of the newest published checkpoint. */
  published: number;
}

/** Reads the ledger as the database owner and compares it with what `runs` should have made. */
export async function inspectLedger(
  cluster: Cluster,
  runs: readonly CaseRun[],
): Promise<LedgerReport> {
  const db = cluster.admin;
  const bounds = await db.query<{ n: number; lo: string | null; hi: string | null }>(
    'SELECT count(*)::int AS n, min(idx) AS lo, max(idx) AS hi FROM ledger_entries',
  );
  const dup = await db.query<{ statement_id: string }>(
    'SELECT statement_id FROM ledger_entries GROUP BY statement_id HAVING count(*) > 1',
  );
  const caseIds = runs.flatMap((r) => (r.caseId ? [r.caseId] : []));
  const entries = await db.query<{ case_id: string; statement_id: string }>(
    'SELECT case_id, statement_id FROM ledger_entries WHERE case_id = ANY($1)',
    [caseIds],
  );
  const found = new Set(entries.rows.map((r) => r.statement_id));
  const expected = new Set(
    runs.flatMap((r) =>
      r.caseId ? expectedSteps(r.utilities).map((step) => `${r.caseId}/${step}`) : [],
    ),
  );
  const rows = await db.query<{ unit_id: string; n: number; applicants: number }>(
    `SELECT unit_id, count(*)::int AS n, count(applicant)::int AS applicants
       FROM cases WHERE unit_id = ANY($1) GROUP BY unit_id`,
    [runs.map((r) => r.unitId)],
  );
  const caseRowProblems = rows.rows
    .filter((r) => r.n !== 1 || r.applicants !== 1)
    .map((r) => `${r.unit_id}: ${r.n} case row(s), ${r.applicants} with an applicant`);
  const alarms = await db.query<{ witness: string; reason: string }>(
    'SELECT witness, reason FROM witness_alarms ORDER BY id',
  );
  const published = await db.query<{ size: string | null }>(
    'SELECT max(size) AS size FROM published_checkpoints',
  );
  return {
    size: bounds.rows[0]!.n,
    minIndex: bounds.rows[0]!.lo === null ? null : Number(bounds.rows[0]!.lo),
    maxIndex: bounds.rows[0]!.hi === null ? null : Number(bounds.rows[0]!.hi),
    duplicates: dup.rows.map((r) => r.statement_id),
    missing: [...expected].filter((id) => !found.has(id)),
    unexpected: [...found].filter((id) => !expected.has(id)),
    caseRowProblems,
    witnessAlarms: alarms.rows.map((a) => `${a.witness}: ${a.reason}`),
    published: Number(published.rows[0]!.size ?? 0),
  };
}

/** Waits until a checkpoint of the whole ledger is published (witnesses cosigned it). */
export async function waitForPublished(cluster: Cluster, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await cluster.admin.query<{ size: number; published: string | null }>(
      `SELECT (SELECT count(*)::int FROM ledger_entries) AS size,
              (SELECT max(size) FROM published_checkpoints) AS published`,
    );
    const { size, published } = rows[0]!;
    if (size > 0 && Number(published) === size) return size;
    if (Date.now() > deadline)
      throw new Error(
        `the newest checkpoint was not published within ${timeoutMs} ms: ledger ${size}, published ${published}`,
      );
    await sleep(250);
  }
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the real `onewindow` command. */
export function onewindow(args: string[], timeoutMs = 300_000): Promise<CliRun> {
  const start = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr, ms: performance.now() - start });
    });
  });
}

/** `onewindow ledger audit --url <api>/ledger --trust <trust file>`. */
export function auditLedger(cluster: Cluster): Promise<CliRun> {
  return onewindow([
    'ledger',
    'audit',
    '--url',
    `${cluster.apiUrl}/ledger`,
    '--trust',
    cluster.trustFile,
  ]);
}

/**
 * Each case as its citizen sees it through the API (GET /cases/:id): workflow status and
 * phase. Retries connection errors and 5xx (the API may just have restarted).
 */
export async function caseOutcomes(
  cluster: Cluster,
  runs: readonly CaseRun[],
  concurrency = 8,
): Promise<Map<string, { workflowStatus: string; phase: string | null }>> {
  const outcomes = new Map<string, { workflowStatus: string; phase: string | null }>();
  const tokens = new Map<string, string>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < runs.length) {
        const run = runs[next++]!;
        if (!run.caseId) continue;
        let token = tokens.get(run.citizen);
        if (!token) {
          token = await cluster.token({ role: 'citizen', sub: run.citizen });
          tokens.set(run.citizen, token);
        }
        for (let attempt = 0; ; attempt++) {
          try {
            const response = await fetch(`${cluster.apiUrl}/cases/${run.caseId}`, {
              headers: { authorization: `Bearer ${token}` },
              signal: AbortSignal.timeout(30_000),
            });
            if (response.status === 200) {
              const view = (await response.json()) as {
                workflowStatus: string;
                phase: string | null;
              };
              outcomes.set(run.caseId, { workflowStatus: view.workflowStatus, phase: view.phase });
              break;
            }
            if (response.status < 500 || attempt >= 10) {
              outcomes.set(run.caseId, {
                workflowStatus: `HTTP ${response.status}`,
                phase: await response.text(),
              });
              break;
            }
          } catch (error) {
            if (attempt >= 10) throw error;
          }
          await sleep(500);
        }
      }
    }),
  );
  return outcomes;
}
