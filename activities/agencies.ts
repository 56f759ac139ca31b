// Per-agency activities. Each agency's worker registers only its own, holds only its own
// key, calls its own agency system through a port, and signs every result it produces.
//
// Every activity takes `{ caseId, stepId, salt, view, n? }` (domain/views.ts) and returns
// `{ signed, result }`. The outcome is `passed` or `rejected` (a business refusal, not an
// exception) for a step, `compensated` for a compensation. Exceptions mean a technical
// failure Temporal retries; an input that can never succeed fails at once, non-retryably.
// What an agency's system says when it fails leaves the agency only as a `StatedFailure`.
import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { ApplicationFailure, log } from '@temporalio/activity';
import type { z } from 'zod';
import { UTILITIES, type Agency, type Utility } from '../domain/agencyIds.ts';
import { INSPECTION_REFUSED, StatedFailure } from '../domain/errors.ts';
import { SafetyInspectionRequest, type SafetyInspection } from '../domain/inspections.ts';
import { jointTransferProcess } from '../domain/processGraph.ts';
import {
  AssessTaxInput,
  CancelFilingInput,
  RefundTaxInput,
  RegisterTransferInput,
  ReleaseTitleLockInput,
  TitleCheckInput,
  TransferAccountInput,
  UtilityPrecheckInput,
  VerifyContractInput,
  type StepCall,
} from '../domain/views.ts';
import {
  contractIsValid,
  type ContractCheck,
  type FilingCancellation,
  type HousingSystem,
} from '../agencies/housing.ts';
import type {
  LockRelease,
  RegistrySystem,
  TitleRecord,
  TransferRecord,
} from '../agencies/registry.ts';
import type { TaxAssessment, TaxRefund, TaxSystem } from '../agencies/tax.ts';
import type { AccountTransfer, UtilityPrecheck, UtilitySystem } from '../agencies/utility.ts';
import type { SigningKey } from '../ledger/keys.ts';
import { signStep, type StepResult } from './sign.ts';

/** The failure type of an activity input that does not match its schema (never retried). */
export const INVALID_ACTIVITY_INPUT = 'InvalidActivityInput';

/** The failure type of an agency system's error that is not a `StatedFailure` (retried). */
export const AGENCY_SYSTEM_ERROR = 'AgencySystemError';

type Facts = Record<string, string | number | boolean | null>;

interface AgencyDeps<S> {
  key: SigningKey;
  system: S;
  /** The clock for `issuedAt` and assessment dates; tests fix it. */
  now?: () => Date;
}

/**
 * Validates an activity's input against its schema. A wrong view can never succeed, so it
 * fails non-retryably. The message names paths and rules only, never the values.
 */
export function parseInput<T>(activity: string, schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .map((issue) => `${issue.path.join('.') || '(input)'}: ${issue.message}`)
    .join('; ');
  throw ApplicationFailure.nonRetryable(
    `${activity}: invalid input: ${issues}`,
    INVALID_ACTIVITY_INPUT,
  );
}

/**
 * The step id under which `agency` answers each of its activities in the process
 * (domain/processGraph.ts): the step's id (`<activity>.<agency>` for a utility's, the
 * activity's name for the others'), or for a compensation its activity's name.
 */
function stepIdsOf(agency: Agency): Map<string, string> {
  const ids = new Map<string, string>();
  for (const def of jointTransferProcess(UTILITIES).steps) {
    if (def.agency !== agency) continue;
    if (def.activity && !ids.has(def.activity)) ids.set(def.activity, def.id);
    if (def.compensation && !ids.has(def.compensation)) ids.set(def.compensation, def.compensation);
  }
  return ids;
}

/**
 * `parseInput` for `agency`'s activities, which also refuses a step that is not the
 * activity's own (stepIdsOf, read once a worker). The key signs the step id it is given, and
 * the ledger checks only that the key is the agency's: a call naming another step (a bug, or
 * anyone who can schedule on the agency's queue) would otherwise be signed as that step's
 * answer, and take its statement id.
 */
function inputParser(agency: Agency) {
  const stepIds = stepIdsOf(agency);
  return <T extends StepCall>(activity: string, schema: z.ZodType<T>, input: unknown): T => {
    const call = parseInput(activity, schema, input);
    const own = stepIds.get(activity);
    if (call.stepId !== own)
      throw ApplicationFailure.nonRetryable(
        `${activity}: ${agency} signs this activity's answer for its own step (${own ?? 'none'}), not for ${call.stepId}`,
        INVALID_ACTIVITY_INPUT,
      );
    return call;
  };
}

/**
 * Calls `agency`'s system. A `StatedFailure` goes on as it is: its words are meant for the
 * case's parties. Any other error's text stays in this worker's log under a reference: it can
 * hold whatever the system knows (another citizen's record, a host name), and a failure's
 * message travels on to the case's status, the supervisor's notice and the citizen's view.
 */
function systemOf(agency: Agency) {
  return async <T>(request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (error) {
      if (error instanceof StatedFailure && error.cause === undefined) throw error;
      const reference = randomUUID();
      // inspect: the stack and every cause, whatever was thrown.
      log.error(`${agency}'s system failed`, { reference, error: inspect(error) });
      if (error instanceof StatedFailure) {
        // Its words only, in a copy: Temporal would send the cause it wraps along (logged
        // above), and the system's own error object is left as it was.
        const Stated = error.constructor as new (message: string) => StatedFailure;
        const words = new Stated(error.message);
        words.stack = error.stack;
        throw words;
      }
      throw ApplicationFailure.retryable(
        `${agency}'s system failed (reference ${reference} in the ${agency} worker's log)`,
        AGENCY_SYSTEM_ERROR,
      );
    }
  };
}

/** Signs step results for one agency with its key. */
function signerFor(agency: Agency, deps: AgencyDeps<unknown>) {
  return <R>(call: StepCall, outcome: string, result: R, facts: Facts): StepResult<R> =>
    signStep({
      key: deps.key,
      agency,
      caseId: call.caseId,
      stepId: call.stepId,
      ...(call.n === undefined ? {} : { n: call.n }),
      salt: call.salt,
      outcome,
      result,
      facts,
      ...(deps.now ? { now: deps.now } : {}),
    });
}

const passedIf = (ok: boolean) => (ok ? 'passed' : 'rejected');

export function createHousingActivities(deps: AgencyDeps<HousingSystem>) {
  const sign = signerFor('housing', deps);
  const parse = inputParser('housing');
  const ask = systemOf('housing');
  return {
    /** The filing matches parties, unit and price, and the buyer may buy. */
    async verifyContract(input: VerifyContractInput): Promise<StepResult<ContractCheck>> {
      const call = parse('verifyContract', VerifyContractInput, input);
      const check = await ask(() => deps.system.verifyContract(call.caseId, call.view));
      return sign(call, passedIf(contractIsValid(check)), check, {
        filingNumberMatches: check.filingNumberMatches,
        partiesMatch: check.partiesMatch,
        priceMatches: check.priceMatches,
        buyerEligible: check.buyerEligible,
        filingActive: check.filingStatus === 'active',
        heldByAnotherCase: check.heldByAnotherCase,
      });
    },

    /** Compensation of verifyContract: withdraws the filing. */
    async cancelFiling(input: CancelFilingInput): Promise<StepResult<FilingCancellation>> {
      const call = parse('cancelFiling', CancelFilingInput, input);
      const cancellation = await ask(() => deps.system.cancelFiling(call.caseId, call.view));
      return sign(call, 'compensated', cancellation, { cancelled: cancellation.cancelled });
    },
  };
}

export function createRegistryActivities(deps: AgencyDeps<RegistrySystem>) {
  const sign = signerFor('registry', deps);
  const parse = inputParser('registry');
  const ask = systemOf('registry');
  return {
    /** Owner match and encumbrances; a clear title is locked for this case. */
    async checkTitle(input: TitleCheckInput): Promise<StepResult<TitleRecord>> {
      const call = parse('checkTitle', TitleCheckInput, input);
      const record = await ask(() => deps.system.checkTitle(call.caseId, call.view));
      return sign(call, passedIf(record.lockPlaced), record, {
        ownerMatches: record.ownerMatches,
        ownerCount: record.ownerCount,
        allOwnersSelling: record.allOwnersSelling,
        mortgage: record.mortgage,
        seizure: record.seizure,
        objection: record.objection,
        lockedByAnotherCase: record.lockedByAnotherCase,
        lockPlaced: record.lockPlaced,
      });
    },

    /** Compensation of checkTitle: releases this case's pending-transfer lock. */
    async releaseTitleLock(input: ReleaseTitleLockInput): Promise<StepResult<LockRelease>> {
      const call = parse('releaseTitleLock', ReleaseTitleLockInput, input);
      const release = await ask(() => deps.system.releaseTitleLock(call.caseId, call.view));
      return sign(call, 'compensated', release, { released: release.released });
    },

    /** The point of no return: re-checks seizure now, then records the buyer as owner. */
    async registerTransfer(input: RegisterTransferInput): Promise<StepResult<TransferRecord>> {
      const call = parse('registerTransfer', RegisterTransferInput, input);
      const record = await ask(() => deps.system.registerTransfer(call.caseId, call.view));
      return sign(call, passedIf(record.registered), record, {
        registered: record.registered,
        ownerMatches: record.ownerMatches,
        allOwnersSelling: record.allOwnersSelling,
        seizure: record.seizure,
        lockedByAnotherCase: record.lockedByAnotherCase,
      });
    },
  };
}

export function createTaxActivities(deps: AgencyDeps<TaxSystem>) {
  const sign = signerFor('tax', deps);
  const parse = inputParser('tax');
  const ask = systemOf('tax');
  const now = deps.now ?? (() => new Date());
  return {
    /** Deed tax and the seller's duties from price, area and holding period. */
    async assessTax(input: AssessTaxInput): Promise<StepResult<TaxAssessment>> {
      const call = parse('assessTax', AssessTaxInput, input);
      const assessment = await ask(() => deps.system.assess(call.caseId, call.view, now()));
      const due = (tax: string) => assessment.items.some((i) => i.tax === tax && i.amountCents > 0);
      // No amounts: each is a rate of the price, which anyone reading the log would learn.
      // They are in the result, under the statement's commitment; the case shows what is due.
      return sign(call, 'passed', assessment, {
        valueAddedTaxDue: due('valueAddedTax'),
        incomeTaxDue: due('incomeTax'),
        firstHomeRelief: assessment.firstHome,
      });
    },

    /** Compensation of the payment: refunds what was assessed and paid. */
    async refundTax(input: RefundTaxInput): Promise<StepResult<TaxRefund>> {
      const call = parse('refundTax', RefundTaxInput, input);
      const refund = await ask(() => deps.system.refund(call.caseId, call.view));
      return sign(call, 'compensated', refund, { refunded: refund.refundedCents > 0 });
    },
  };
}

export function createUtilityActivities(deps: AgencyDeps<UtilitySystem> & { agency: Utility }) {
  const sign = signerFor(deps.agency, deps);
  const parse = inputParser(deps.agency);
  const ask = systemOf(deps.agency);
  return {
    /** An account exists at the address; its reading and arrears. */
    async precheck(input: UtilityPrecheckInput): Promise<StepResult<UtilityPrecheck>> {
      const call = parse('precheck', UtilityPrecheckInput, input);
      const check = await ask(() => deps.system.precheck(call.view));
      return sign(call, passedIf(check.accountExists), check, {
        accountExists: check.accountExists,
        hasArrears: check.arrearsCents > 0,
        safetyInspectionDue: check.safetyInspectionDue,
      });
    },

    /**
     * Final reading and holder change to the buyer. A due gas safety inspection throws
     * (retryable): the workflow escalates and a supervisor resolves.
     */
    async transferAccount(input: TransferAccountInput): Promise<StepResult<AccountTransfer>> {
      const call = parse('transferAccount', TransferAccountInput, input);
      const transfer = await ask(() => deps.system.transferAccount(call.caseId, call.view));
      // The final reading stays in the committed result: a household's consumption is
      // personal data, and the ledger keeps its facts for good, past any erasure.
      return sign(call, passedIf(transfer.holderChanged), transfer, {
        accountExists: transfer.accountExists,
        holderChanged: transfer.holderChanged,
      });
    },
  };
}

/**
 * The gas company's desk for safety inspections: an officer of the company records that a
 * unit's appliances passed (workflow `safetyInspection`), in the company's own system, so
 * that a holder change refused for the inspection (transferAccount.gas) succeeds when a
 * supervisor retries it. Not a step: nothing is signed.
 */
export function createSafetyInspectionActivities(deps: {
  system: UtilitySystem;
  now?: () => Date;
}) {
  const ask = systemOf('gas');
  const now = deps.now ?? (() => new Date());
  return {
    async recordSafetyInspection(input: SafetyInspectionRequest): Promise<SafetyInspection> {
      const request = parseInput('recordSafetyInspection', SafetyInspectionRequest, input);
      // The company's own officers only (`officer:gas:<id>`): the API sees to it, and so
      // does the company, whose records these are.
      const [role, agency, id] = request.actor.split(':');
      if (role !== 'officer' || agency !== 'gas' || !id)
        throw ApplicationFailure.nonRetryable(
          `actor: ${request.actor} is not an officer of gas`,
          INSPECTION_REFUSED,
        );
      const inspection = await ask(() => deps.system.recordSafetyInspection(request.unitId, now()));
      log.info('safety inspection recorded', {
        caseId: request.caseId,
        unitId: request.unitId,
        inspectionId: inspection.inspectionId,
        actor: request.actor,
      });
      return inspection;
    },
  };
}

export type HousingActivities = ReturnType<typeof createHousingActivities>;
export type RegistryActivities = ReturnType<typeof createRegistryActivities>;
export type TaxActivities = ReturnType<typeof createTaxActivities>;
export type UtilityActivities = ReturnType<typeof createUtilityActivities>;
export type SafetyInspectionActivities = ReturnType<typeof createSafetyInspectionActivities>;
