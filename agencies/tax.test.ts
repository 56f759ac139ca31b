import { describe, expect, it } from 'vitest';
import { assessDuties, simulatedTax, totalOf, wholeYearsBetween, type DutyBasis } from './tax.ts';

// Price 1,000,000.00 (100,000,000 cents): each basis point is 10,000 cents.
const basis: DutyBasis = { priceCents: 100_000_000, areaSqm: 84.5, heldYears: 3, firstHome: true };
const rateOf = (b: DutyBasis, tax: string) =>
  assessDuties(b).find((item) => item.tax === tax)!.rateBasisPoints;

describe('assessDuties: deed tax', () => {
  it.each([
    [90, 100],
    [90.01, 150],
    [144, 150],
    [144.01, 300],
  ])('charges a first home of %s m² %s basis points', (areaSqm, rate) => {
    expect(rateOf({ ...basis, areaSqm }, 'deedTax')).toBe(rate);
  });

  it('charges a buyer who owns another home the standard 3% at any size', () => {
    expect(rateOf({ ...basis, areaSqm: 60, firstHome: false }, 'deedTax')).toBe(300);
  });

  it('is paid by the buyer on the price', () => {
    const deed = assessDuties(basis)[0]!;
    expect([deed.payer, deed.baseCents, deed.amountCents]).toEqual([
      'buyer',
      100_000_000,
      1_000_000,
    ]);
  });
});

describe('assessDuties: seller duties by holding period', () => {
  it.each([
    [0, 500, 100],
    [1, 500, 100],
    [2, 0, 100],
    [4, 0, 100],
    [5, 0, 0],
    [20, 0, 0],
  ])('held %s years: VAT %s and income tax %s basis points', (heldYears, vat, income) => {
    expect(rateOf({ ...basis, heldYears }, 'valueAddedTax')).toBe(vat);
    expect(rateOf({ ...basis, heldYears }, 'incomeTax')).toBe(income);
  });
});

describe('assessDuties: arithmetic', () => {
  it('rounds each duty half up to whole cents', () => {
    // 1.5% of 333 cents is 4.995 cents.
    const deed = assessDuties({ ...basis, priceCents: 333, areaSqm: 100 })[0]!;
    expect(deed.amountCents).toBe(5);
  });

  it('totals the items', () => {
    const items = assessDuties({ ...basis, heldYears: 1 });
    expect(totalOf(items)).toBe(1_000_000 + 5_000_000 + 1_000_000);
  });

  it.each([
    [{ priceCents: -1 }, /priceCents/],
    [{ priceCents: 1.5 }, /priceCents/],
    [{ areaSqm: 0 }, /areaSqm/],
    [{ heldYears: 2.5 }, /heldYears/],
  ])('refuses %o', (mutation, message) => {
    expect(() => assessDuties({ ...basis, ...mutation })).toThrow(message);
  });
});

describe('wholeYearsBetween', () => {
  it.each([
    ['2021-03-02', '2026-03-02', 5],
    ['2021-03-03', '2026-03-02', 4],
    ['2011-04-20', '2026-03-02', 14],
    ['2026-03-02', '2026-03-02', 0],
  ])('counts %s to %s as %s years', (from, to, years) => {
    expect(wholeYearsBetween(from, to)).toBe(years);
  });
});

describe('simulatedTax', () => {
  const view = {
    unitId: 'U-LONG-HELD-1',
    priceCents: 42_500_000,
    areaSqm: 84.5,
    buyerIdNumber: 'B1234567',
    sellerIdNumber: 'S7654321',
  };
  const CASE = '3f6c1b7e-1d2a-4c5b-9e8f-0a1b2c3d4e5f';

  it('keeps the first assessment of a case when retried on a later day', async () => {
    const tax = simulatedTax();
    const first = await tax.assess(CASE, view, new Date('2026-03-02T09:00:00Z'));
    const retry = await tax.assess(CASE, view, new Date('2026-03-09T09:00:00Z'));
    expect(retry).toEqual(first);
  });

  it('does not answer the first calls of a case during an outage, then assesses it', async () => {
    const tax = simulatedTax();
    const outage = { ...view, unitId: 'U-TAX-OUTAGE-1' };
    const on = new Date('2026-03-02T09:00:00Z');
    for (let call = 1; call <= 4; call++)
      await expect(tax.assess(CASE, outage, on)).rejects.toThrow('the tax system is not answering');
    await expect(tax.assess(CASE, outage, on)).resolves.toMatchObject({ unitId: 'U-TAX-OUTAGE-1' });
  });

  it('assesses on the registered area where it has one', async () => {
    const assessment = await simulatedTax().assess(
      CASE,
      { ...view, unitId: 'U-LARGE-1' },
      new Date('2026-03-02T09:00:00Z'),
    );
    expect([assessment.areaSqm, assessment.areaSource]).toEqual([168.4, 'registered']);
  });

  it('refunds a case once, at the first amount, however often it is asked', async () => {
    const tax = simulatedTax();
    const refund = { unitId: 'U-CLEAN-1', assessmentId: `TA-${CASE}`, amountCents: 850_000 };
    const first = await tax.refund(CASE, refund);
    const retry = await tax.refund(CASE, { ...refund, amountCents: 999 });
    expect(retry).toEqual(first);
    expect(first.refundedCents).toBe(850_000);
  });
});
