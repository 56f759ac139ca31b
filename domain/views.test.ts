import { describe, expect, it } from 'vitest';
import { simulatedTax } from '../agencies/tax.ts';
import { simulatedUtility } from '../agencies/utility.ts';
import { Utility, type Agency } from './agency.ts';
import {
  ACTIVITY_VIEWS,
  NoViewError,
  TitleCheckInput,
  UtilityPrecheckInput,
  titleView,
  utilityView,
  viewFor,
  type AgencyActivityName,
  type StepResults,
} from './views.ts';
import { sampleApplication } from '../test/support/applications.ts';

/** A step's salt as the intake derives it: 32 bytes, base64. */
const SALT = Buffer.alloc(32, 7).toString('base64');
const CASE = '3f6c1b7e-1d2a-4c5b-9e8f-0a1b2c3d4e5f';

/** The unit tests' sample application, with all three utilities (test/support/applications.ts). */
const application = sampleApplication('U-WATER-ARREARS-1');

/** Earlier steps' full results as the workflow holds them when it cuts later views. */
async function earlierResults(): Promise<StepResults> {
  const results: Record<string, unknown> = {
    assessTax: await simulatedTax().assess(
      CASE,
      viewFor('assessTax', 'tax', application),
      new Date('2026-03-02T09:00:00Z'),
    ),
  };
  for (const u of application.utilities) {
    results[`precheck.${u}`] = await simulatedUtility(u).precheck(
      viewFor('precheck', u, application),
    );
  }
  return results;
}

/** Every key path and leaf value of a JSON value. */
function leaves(value: unknown, path: string[] = []): { path: string[]; value: unknown }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, [...path, String(i)]));
  if (typeof value === 'object' && value !== null)
    return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
  return [{ path, value }];
}

/** Every leaf value of a JSON value that could identify it: texts and non-zero numbers. */
function leafValues(value: unknown): (string | number)[] {
  return leaves(value)
    .map((leaf) => leaf.value)
    .filter(
      (v): v is string | number =>
        (typeof v === 'string' && v !== '') || (typeof v === 'number' && v !== 0),
    );
}

/**
 * Fails if any key on the way to a leaf matches `forbiddenKey`, if a text leaf contains a
 * forbidden text, or if any leaf equals a forbidden number.
 */
function expectNone(
  view: unknown,
  forbiddenKey: RegExp,
  forbiddenValues: readonly (string | number)[],
  label: string,
) {
  const all = leaves(view);
  // A view with no leaves would pass every check below.
  expect(all.length, label).toBeGreaterThan(0);
  for (const leaf of all) {
    const where = `${label}: ${leaf.path.join('.')}`;
    for (const key of leaf.path) expect(key, where).not.toMatch(forbiddenKey);
    for (const bad of forbiddenValues) {
      if (typeof bad === 'number') expect(leaf.value, where).not.toBe(bad);
      else if (typeof leaf.value === 'string') expect(leaf.value, where).not.toContain(bad);
      else expect(String(leaf.value), where).not.toBe(bad);
    }
  }
}

const activityAgencies = (activity: AgencyActivityName): readonly Agency[] =>
  ACTIVITY_VIEWS[activity].agencies;

describe('data minimisation', () => {
  it('gives every utility no price, tax amount or ID number', async () => {
    const results = await earlierResults();
    const assessment = results['assessTax'] as { assessmentId: string };
    const forbidden = [
      application.priceCents,
      String(application.priceCents),
      application.buyer.idNumber,
      application.seller.idNumber,
      application.contractFilingNumber,
      assessment.assessmentId,
      ...leaves(results['assessTax'])
        .filter((l) => /cents$/i.test(l.path.at(-1) ?? '') && l.value !== 0)
        .flatMap((l) => [l.value as number, String(l.value)]),
    ];
    for (const u of application.utilities) {
      for (const activity of ['precheck', 'transferAccount'] as const) {
        const view = viewFor(activity, u, application, results);
        expectNone(
          view,
          /price|tax|duty|idNumber|cents|amount|assessment|refund|filing|seller/i,
          forbidden,
          `${activity} for ${u}`,
        );
      }
    }
  });

  it('gives tax no utility data, address or names', async () => {
    const results = await earlierResults();
    const forbidden = [
      application.address,
      application.buyer.name,
      application.seller.name,
      ...application.utilities.flatMap((u) => leafValues(results[`precheck.${u}`])),
    ];
    for (const activity of ['assessTax', 'refundTax'] as const) {
      const view = viewFor(activity, 'tax', application, results);
      expectNone(
        view,
        /address|utilit|electricity|water|gas|meter|reading|arrears|account|holder|name/i,
        forbidden,
        activity,
      );
    }
  });

  it('gives the registry no price', async () => {
    const results = await earlierResults();
    for (const activity of ['checkTitle', 'releaseTitleLock', 'registerTransfer'] as const) {
      const view = viewFor(activity, 'registry', application, results);
      expectNone(view, /price|cents|amount|tax/i, [application.priceCents], activity);
    }
  });

  it('gives each view only the keys its strict schema allows', async () => {
    const results = await earlierResults();
    for (const activity of Object.keys(ACTIVITY_VIEWS) as AgencyActivityName[]) {
      for (const agency of activityAgencies(activity)) {
        const view = viewFor(activity, agency, application, results);
        const call = { caseId: CASE, stepId: activity, salt: SALT, view };
        expect(ACTIVITY_VIEWS[activity].input.parse(call)).toEqual(call);
      }
    }
  });

  it('gives a utility its view of the address and the new holder only', () => {
    expect(viewFor('transferAccount', 'gas', application)).toEqual({
      unitId: 'U-WATER-ARREARS-1',
      address: '12 Harbour Lane, Apt 4B',
      newHolderName: 'Mina Park',
    });
  });
});

describe('viewFor', () => {
  it('cuts the refund from the assessment result', async () => {
    const results = await earlierResults();
    const assessment = results['assessTax'] as { assessmentId: string; totalCents: number };
    expect(viewFor('refundTax', 'tax', application, results)).toEqual({
      unitId: application.unitId,
      assessmentId: assessment.assessmentId,
      amountCents: assessment.totalCents,
    });
  });

  it('is deterministic and leaves the application untouched', async () => {
    const results = await earlierResults();
    const before = structuredClone(application);
    const first = viewFor('registerTransfer', 'registry', application, results);
    expect(viewFor('registerTransfer', 'registry', application, results)).toEqual(first);
    expect(application).toEqual(before);
  });

  it('refuses an activity no agency runs', () => {
    expect(() => viewFor('payBribe', 'registry', application)).toThrow(NoViewError);
  });

  it('refuses an agency that does not run the activity', () => {
    expect(() => viewFor('assessTax', 'water', application)).toThrow(/run by tax, not water/);
  });

  it('refuses a utility activity for an agency that is not a utility', () => {
    expect(() => viewFor('precheck', 'tax', application)).toThrow(NoViewError);
  });

  it('refuses a refund before there is an assessment', () => {
    expect(() => viewFor('refundTax', 'tax', application, {})).toThrow(/needs the assessTax/);
  });

  it('serves every utility for precheck and transferAccount', () => {
    expect(Utility.options).toEqual(['electricity', 'water', 'gas']);
    for (const u of Utility.options) {
      expect(viewFor('precheck', u, application)).toEqual(utilityView(application));
      expect(viewFor('transferAccount', u, application)).toEqual({
        unitId: 'U-WATER-ARREARS-1',
        address: '12 Harbour Lane, Apt 4B',
        newHolderName: 'Mina Park',
      });
    }
  });
});

describe('named inputs', () => {
  it('keeps TitleCheckInput accepting the title view', () => {
    const call = { caseId: CASE, stepId: 'checkTitle', salt: SALT, view: titleView(application) };
    expect(TitleCheckInput.parse(call)).toEqual(call);
  });

  it('keeps UtilityPrecheckInput refusing a view with ID numbers', () => {
    const view = { ...utilityView(application), sellerIdNumber: application.seller.idNumber };
    const call = { caseId: CASE, stepId: 'precheck.gas', salt: SALT, view };
    expect(UtilityPrecheckInput.safeParse(call).success).toBe(false);
  });

  it('accepts an attempt number n', () => {
    const call = {
      caseId: CASE,
      stepId: 'checkTitle',
      salt: SALT,
      view: titleView(application),
      n: 3,
    };
    expect(TitleCheckInput.parse(call).n).toBe(3);
  });

  it.each([-1, 0, 1.5])('refuses the attempt number %s: a repeat is numbered from 1', (n) => {
    const call = {
      caseId: CASE,
      stepId: 'checkTitle',
      salt: SALT,
      view: titleView(application),
      n,
    };
    expect(TitleCheckInput.safeParse(call).success).toBe(false);
  });
});
