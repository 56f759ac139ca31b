import { describe, expect, it } from 'vitest';
import { simulatedUtility } from './utility.ts';

const view = { unitId: 'U-CLEAN-1', address: '12 Harbour Lane, Apt 4B' };

describe('simulatedUtility', () => {
  it('reads the same meter in two separate systems', async () => {
    const [a, b] = [simulatedUtility('water'), simulatedUtility('water')];
    expect(await a.precheck(view)).toEqual(await b.precheck(view));
  });

  it('gives each utility its own account number', async () => {
    const electricity = await simulatedUtility('electricity').precheck(view);
    const gas = await simulatedUtility('gas').precheck(view);
    expect(electricity.accountNumber).toMatch(/^EL-\d{8}$/);
    expect(gas.accountNumber).toMatch(/^GA-\d{8}$/);
  });

  it('clears the inspection flag on precheck once the inspection is recorded', async () => {
    const gas = simulatedUtility('gas');
    const unit = { ...view, unitId: 'U-GAS-INSPECTION-1' };
    expect((await gas.precheck(unit)).safetyInspectionDue).toBe(true);
    const at = new Date('2026-12-05T10:00:00Z');
    const inspection = await gas.recordSafetyInspection('U-GAS-INSPECTION-1', at);
    expect(inspection).toMatchObject({
      unitId: 'U-GAS-INSPECTION-1',
      recordedAt: at.toISOString(),
    });
    expect((await gas.precheck(unit)).safetyInspectionDue).toBe(false);
    // Recorded once: a retried call gets the first record back.
    expect(await gas.recordSafetyInspection('U-GAS-INSPECTION-1', new Date())).toEqual(inspection);
  });

  it('changes the holder of a gas account once its inspection is recorded, not before', async () => {
    const gas = simulatedUtility('gas');
    const transfer = { ...view, unitId: 'U-GAS-INSPECTION-2', newHolderName: 'Chen Mei' };
    await expect(gas.transferAccount('case-a', transfer)).rejects.toThrow(
      /safety inspection is due/,
    );
    await gas.recordSafetyInspection('U-GAS-INSPECTION-2', new Date());
    expect(await gas.transferAccount('case-a', transfer)).toMatchObject({ holderChanged: true });
  });

  it('knows water arrears only at the water company', async () => {
    const unit = { ...view, unitId: 'U-WATER-ARREARS-1' };
    expect((await simulatedUtility('water').precheck(unit)).arrearsCents).toBe(18_650);
    expect((await simulatedUtility('gas').precheck(unit)).arrearsCents).toBe(0);
  });
});
