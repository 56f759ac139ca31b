// Activities of the orchestrator's own worker: intake (off-ledger case record and salt)
// and the ledger append, which verifies each agency's signature before sequencing it.
import { randomBytes } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type pg from 'pg';
import { CaseInput } from '../domain/application.ts';
import { LedgerError, NON_RETRYABLE_LEDGER_ERRORS } from '../domain/errors.ts';
import { bytesEqual, fromBase64, toBase64 } from '../ledger/bytes.ts';
import type { Sequencer } from '../ledger/pg/sequencer.ts';
import type { SignedStatement } from '../domain/statement.ts';
import type { SigningKey } from '../ledger/keys.ts';
import { jointTransferProcess } from '../domain/processGraph.ts';
import { opensCommitment, stepSalt } from '../ledger/statement.ts';
import { parseInput } from './agencies.ts';
import { signStep } from './sign.ts';

export interface AppendReceipt {
  index: number;
  leafHash: string;
  created: boolean;
  /**
   * The statement the log holds under this statement id when it is another one (another
   * signature): appends are idempotent on the id, so the log kept its own. A re-signed record
   * differs only in its time; a decision whose Update's answer was lost and which was decided
   * again differs in what it says, and the case must follow the log (the workflow's decide
   * handler). Absent when the log holds the statement given.
   */
  logged?: SignedStatement;
}

export interface NotifyInput {
  caseId: string;
  /** Who is told: `citizen`, `supervisor`, `<agency>.officer` or an agency. */
  party: string;
  kind: 'reminder' | 'overdue' | 'escalation' | 'closed';
  stepId: string;
  message: string;
}

export interface SignRecordInput {
  caseId: string;
  stepId: string;
  outcome: string;
  /** The full record, committed to under the case's salt; it stays off the ledger. */
  result: unknown;
  facts: Record<string, string | number | boolean | null>;
  /** The repeat number of a record signed again for the same step (a second retry). */
  n?: number;
}

export function createOrchestratorActivities(deps: {
  pool: pg.Pool;
  sequencer: Sequencer;
  key: SigningKey;
}) {
  return {
    /**
     * Records the case off-ledger and returns its commitment salt, and the salt of each
     * agency step and compensation of its process, derived from it (stepSalt): what each
     * agency is given. Idempotent: a retry returns the salt stored the first time, so
     * commitments stay stable.
     */
    async intake(input: CaseInput & { workflowId: string; firstRunId?: string }): Promise<Intake> {
      // An input that does not parse never will: failed at once, not retried for ever.
      const { caseId, application } = parseInput('intake', CaseInput, input);
      // With the run id: should the API die before its own row commits, the row written here
      // still names this case's run, not whichever run of the unit's workflow id is latest.
      // The first run of its chain, as the API's row names it: in a run an operator's reset
      // made, the run's own id names no run an action can reach (caseRoutes.ts runHandle asks
      // for the chain's first). Workflows before firstRunId was given: the run's own.
      const runId = input.firstRunId || (Context.current().info.workflowExecution?.runId ?? null);
      // Both rows and the salt in one statement (its own transaction): one round trip to
      // PostgreSQL instead of five. The salt comes from the insert, or from the row a first
      // attempt stored (the statement's snapshot shows rows committed before it began).
      const { rows } = await deps.pool.query<{ salt: Buffer }>(
        `WITH c AS (
           INSERT INTO cases (case_id, unit_id, workflow_id, run_id) VALUES ($1, $2, $3, $6)
           ON CONFLICT (case_id) DO NOTHING
         ), s AS (
           INSERT INTO case_secrets (case_id, salt, application) VALUES ($1, $4, $5)
           ON CONFLICT (case_id) DO NOTHING RETURNING salt
         )
         SELECT salt FROM s UNION ALL SELECT salt FROM case_secrets WHERE case_id = $1`,
        [caseId, application.unitId, input.workflowId, randomBytes(32), application, runId],
      );
      // An attempt racing this one committed after the snapshot: its salt is read now.
      const salt =
        rows[0]?.salt ??
        (
          await deps.pool.query<{ salt: Buffer }>(
            'SELECT salt FROM case_secrets WHERE case_id = $1',
            [caseId],
          )
        ).rows[0]!.salt;
      return { salt: toBase64(new Uint8Array(salt)), stepSalts: stepSaltsOf(application, salt) };
    },

    /**
     * Signs an orchestrator record (case summary, a supervisor's resolution) with the
     * orchestrator's key. The salt is read here, so it never has to cross Temporal again.
     */
    async signRecord(input: SignRecordInput): Promise<SignedStatement> {
      const { rows } = await deps.pool.query<{ salt: Buffer }>(
        'SELECT salt FROM case_secrets WHERE case_id = $1',
        [input.caseId],
      );
      // An erased case keeps its ledger; new records commit under a fresh, unkept salt.
      const salt = rows[0] ? new Uint8Array(rows[0].salt) : new Uint8Array(randomBytes(32));
      return signStep({
        key: deps.key,
        agency: 'orchestrator',
        caseId: input.caseId,
        stepId: input.stepId,
        salt: toBase64(salt),
        outcome: input.outcome,
        result: input.result,
        facts: input.facts,
        ...(input.n === undefined ? {} : { n: input.n }),
      }).signed;
    },

    /**
     * Records a notification for the party that owes an action (delivery is a later adapter).
     * Idempotent: keyed by the calling activity (run and activity id), so a retry adds none.
     */
    async notify(input: NotifyInput): Promise<void> {
      const { workflowExecution, activityId } = Context.current().info;
      await deps.pool.query(
        `INSERT INTO notifications (case_id, party, kind, step_id, message, run_id, activity_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (run_id, activity_id) DO NOTHING`,
        [
          input.caseId,
          input.party,
          input.kind,
          input.stepId,
          input.message,
          workflowExecution?.runId ?? null,
          activityId,
        ],
      );
    },

    /**
     * Appends a signed statement once; a statement the ledger refuses for good
     * (NON_RETRYABLE_LEDGER_ERRORS) fails without retries, any other refusal is retried.
     * Given `opening` (the salt and the result the statement's commitment is to), the result
     * must open the commitment first: the case acts on that result (an amount due, a flag),
     * so it must be the one the agency signed, not another it handed over beside it.
     */
    async appendToLedger(signed: unknown, opening?: CommitmentOpening): Promise<AppendReceipt> {
      if (opening !== undefined) {
        const problem = openingProblem(signed, opening);
        if (problem)
          throw ApplicationFailure.create({
            type: COMMITMENT_MISMATCH,
            message: problem,
            nonRetryable: true,
          });
      }
      try {
        const appended = await deps.sequencer.append(signed);
        // An entry already logged under the id: Ed25519 signatures are deterministic, so
        // another signature is another statement (or the same one signed again at another
        // time). Compared as bytes: two base64 texts may spell one signature.
        const { statement, signature } = appended.entry;
        const same =
          appended.created ||
          bytesEqual(fromBase64(signature), fromBase64((signed as SignedStatement).signature));
        return {
          index: appended.entry.index,
          leafHash: toBase64(appended.leafHash),
          created: appended.created,
          ...(same ? {} : { logged: { statement, signature } }),
        };
      } catch (error) {
        if (error instanceof LedgerError) {
          throw ApplicationFailure.create({
            type: error.name,
            message: error.message,
            nonRetryable: NON_RETRYABLE_LEDGER_ERRORS.includes(error.name),
          });
        }
        throw error;
      }
    },
  };
}

export type OrchestratorActivities = ReturnType<typeof createOrchestratorActivities>;

/** The failure type of a result that does not open its statement's commitment. */
export const COMMITMENT_MISMATCH = 'CommitmentMismatch';

/** The case's salt (the orchestrator's own records) and its agency steps' salts, by step id. */
export interface Intake {
  salt: string;
  /** Absent from the intakes of cases started before step salts: those use `salt`. */
  stepSalts?: Record<string, string>;
}

/** The salt of every step an agency signs for in this case: its steps and compensations. */
function stepSaltsOf(application: CaseInput['application'], caseSalt: Uint8Array) {
  const steps = jointTransferProcess(application.utilities).steps;
  const ids = steps.flatMap((def) => [
    ...(def.activity ? [def.id] : []),
    ...(def.compensation ? [def.compensation] : []),
  ]);
  return Object.fromEntries(ids.map((id) => [id, toBase64(stepSalt(caseSalt, id))]));
}

/** What opens a statement's commitment: `commitTo(salt, result)` (ledger/statement.ts). */
export interface CommitmentOpening {
  /** Base64 of the salt (the step's, the case's for a case started before step salts, or a decision's own). */
  salt: string;
  result: unknown;
}

/** Why `opening` does not open the commitment of `signed`'s statement, or undefined. */
function openingProblem(signed: unknown, opening: CommitmentOpening): string | undefined {
  const statement = (signed as { statement?: { statementId?: unknown; commitment?: unknown } })
    ?.statement;
  return opensCommitment(opening.salt, opening.result, statement?.commitment)
    ? undefined
    : `the result handed over with ${String(statement?.statementId)} does not open its commitment`;
}
