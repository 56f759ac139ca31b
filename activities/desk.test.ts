import { describe, expect, it } from 'vitest';
import { Decision } from '../domain/decisions.ts';
import { fromBase64 } from '../ledger/bytes.ts';
import { agencyKeyName, generateSigningKey } from '../ledger/keys.ts';
import { commitTo, verifyStatementSignature } from '../ledger/statement.ts';
import { createDeskActivities } from './desk.ts';
import { signDecision } from './sign.ts';

const CASE = '3f6c1b7e-1d2a-4c5b-9e8f-0a1b2c3d4e5f';
const registry = generateSigningKey(agencyKeyName('registry'));
// Free text an officer may well write: it names a person, so it must never reach the ledger.
const REASON = "buyer Jan Novák's ID card expired";

describe("the registry's desk", () => {
  const desk = createDeskActivities({ agency: 'registry', key: registry });
  const decide = () =>
    desk.decideStep({
      agency: 'registry',
      caseId: CASE,
      stepId: 'review',
      outcome: 'rejected',
      reason: `  ${REASON} `,
      actor: 'officer:registry:o-17',
    });

  it("signs facts that say who decided, as a role, and hold no reason and no officer's id", async () => {
    const decision = await decide();
    expect(decision.signed.statement.facts).toEqual({ decidedBy: 'officer' });
    const statement = JSON.stringify(decision.signed.statement);
    expect(statement).not.toContain('Novák');
    expect(statement).not.toContain('o-17');
  });

  it("returns the opening of the statement's commitment: the salt and the record with the reason", async () => {
    const decision = await decide();
    expect(Decision.parse(decision)).toEqual(decision);
    const { salt, record } = decision.opening!;
    expect(record).toEqual({ outcome: 'rejected', decidedBy: 'officer', reason: REASON });
    expect(commitTo(fromBase64(salt), record)).toBe(decision.signed.statement.commitment);
    expect(verifyStatementSignature(decision.signed, registry.publicKey)).toBe(true);
  });

  it('commits to a decision with no reason without one', async () => {
    const decision = await desk.decideStep({
      agency: 'registry',
      caseId: CASE,
      stepId: 'review',
      outcome: 'approved',
      actor: 'officer:registry:o-17',
    });
    const { salt, record } = decision.opening!;
    expect(record).toEqual({ outcome: 'approved', decidedBy: 'officer' });
    expect(commitTo(fromBase64(salt), record)).toBe(decision.signed.statement.commitment);
  });

  /** The registry's review, approved by `actor`. */
  const reviewBy = (actor: string) => ({
    agency: 'registry' as const,
    caseId: CASE,
    stepId: 'review',
    outcome: 'approved',
    actor,
  });

  it('refuses, for good, to sign for someone whose role does not decide steps', () => {
    expect(() => desk.decideStep(reviewBy('supervisor:s-1'))).toThrow(
      expect.objectContaining({
        type: 'DecisionRefused',
        nonRetryable: true,
        message: expect.stringMatching(/supervisor:s-1 may not decide a step/) as string,
      }),
    );
  });

  it('refuses, for good, a review a citizen would decide: an officer reviews, a citizen pays', () => {
    expect(() => desk.decideStep(reviewBy('citizen:c-1'))).toThrow(
      expect.objectContaining({
        type: 'DecisionRefused',
        nonRetryable: true,
        message: 'a citizen does not decide review',
      }),
    );
  });
});

describe('signDecision', () => {
  const sign = () =>
    signDecision({
      key: registry,
      agency: 'registry',
      caseId: CASE,
      stepId: 'review',
      outcome: 'approved',
      decidedBy: 'system',
      reason: 'title clear',
    });

  it('commits under a fresh salt each time, so two equal decisions do not link', () => {
    const [a, b] = [sign(), sign()];
    expect(a.opening.salt).not.toBe(b.opening.salt);
    expect(a.signed.statement.commitment).not.toBe(b.signed.statement.commitment);
  });

  it('does not open its commitment with another reason or another salt', () => {
    const { signed, opening } = sign();
    const other = { ...opening.record, reason: 'title not clear' };
    expect(commitTo(fromBase64(opening.salt), other)).not.toBe(signed.statement.commitment);
    const salt = new Uint8Array(32);
    expect(commitTo(salt, opening.record)).not.toBe(signed.statement.commitment);
  });
});
