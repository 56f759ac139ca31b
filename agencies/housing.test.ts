import { describe, expect, it } from 'vitest';
import { contractIsValid, simulatedHousing } from './housing.ts';

const A = '3f6c1b7e-1d2a-4c5b-9e8f-0a1b2c3d4e5f';
const B = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const contract = {
  unitId: 'U-PRICE-MISMATCH-1',
  contractFilingNumber: 'HF-2026-00042',
  buyerIdNumber: 'B1234567',
  sellerIdNumber: 'S7654321',
};
const filing = { unitId: contract.unitId, contractFilingNumber: contract.contractFilingNumber };
// The filing on record for U-PRICE-MISMATCH-1 says 31,000,000 cents.
const mistyped = { ...contract, priceCents: 42_500_000 };
const corrected = { ...contract, priceCents: 31_000_000 };

describe('simulatedHousing', () => {
  it("leaves a filing active when a case's check of it failed, so a corrected application passes", async () => {
    const housing = simulatedHousing();
    expect(await housing.verifyContract(A, mistyped)).toMatchObject({ priceMatches: false });
    expect(await housing.cancelFiling(A, filing)).toMatchObject({ cancelled: false });
    expect(await housing.verifyContract(B, corrected)).toMatchObject({
      priceMatches: true,
      filingStatus: 'active',
    });
  });

  it('withdraws the filing a passing check held for the case, once, and for that case only', async () => {
    const housing = simulatedHousing();
    await housing.verifyContract(A, corrected);
    expect(await housing.cancelFiling(B, filing)).toMatchObject({ cancelled: false });
    expect(await housing.verifyContract(B, corrected)).toMatchObject({ filingStatus: 'active' });
    expect(await housing.cancelFiling(A, filing)).toMatchObject({ cancelled: true });
    expect(await housing.cancelFiling(A, filing)).toMatchObject({ cancelled: true });
    expect(await housing.cancelFiling(B, filing)).toMatchObject({ cancelled: false });
    expect(await housing.verifyContract(B, corrected)).toMatchObject({
      filingStatus: 'cancelled',
    });
  });

  it("refuses a filing another case's passing check holds, and gives the holder the same answer again", async () => {
    const housing = simulatedHousing();
    const clean = { ...corrected, unitId: 'U-1' };
    const first = await housing.verifyContract(A, clean);
    expect(contractIsValid(first)).toBe(true);
    const other = await housing.verifyContract(B, clean);
    expect(contractIsValid(other)).toBe(false);
    expect(other).toMatchObject({ heldByAnotherCase: true });
    // A retry, or a repeat of the step, by the holder.
    expect(await housing.verifyContract(A, clean)).toEqual(first);
  });

  it('compares a later check of a filing with the parties and price its first passing check put on record', async () => {
    const housing = simulatedHousing();
    const clean = { ...corrected, unitId: 'U-1' };
    await housing.verifyContract(A, clean);
    const otherTerms = { ...clean, buyerIdNumber: 'Q1111111', priceCents: 1_000_000 };
    expect(await housing.verifyContract(B, otherTerms)).toMatchObject({
      filingNumberMatches: true,
      partiesMatch: false,
      priceMatches: false,
    });
  });

  it('ties a filing number to no unit when the check declaring it fails', async () => {
    const housing = simulatedHousing();
    // U-PRICE-MISMATCH-1's case mistyped U-2's filing number, and its check failed.
    expect(contractIsValid(await housing.verifyContract(A, mistyped))).toBe(false);
    const unitB = { ...corrected, unitId: 'U-2' };
    expect(contractIsValid(await housing.verifyContract(B, unitB))).toBe(true);
  });

  it('ties a filing number to no unit when a case cancels it', async () => {
    const housing = simulatedHousing();
    await housing.cancelFiling(A, {
      unitId: 'U-1',
      contractFilingNumber: filing.contractFilingNumber,
    });
    const unitB = { ...corrected, unitId: 'U-2' };
    expect(contractIsValid(await housing.verifyContract(B, unitB))).toBe(true);
  });

  it('cancels nothing for a filing number the unit does not have on record, even one the case holds', async () => {
    const housing = simulatedHousing();
    // A's passing check holds HF-2026-00042 for U-1: only the unit tells the cancel below apart.
    const onU1 = { ...corrected, unitId: 'U-1' };
    expect(contractIsValid(await housing.verifyContract(A, onU1))).toBe(true);
    // U-FILING-MISMATCH-1's filing on record is HF-2025-09981, not the held HF-2026-00042.
    const other = { unitId: 'U-FILING-MISMATCH-1', contractFilingNumber: 'HF-2026-00042' };
    expect(await housing.cancelFiling(A, other)).toMatchObject({ cancelled: false });
    // The filing stayed active and held: A's retry of its check passes again, and cancelling
    // it for its own unit withdraws it.
    expect(await housing.verifyContract(A, onU1)).toMatchObject({ filingStatus: 'active' });
    const ofU1 = { unitId: 'U-1', contractFilingNumber: 'HF-2026-00042' };
    expect(await housing.cancelFiling(A, ofU1)).toMatchObject({ cancelled: true });
  });

  it("does not match another unit's filing number, so that unit's case neither takes its hold nor cancels it", async () => {
    const housing = simulatedHousing();
    const unitA = { ...contract, unitId: 'U-1', priceCents: 42_500_000 };
    const unitB = { ...unitA, unitId: 'U-2' };
    expect(await housing.verifyContract(A, unitA)).toMatchObject({ filingNumberMatches: true });
    expect(await housing.verifyContract(B, unitB)).toMatchObject({ filingNumberMatches: false });
    const filingOfB = { unitId: 'U-2', contractFilingNumber: contract.contractFilingNumber };
    expect(await housing.cancelFiling(B, filingOfB)).toMatchObject({ cancelled: false });
    // Still A's to withdraw.
    const filingOfA = { unitId: 'U-1', contractFilingNumber: contract.contractFilingNumber };
    expect(await housing.cancelFiling(A, filingOfA)).toMatchObject({ cancelled: true });
  });

  it("knows a fixture's filing number as that unit's", async () => {
    const housing = simulatedHousing();
    const declared = { ...corrected, unitId: 'U-3', contractFilingNumber: 'HF-2025-09981' };
    expect(await housing.verifyContract(A, declared)).toMatchObject({ filingNumberMatches: false });
  });
});
