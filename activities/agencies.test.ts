import { ApplicationFailure } from '@temporalio/activity';
import { DefaultLogger } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { UTILITIES, type Agency } from '../domain/agencyIds.ts';
import { INSPECTION_REFUSED, StatedFailure } from '../domain/errors.ts';
import type { CaseApplication } from '../domain/application.ts';
import { SignedStatement } from '../domain/statement.ts';
import { sampleApplication } from '../test/support/applications.ts';
import { viewFor, type AgencyActivityName, type StepResults } from '../domain/views.ts';
import { simulatedHousing } from '../agencies/housing.ts';
import { RegistryUnavailableError, simulatedRegistry } from '../agencies/registry.ts';
import { simulatedTax } from '../agencies/tax.ts';
import { SafetyInspectionRequiredError, simulatedUtility } from '../agencies/utility.ts';
import { toBase64 } from '../ledger/bytes.ts';
import { canonicalJson } from '../ledger/canonicalJson.ts';
import { agencyKeyName, generateSigningKey } from '../ledger/keys.ts';
import { verifyStatementSignature } from '../ledger/statement.ts';
import {
  createHousingActivities,
  createRegistryActivities,
  createTaxActivities,
  createSafetyInspectionActivities,
  createUtilityActivities,
  AGENCY_SYSTEM_ERROR,
  INVALID_ACTIVITY_INPUT,
} from './agencies.ts';
import type { StepResult } from './sign.ts';

const AGENCIES = ['housing', 'tax', 'registry', 'electricity', 'water', 'gas'] as const;
const keys = Object.fromEntries(
  AGENCIES.map((a) => [a, generateSigningKey(agencyKeyName(a))]),
) as Record<Agency, ReturnType<typeof generateSigningKey>>;

const CASE = '3f6c1b7e-1d2a-4c5b-9e8f-0a1b2c3d4e5f';
const OTHER_CASE = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const SALT = toBase64(new Uint8Array(32).fill(7));
const NOW = new Date('2026-03-02T09:00:00Z');

const application = sampleApplication;

/** Every agency's activities on fresh simulated systems, as the workers wire them. */
function agencies() {
  const now = () => NOW;
  const gas = simulatedUtility('gas');
  return {
    housing: createHousingActivities({ key: keys.housing, system: simulatedHousing(), now }),
    registry: createRegistryActivities({ key: keys.registry, system: simulatedRegistry(), now }),
    tax: createTaxActivities({ key: keys.tax, system: simulatedTax(), now }),
    electricity: createUtilityActivities({
      agency: 'electricity',
      key: keys.electricity,
      system: simulatedUtility('electricity'),
      now,
    }),
    water: createUtilityActivities({
      agency: 'water',
      key: keys.water,
      system: simulatedUtility('water'),
      now,
    }),
    gas: createUtilityActivities({ agency: 'gas', key: keys.gas, system: gas, now }),
    gasInspections: createSafetyInspectionActivities({ system: gas, now }),
  };
}

/**
 * The input the workflow sends: the step call and the view cut for the activity, under the
 * step's id in the process (`<activity>.<utility>` for a utility's) unless given another.
 */
function input<A extends AgencyActivityName>(
  activity: A,
  agency: Agency,
  app: CaseApplication,
  opts: { caseId?: string; stepId?: string; results?: StepResults; n?: number } = {},
) {
  const isUtility = (UTILITIES as readonly string[]).includes(agency);
  return {
    caseId: opts.caseId ?? CASE,
    stepId: opts.stepId ?? (isUtility ? `${activity}.${agency}` : activity),
    salt: SALT,
    view: viewFor(activity, agency, app, opts.results ?? {}),
    ...(opts.n === undefined ? {} : { n: opts.n }),
  };
}

const outcomeOf = (step: StepResult<unknown>) => step.signed.statement.outcome;
const factsOf = (step: StepResult<unknown>) => step.signed.statement.facts;

describe('housing: verifyContract', () => {
  it('passes a clean unit whose filing matches parties, unit and price', async () => {
    const a = agencies();
    const step = await a.housing.verifyContract(
      input('verifyContract', 'housing', application('U-CLEAN-1')),
    );
    expect(outcomeOf(step)).toBe('passed');
    expect(factsOf(step)).toEqual({
      filingNumberMatches: true,
      partiesMatch: true,
      priceMatches: true,
      buyerEligible: true,
      filingActive: true,
      heldByAnotherCase: false,
    });
  });

  it('rejects a filing another case holds (open or completed), so one filing backs one transfer', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    await a.housing.verifyContract(input('verifyContract', 'housing', app, { caseId: OTHER_CASE }));
    const step = await a.housing.verifyContract(input('verifyContract', 'housing', app));
    expect(outcomeOf(step)).toBe('rejected');
    expect(factsOf(step).heldByAnotherCase).toBe(true);
  });

  it.each([
    ['U-FILING-MISMATCH-1', 'filingNumberMatches'],
    ['U-PRICE-MISMATCH-1', 'priceMatches'],
    ['U-BUYER-INELIGIBLE-1', 'buyerEligible'],
  ])('rejects %s, reporting %s false', async (unitId, fact) => {
    const a = agencies();
    const step = await a.housing.verifyContract(
      input('verifyContract', 'housing', application(unitId)),
    );
    expect(outcomeOf(step)).toBe('rejected');
    expect(factsOf(step)[fact]).toBe(false);
  });

  it('rejects a filing another case has cancelled', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    // The other case's check passed (so its transfer held the filing), then it was undone.
    await a.housing.verifyContract(input('verifyContract', 'housing', app, { caseId: OTHER_CASE }));
    await a.housing.cancelFiling(input('cancelFiling', 'housing', app, { caseId: OTHER_CASE }));
    const step = await a.housing.verifyContract(input('verifyContract', 'housing', app));
    expect(outcomeOf(step)).toBe('rejected');
    expect(factsOf(step).filingActive).toBe(false);
  });
});

describe('housing: cancelFiling', () => {
  it('compensates by cancelling the filing the case verified', async () => {
    const a = agencies();
    await a.housing.verifyContract(input('verifyContract', 'housing', application('U-CLEAN-1')));
    const step = await a.housing.cancelFiling(
      input('cancelFiling', 'housing', application('U-CLEAN-1')),
    );
    expect(outcomeOf(step)).toBe('compensated');
    expect(factsOf(step)).toEqual({ cancelled: true });
  });

  it("compensates with nothing cancelled when the case's check of the filing failed", async () => {
    const a = agencies();
    const app = application('U-PRICE-MISMATCH-1');
    const check = await a.housing.verifyContract(input('verifyContract', 'housing', app));
    expect(outcomeOf(check)).toBe('rejected');
    const step = await a.housing.cancelFiling(input('cancelFiling', 'housing', app));
    expect(outcomeOf(step)).toBe('compensated');
    expect(factsOf(step)).toEqual({ cancelled: false });
  });

  it('returns the same result when retried', async () => {
    const a = agencies();
    // The case's passing check holds the filing, so the first cancel withdraws it.
    const check = await a.housing.verifyContract(
      input('verifyContract', 'housing', application('U-CLEAN-1')),
    );
    expect(outcomeOf(check)).toBe('passed');
    const call = input('cancelFiling', 'housing', application('U-CLEAN-1'));
    const first = await a.housing.cancelFiling(call);
    expect(first.result.cancelled).toBe(true);
    expect(factsOf(first)).toEqual({ cancelled: true });
    const retry = await a.housing.cancelFiling(call);
    expect(retry.result).toEqual(first.result);
    expect(factsOf(retry)).toEqual({ cancelled: true });
    expect(retry.signed.statement.commitment).toBe(first.signed.statement.commitment);
  });

  it('compensates with nothing to cancel when the unit has no such filing', async () => {
    const a = agencies();
    const step = await a.housing.cancelFiling(
      input('cancelFiling', 'housing', application('U-FILING-MISMATCH-1')),
    );
    expect(outcomeOf(step)).toBe('compensated');
    expect(factsOf(step)).toEqual({ cancelled: false });
  });
});

describe('registry: checkTitle', () => {
  it.each([
    ['U-CLEAN-1', 'passed', { mortgage: false, lockPlaced: true }],
    ['U-MORTGAGED-1', 'passed', { mortgage: true, lockPlaced: true }],
    ['U-SEIZED-LATER-1', 'passed', { seizure: false, lockPlaced: true }],
    ['U-SEIZED-1', 'rejected', { seizure: true, lockPlaced: false }],
    ['U-OBJECTION-1', 'rejected', { objection: true, lockPlaced: false }],
    ['U-OTHER-OWNER-1', 'rejected', { ownerMatches: false, lockPlaced: false }],
    [
      'U-COOWNED-1',
      'rejected',
      { ownerMatches: true, allOwnersSelling: false, ownerCount: 2, lockPlaced: false },
    ],
  ] as const)('on %s is %s', async (unitId, outcome, facts) => {
    const a = agencies();
    const step = await a.registry.checkTitle(input('checkTitle', 'registry', application(unitId)));
    expect(outcomeOf(step)).toBe(outcome);
    expect(factsOf(step)).toMatchObject(facts);
  });

  it('rejects a seller who is not one of the co-owners', async () => {
    const a = agencies();
    const app = application('U-COOWNED-1', { seller: { name: 'Ann Kim', idNumber: 'Z9999999' } });
    const step = await a.registry.checkTitle(input('checkTitle', 'registry', app));
    expect(outcomeOf(step)).toBe('rejected');
    expect(factsOf(step)).toMatchObject({ ownerMatches: false, ownerCount: 2 });
  });

  it('refuses a second case while the first holds the pending-transfer lock', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    await a.registry.checkTitle(input('checkTitle', 'registry', app));
    const second = await a.registry.checkTitle(
      input('checkTitle', 'registry', app, { caseId: OTHER_CASE }),
    );
    expect(outcomeOf(second)).toBe('rejected');
    expect(factsOf(second)).toMatchObject({ lockedByAnotherCase: true, lockPlaced: false });
  });

  it('passes again when the lock holder retries it', async () => {
    const a = agencies();
    const call = input('checkTitle', 'registry', application('U-CLEAN-1'));
    await a.registry.checkTitle(call);
    const retry = await a.registry.checkTitle(call);
    expect(outcomeOf(retry)).toBe('passed');
    expect(factsOf(retry).lockPlaced).toBe(true);
  });

  it('lets a second case in once the first released its lock', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    await a.registry.checkTitle(input('checkTitle', 'registry', app));
    await a.registry.releaseTitleLock(input('releaseTitleLock', 'registry', app));
    const second = await a.registry.checkTitle(
      input('checkTitle', 'registry', app, { caseId: OTHER_CASE }),
    );
    expect(outcomeOf(second)).toBe('passed');
  });
});

describe('registry: releaseTitleLock', () => {
  it('compensates by releasing the case lock', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    await a.registry.checkTitle(input('checkTitle', 'registry', app));
    const step = await a.registry.releaseTitleLock(input('releaseTitleLock', 'registry', app));
    expect(outcomeOf(step)).toBe('compensated');
    expect(factsOf(step)).toEqual({ released: true });
  });

  it('returns the same result when retried', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    await a.registry.checkTitle(input('checkTitle', 'registry', app));
    const call = input('releaseTitleLock', 'registry', app);
    const first = await a.registry.releaseTitleLock(call);
    const retry = await a.registry.releaseTitleLock(call);
    expect(retry.result).toEqual(first.result);
  });

  it('never releases a lock another case holds', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    await a.registry.checkTitle(input('checkTitle', 'registry', app, { caseId: OTHER_CASE }));
    const step = await a.registry.releaseTitleLock(input('releaseTitleLock', 'registry', app));
    expect(factsOf(step)).toEqual({ released: false });
    const again = await a.registry.checkTitle(input('checkTitle', 'registry', app));
    expect(factsOf(again).lockedByAnotherCase).toBe(true);
  });
});

describe('registry: registerTransfer', () => {
  it('records the buyer as owner on a clean unit', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    await a.registry.checkTitle(input('checkTitle', 'registry', app));
    const step = await a.registry.registerTransfer(input('registerTransfer', 'registry', app));
    expect(outcomeOf(step)).toBe('passed');
    expect(factsOf(step)).toMatchObject({ registered: true, seizure: false });
    expect(step.result.newOwnerIdNumber).toBe('B1234567');
  });

  it('rejects a unit seized after its title check', async () => {
    const a = agencies();
    const app = application('U-SEIZED-LATER-1');
    await a.registry.checkTitle(input('checkTitle', 'registry', app));
    const step = await a.registry.registerTransfer(input('registerTransfer', 'registry', app));
    expect(outcomeOf(step)).toBe('rejected');
    expect(factsOf(step)).toMatchObject({ registered: false, seizure: true });
  });

  it('releases the lock, so the former owner can no longer sell', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    await a.registry.checkTitle(input('checkTitle', 'registry', app));
    await a.registry.registerTransfer(input('registerTransfer', 'registry', app));
    const resale = await a.registry.checkTitle(
      input('checkTitle', 'registry', app, { caseId: OTHER_CASE }),
    );
    expect(factsOf(resale)).toMatchObject({ lockedByAnotherCase: false, ownerMatches: false });
  });

  it('returns the same registration when retried', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    await a.registry.checkTitle(input('checkTitle', 'registry', app));
    const call = input('registerTransfer', 'registry', app);
    const first = await a.registry.registerTransfer(call);
    const retry = await a.registry.registerTransfer(call);
    expect(outcomeOf(retry)).toBe('passed');
    expect(retry.result).toEqual(first.result);
  });
});

describe('tax: assessTax', () => {
  // Price 425,000.00 (42,500,000 cents): 1% is 425,000 cents.
  const amounts = (items: readonly { tax: string; amountCents: number }[]) =>
    Object.fromEntries(items.map((i) => [i.tax, i.amountCents]));
  it.each([
    [
      'U-CLEAN-1',
      850_000,
      { deedTax: 425_000, valueAddedTax: 0, incomeTax: 425_000 },
      { valueAddedTaxDue: false, incomeTaxDue: true, firstHomeRelief: true },
    ],
    ['U-MEDIUM-1', 1_062_500, { deedTax: 637_500 }, {}],
    ['U-LARGE-1', 1_700_000, { deedTax: 1_275_000 }, {}],
    ['U-SECOND-HOME-1', 1_700_000, { deedTax: 1_275_000 }, { firstHomeRelief: false }],
    [
      'U-LONG-HELD-1',
      425_000,
      { valueAddedTax: 0, incomeTax: 0 },
      { valueAddedTaxDue: false, incomeTaxDue: false },
    ],
    [
      'U-RECENT-1',
      2_975_000,
      { valueAddedTax: 2_125_000, incomeTax: 425_000 },
      { valueAddedTaxDue: true, incomeTaxDue: true },
    ],
  ] as const)(
    'on %s assesses %i cents in its result, and only which taxes apply in its facts',
    async (unitId, total, items, facts) => {
      const a = agencies();
      const step = await a.tax.assessTax(input('assessTax', 'tax', application(unitId)));
      expect(outcomeOf(step)).toBe('passed');
      expect(step.result.totalCents).toBe(total);
      expect(amounts(step.result.items)).toMatchObject(items);
      expect(factsOf(step)).toMatchObject(facts);
      expect(Object.values(factsOf(step)).every((fact) => typeof fact === 'boolean')).toBe(true);
    },
  );

  it('returns the breakdown by tax in its result', async () => {
    const a = agencies();
    const step = await a.tax.assessTax(input('assessTax', 'tax', application('U-CLEAN-1')));
    expect(step.result.items.map((i) => [i.tax, i.payer, i.rateBasisPoints])).toEqual([
      ['deedTax', 'buyer', 100],
      ['valueAddedTax', 'seller', 0],
      ['incomeTax', 'seller', 100],
    ]);
  });
});

describe('tax: refundTax', () => {
  it('compensates by refunding the assessed amount', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    const assessed = await a.tax.assessTax(input('assessTax', 'tax', app));
    const step = await a.tax.refundTax(
      input('refundTax', 'tax', app, { results: { assessTax: assessed.result } }),
    );
    expect(outcomeOf(step)).toBe('compensated');
    expect(step.result.refundedCents).toBe(850_000);
    expect(factsOf(step)).toEqual({ refunded: true });
  });

  it('refunds a case once however often it is retried', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    const assessed = await a.tax.assessTax(input('assessTax', 'tax', app));
    const call = input('refundTax', 'tax', app, { results: { assessTax: assessed.result } });
    const first = await a.tax.refundTax(call);
    const retry = await a.tax.refundTax({ ...call, view: { ...call.view, amountCents: 1 } });
    expect(retry.result).toEqual(first.result);
  });
});

describe('every agency', () => {
  it('signs only its own steps: a call naming another step is refused before its system acts', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    const refusals = [
      a.water.precheck(input('precheck', 'water', app, { stepId: 'transferAccount.water' })),
      a.water.precheck(input('precheck', 'water', app, { stepId: 'precheck.gas' })),
      a.registry.registerTransfer(
        input('registerTransfer', 'registry', app, { stepId: 'checkTitle' }),
      ),
      a.housing.verifyContract(input('verifyContract', 'housing', app, { stepId: 'review' })),
    ];
    for (const refusal of refusals)
      await expect(refusal).rejects.toMatchObject({
        type: INVALID_ACTIVITY_INPUT,
        nonRetryable: true,
        message: expect.stringMatching(/signs this activity's answer for its own step/) as string,
      });
    // Nothing was done: the registry still holds the seller, so a title check passes.
    const title = await a.registry.checkTitle(input('checkTitle', 'registry', app));
    expect(outcomeOf(title)).toBe('passed');
    const utilityStep = await a.water.precheck(
      input('precheck', 'water', app, { stepId: 'precheck.water' }),
    );
    expect(outcomeOf(utilityStep)).toBe('passed');
  });

  it('refuses a salt the commitment cannot take, and a field the call does not name, before its system acts', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    for (const call of [
      { ...input('registerTransfer', 'registry', app), salt: '' },
      { ...input('registerTransfer', 'registry', app), salt: 'not base64!' },
      { ...input('registerTransfer', 'registry', app), application: app },
    ])
      await expect(a.registry.registerTransfer(call)).rejects.toMatchObject({
        type: INVALID_ACTIVITY_INPUT,
        nonRetryable: true,
      });
    // The registry registered nobody: the seller still owns the unit.
    expect(outcomeOf(await a.registry.checkTitle(input('checkTitle', 'registry', app)))).toBe(
      'passed',
    );
  });

  it("keeps its system's unexpected error in its own log: the failure names only a reference", async () => {
    const leak = 'connection to tax-db-7.internal refused reading S7654321 (Jon Lee)';
    const tax = createTaxActivities({
      key: keys.tax,
      system: { ...simulatedTax(), assess: () => Promise.reject(new Error(leak)) },
      now: () => NOW,
    });
    const logged: { message: string; meta: Record<string, unknown> | undefined }[] = [];
    const logger = new DefaultLogger('TRACE', ({ level, message, meta }) => {
      if (level === 'ERROR') logged.push({ message, meta });
    });
    const failure: unknown = await new MockActivityEnvironment(undefined, { logger })
      .run((call) => tax.assessTax(call), input('assessTax', 'tax', application('U-CLEAN-1')))
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ApplicationFailure);
    const { message, type, nonRetryable } = failure as ApplicationFailure;
    expect({ type, nonRetryable }).toEqual({ type: AGENCY_SYSTEM_ERROR, nonRetryable: false });
    expect(message).not.toMatch(/tax-db|S7654321|Jon Lee|refused/);
    const reference = /reference ([0-9a-f-]{36}) in the tax worker's log/.exec(message)?.[1];
    expect(reference).toBeDefined();
    expect(logged).toHaveLength(1);
    expect(logged[0]!.message).toBe("tax's system failed");
    expect(logged[0]!.meta?.reference).toBe(reference);
    expect(logged[0]!.meta?.error).toContain(leak);
  });

  it("passes on a stated failure's words without the error it wraps, which stays in the log", async () => {
    const raw = new Error('lock register db-3.registry.internal: row for S7654321 locked');
    const stated = new RegistryUnavailableError('the title register is not answering', {
      cause: raw,
    });
    const registry = createRegistryActivities({
      key: keys.registry,
      system: {
        ...simulatedRegistry(),
        checkTitle: () => Promise.reject(stated),
      },
      now: () => NOW,
    });
    const logged: Record<string, unknown>[] = [];
    const logger = new DefaultLogger('TRACE', ({ level, meta }) => {
      if (level === 'ERROR' && meta) logged.push(meta);
    });
    const failure: unknown = await new MockActivityEnvironment(undefined, { logger })
      .run(
        (call) => registry.checkTitle(call),
        input('checkTitle', 'registry', application('U-CLEAN-1')),
      )
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(RegistryUnavailableError);
    expect((failure as Error).name).toBe('RegistryUnavailableError');
    expect((failure as Error).message).toBe('the title register is not answering');
    expect((failure as Error).cause).toBeUndefined();
    expect(stated.cause).toBe(raw); // the system's own error is left as it was
    expect(logged).toHaveLength(1);
    expect(logged[0]!.error).toContain('row for S7654321 locked');
  });

  it('passes on a failure its system states for the case, in its own words', async () => {
    const a = agencies();
    const call = input('transferAccount', 'gas', application('U-GAS-INSPECTION-1'));
    const failure = await a.gas.transferAccount(call).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StatedFailure);
    expect((failure as Error).message).toBe(
      'gas account for unit U-GAS-INSPECTION-1 cannot change holder: a safety inspection is due',
    );
  });
});

describe('utilities: precheck', () => {
  it.each([
    ['electricity', 'U-CLEAN-1', 'passed', { hasArrears: false }],
    ['water', 'U-WATER-ARREARS-1', 'passed', { hasArrears: true }],
    ['electricity', 'U-WATER-ARREARS-1', 'passed', { hasArrears: false }],
    ['gas', 'U-GAS-INSPECTION-1', 'passed', { safetyInspectionDue: true }],
    ['gas', 'U-NO-GAS-1', 'rejected', { accountExists: false }],
  ] as const)('%s on %s is %s', async (utility, unitId, outcome, facts) => {
    const a = agencies();
    const step = await a[utility].precheck(input('precheck', utility, application(unitId)));
    expect(outcomeOf(step)).toBe(outcome);
    expect(factsOf(step)).toMatchObject(facts);
  });
});

describe('utilities: transferAccount', () => {
  it('puts the account in the buyer name at a final reading past the precheck one', async () => {
    const a = agencies();
    const app = application('U-CLEAN-1');
    const pre = await a.water.precheck(input('precheck', 'water', app));
    const step = await a.water.transferAccount(input('transferAccount', 'water', app));
    expect(outcomeOf(step)).toBe('passed');
    expect(step.result.newHolderName).toBe('Mina Park');
    expect(step.result.finalReading).toBeGreaterThan(pre.result.finalReading);
    // A household's consumption stays off the ledger's facts.
    expect(factsOf(step)).toEqual({ accountExists: true, holderChanged: true });
  });

  it('returns the same final reading when retried', async () => {
    const a = agencies();
    const call = input('transferAccount', 'electricity', application('U-CLEAN-1'));
    const first = await a.electricity.transferAccount(call);
    const retry = await a.electricity.transferAccount(call);
    expect(retry.result).toEqual(first.result);
  });

  it('rejects a unit without a gas account', async () => {
    const a = agencies();
    const step = await a.gas.transferAccount(
      input('transferAccount', 'gas', application('U-NO-GAS-1')),
    );
    expect(outcomeOf(step)).toBe('rejected');
  });

  it('throws a retryable error on every attempt while a gas safety inspection is due', async () => {
    const a = agencies();
    const call = input('transferAccount', 'gas', application('U-GAS-INSPECTION-1'));
    for (let attempt = 0; attempt < 3; attempt++) {
      const error: unknown = await a.gas.transferAccount(call).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SafetyInspectionRequiredError);
      expect((error as Error).message).toMatch(/safety inspection is due/);
      expect(error).not.toBeInstanceOf(ApplicationFailure);
    }
  });

  it("passes once a gas officer records the inspection at the company's desk", async () => {
    const a = agencies();
    const call = input('transferAccount', 'gas', application('U-GAS-INSPECTION-1'));
    await expect(a.gas.transferAccount(call)).rejects.toThrow(SafetyInspectionRequiredError);
    const logged: unknown[] = [];
    const logger = new DefaultLogger('INFO', (entry) => logged.push(entry.meta));
    const inspection = await new MockActivityEnvironment(undefined, { logger }).run(
      (request) => a.gasInspections.recordSafetyInspection(request),
      { caseId: CASE, unitId: 'U-GAS-INSPECTION-1', actor: 'officer:gas:o-7' },
    );
    // Who recorded it stays in the company's worker log.
    expect(logged).toContainEqual(expect.objectContaining({ actor: 'officer:gas:o-7' }));
    expect(inspection).toMatchObject({
      unitId: 'U-GAS-INSPECTION-1',
      recordedAt: NOW.toISOString(),
    });
    expect(outcomeOf(await a.gas.transferAccount(call))).toBe('passed');
  });

  it("records an inspection for the gas company's own officers only, at once and for good", async () => {
    const a = agencies();
    for (const actor of ['officer:water:o-1', 'citizen:c-1', 'officer:gas', 'supervisor:s-1']) {
      const error: unknown = await a.gasInspections
        .recordSafetyInspection({ caseId: CASE, unitId: 'U-GAS-INSPECTION-1', actor })
        .catch((e: unknown) => e);
      expect(error, actor).toBeInstanceOf(ApplicationFailure);
      expect((error as ApplicationFailure).type, actor).toBe(INSPECTION_REFUSED);
      expect((error as ApplicationFailure).nonRetryable, actor).toBe(true);
    }
    // Nothing was recorded: the holder change still waits for the inspection.
    const call = input('transferAccount', 'gas', application('U-GAS-INSPECTION-1'));
    await expect(a.gas.transferAccount(call)).rejects.toThrow(SafetyInspectionRequiredError);
    const malformed: unknown = await a.gasInspections
      .recordSafetyInspection({ caseId: CASE, unitId: '', actor: 'officer:gas:o-7' })
      .catch((e: unknown) => e);
    expect((malformed as ApplicationFailure).type).toBe(INVALID_ACTIVITY_INPUT);
  });
});

/** Runs every activity of every agency once, on one application, with the views the workflow cuts. */
async function everyStep(app: CaseApplication) {
  const a = agencies();
  const assessed = await a.tax.assessTax(input('assessTax', 'tax', app));
  const steps: [Agency, StepResult<unknown>][] = [
    ['housing', await a.housing.verifyContract(input('verifyContract', 'housing', app))],
    ['housing', await a.housing.cancelFiling(input('cancelFiling', 'housing', app))],
    ['registry', await a.registry.checkTitle(input('checkTitle', 'registry', app))],
    ['registry', await a.registry.releaseTitleLock(input('releaseTitleLock', 'registry', app))],
    ['registry', await a.registry.checkTitle(input('checkTitle', 'registry', app, { n: 1 }))],
    ['registry', await a.registry.registerTransfer(input('registerTransfer', 'registry', app))],
    ['tax', assessed],
    [
      'tax',
      await a.tax.refundTax(
        input('refundTax', 'tax', app, { results: { assessTax: assessed.result } }),
      ),
    ],
  ];
  for (const u of app.utilities) {
    steps.push([u, await a[u].precheck(input('precheck', u, app, { stepId: `precheck.${u}` }))]);
    steps.push([
      u,
      await a[u].transferAccount(
        input('transferAccount', u, app, { stepId: `transferAccount.${u}` }),
      ),
    ]);
  }
  return steps;
}

describe('statements', () => {
  const app = application('U-WATER-ARREARS-1');

  it('verify under the signing agency key', async () => {
    for (const [agency, step] of await everyStep(app)) {
      expect(step.signed.statement.agency).toBe(agency);
      expect(step.signed.statement.keyId).toBe(keys[agency].keyId);
      expect(verifyStatementSignature(step.signed, keys[agency].publicKey)).toBe(true);
    }
  });

  it('do not verify under another agency key', async () => {
    for (const [agency, step] of await everyStep(app)) {
      const other = agency === 'housing' ? 'tax' : 'housing';
      expect(verifyStatementSignature(step.signed, keys[other].publicKey)).toBe(false);
    }
  });

  it('are of the fixed statement format', async () => {
    for (const [, step] of await everyStep(app)) {
      expect(() => SignedStatement.parse(step.signed)).not.toThrow();
    }
  });

  it('carry no names, ID numbers, address, price or filing number', async () => {
    const personal = [
      app.buyer.name,
      app.seller.name,
      app.buyer.idNumber,
      app.seller.idNumber,
      app.address,
      String(app.priceCents),
      app.contractFilingNumber,
    ];
    for (const [, step] of await everyStep(app)) {
      const json = canonicalJson(step.signed.statement);
      for (const value of personal) expect(json).not.toContain(value);
    }
  });

  it('carry no amount of money: each is a rate of the price, and the log is public', async () => {
    const steps = await everyStep(app);
    const inResults = new Set<number>();
    const collect = (value: unknown, key = ''): void => {
      if (typeof value === 'number' && /Cents$/.test(key) && value > 0) inResults.add(value);
      else if (value && typeof value === 'object')
        for (const [k, v] of Object.entries(value)) collect(v, Array.isArray(value) ? key : k);
    };
    for (const [, step] of steps) collect(step.result);
    expect(inResults.size).toBeGreaterThanOrEqual(2);
    for (const [name, step] of steps) {
      const facts = step.signed.statement.facts;
      for (const [key, fact] of Object.entries(facts)) {
        expect(key, name).not.toMatch(/cents/i);
        expect(inResults.has(fact as number), `${name}.${key}`).toBe(false);
      }
    }
  });

  it('commit identically when the same case runs again on fresh systems', async () => {
    const [first, second] = await Promise.all([everyStep(app), everyStep(app)]);
    const commitments = (steps: typeof first) =>
      steps.map(([, s]) => s.signed.statement.commitment);
    expect(commitments(first)).toEqual(commitments(second));
  });

  it('are numbered <caseId>/<stepId>/<n> when the call gives n', async () => {
    const a = agencies();
    const step = await a.registry.checkTitle(
      input('checkTitle', 'registry', application('U-CLEAN-1'), { n: 2 }),
    );
    expect(step.signed.statement.statementId).toBe(`${CASE}/checkTitle/2`);
  });

  it('are numbered <caseId>/<stepId> without n', async () => {
    const a = agencies();
    const step = await a.water.precheck(
      input('precheck', 'water', application('U-CLEAN-1'), { stepId: 'precheck.water' }),
    );
    expect(step.signed.statement.statementId).toBe(`${CASE}/precheck.water`);
  });
});

describe('input validation', () => {
  const app = application('U-CLEAN-1');

  it('refuses another activity view, non-retryably', async () => {
    const a = agencies();
    const wrong = input('precheck', 'water', app);
    const error: unknown = await a.registry.checkTitle(wrong as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).nonRetryable).toBe(true);
    expect((error as ApplicationFailure).type).toBe(INVALID_ACTIVITY_INPUT);
  });

  it('refuses a utility view that carries the price', async () => {
    const a = agencies();
    const call = input('precheck', 'gas', app);
    const padded = { ...call, view: { ...call.view, priceCents: app.priceCents } };
    await expect(a.gas.precheck(padded as never)).rejects.toThrow(/priceCents/);
  });

  it('names the wrong field but not its value', async () => {
    const a = agencies();
    const call = input('assessTax', 'tax', app);
    const padded = { ...call, view: { ...call.view, address: app.address } };
    const error: unknown = await a.tax.assessTax(padded as never).catch((e: unknown) => e);
    expect((error as Error).message).toContain('address');
    expect((error as Error).message).not.toContain(app.address);
  });

  it('refuses the repeat number 0, which would give a first answer a second statement id', async () => {
    const a = agencies();
    const call = input('checkTitle', 'registry', app, { n: 0 });
    await expect(a.registry.checkTitle(call)).rejects.toMatchObject({
      type: INVALID_ACTIVITY_INPUT,
      nonRetryable: true,
      message: expect.stringMatching(/^checkTitle: invalid input: n: /) as string,
    });
  });

  it("signs a utility's answer only under its step id in the process, <activity>.<utility>", async () => {
    const a = agencies();
    const bare = input('precheck', 'water', app, { stepId: 'precheck' });
    await expect(a.water.precheck(bare)).rejects.toMatchObject({
      type: INVALID_ACTIVITY_INPUT,
      message: expect.stringMatching(/own step \(precheck\.water\), not for precheck$/) as string,
    });
  });

  it("signs a housing, registry or tax answer only under the activity's name, not <activity>.<agency>", async () => {
    const a = agencies();
    const title = input('checkTitle', 'registry', app, { stepId: 'checkTitle.registry' });
    await expect(a.registry.checkTitle(title)).rejects.toMatchObject({
      type: INVALID_ACTIVITY_INPUT,
      message: expect.stringMatching(
        /own step \(checkTitle\), not for checkTitle\.registry$/,
      ) as string,
    });
    // A compensation's step id is its activity's name too.
    const cancel = input('cancelFiling', 'housing', app, { stepId: 'cancelFiling.housing' });
    await expect(a.housing.cancelFiling(cancel)).rejects.toMatchObject({
      type: INVALID_ACTIVITY_INPUT,
    });
  });

  it('refuses a case id that is not a case id', async () => {
    const a = agencies();
    const call = { ...input('cancelFiling', 'housing', app), caseId: 'Not A Case' };
    await expect(a.housing.cancelFiling(call)).rejects.toThrow(ApplicationFailure);
  });
});
