// Per-agency activities. Each agency's worker registers only its own, holds only its own
// key, and signs every result it produces.
import type { Utility } from '../domain/agency.ts';
import { TitleCheckInput, UtilityPrecheckInput } from '../domain/views.ts';
import type { RegistrySystem, TitleRecord } from '../agencies/registry.ts';
import type { UtilityPrecheck, UtilitySystem } from '../agencies/utility.ts';
import type { SigningKey } from '../ledger/keys.ts';
import { signStep, type StepResult } from './sign.ts';

export function createRegistryActivities(deps: { key: SigningKey; system: RegistrySystem }) {
  return {
    async checkTitle(input: TitleCheckInput): Promise<StepResult<TitleRecord>> {
      const { caseId, stepId, salt, view } = TitleCheckInput.parse(input);
      const record = await deps.system.checkTitle(view);
      const clear = record.ownerMatches && !record.seizure && !record.objection;
      return signStep({
        key: deps.key,
        agency: 'registry',
        caseId,
        stepId,
        salt,
        outcome: clear ? 'passed' : 'rejected',
        result: record,
        facts: {
          ownerMatches: record.ownerMatches,
          mortgage: record.mortgage,
          seizure: record.seizure,
          objection: record.objection,
        },
      });
    },
  };
}

export function createUtilityActivities(deps: {
  agency: Utility;
  key: SigningKey;
  system: UtilitySystem;
}) {
  return {
    async precheck(input: UtilityPrecheckInput): Promise<StepResult<UtilityPrecheck>> {
      const { caseId, stepId, salt, view } = UtilityPrecheckInput.parse(input);
      const check = await deps.system.precheck(view);
      return signStep({
        key: deps.key,
        agency: deps.agency,
        caseId,
        stepId,
        salt,
        outcome: check.accountExists ? 'passed' : 'rejected',
        result: check,
        facts: { accountExists: check.accountExists, hasArrears: check.arrearsCents > 0 },
      });
    },
  };
}

export type RegistryActivities = ReturnType<typeof createRegistryActivities>;
export type UtilityActivities = ReturnType<typeof createUtilityActivities>;
