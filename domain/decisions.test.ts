import { describe, expect, it } from 'vitest';
import { jointTransferProcess } from './processGraph.ts';
import { decidingAgency } from './decisions.ts';
import { UTILITIES } from './agencyIds.ts';

describe('decidingAgency', () => {
  it('names the owning agency of every step a person decides in the process, and of no automatic step', () => {
    for (const step of jointTransferProcess(UTILITIES).steps)
      expect([step.id, decidingAgency(step.id)]).toEqual([
        step.id,
        step.kind === 'auto' ? undefined : step.agency,
      ]);
  });

  it.each([
    'review.x',
    'review.registry',
    'confirmPayment.tax',
    'settleArrears.water.2',
    'settleArrears',
    'settleArrears.oil',
  ])('names no agency for %s, which is no step of the process', (stepId) => {
    expect(decidingAgency(stepId)).toBeUndefined();
  });
});
