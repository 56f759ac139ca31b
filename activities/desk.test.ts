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
/** The registry's review of CASE: the step the registry decides here, and signs. */
const REVIEW = { agency: 'registry', caseId: CASE, stepId: 'review' } as const;

describe("the registry's desk", () => {
  const desk = createDeskActivities({ agency: 'registry', key: registry });
  const decide = () =>
    desk.decideStep({
      ...REVIEW,
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
      ...REVIEW,
      outcome: 'approved',
      actor: 'officer:registry:o-17',
    });
    const { salt, record } = decision.opening!;
    expect(record).toEqual({ outcome: 'approved', decidedBy: 'officer' });
    expect(commitTo(fromBase64(salt), record)).toBe(decision.signed.statement.commitment);
  });

  /** The registry's review, approved by `actor`. */
  const reviewBy = (actor: string) => ({ ...REVIEW, outcome: 'approved', actor });

  it('refuses, for good, to sign for someone whose role does not decide steps', () => {
    expect(() => desk.decideStep(reviewBy('supervisor:s-1'))).toThrow(
      expect.objectContaining({
        type: 'DecisionRefused',
        nonRetryable: true,
        message: expect.stringMatching(/supervisor:s-1 may not decide a step/) as string,
      }),
    );
  });

  it("refuses, for good, a review another agency's officer would approve", () => {
    expect(() => desk.decideStep(reviewBy('officer:tax:o-3'))).toThrow(
      expect.objectContaining({
        type: 'DecisionRefused',
        nonRetryable: true,
        message: 'actor: officer:tax:o-3 is not an officer of registry',
      }),
    );
  });

  it.each(['review.x', 'review.registry', 'reviewed', 'checkTitle', 'confirmPayment'])(
    'refuses, for good, to sign for step %s: it decides exactly review',
    (stepId) => {
      expect(() => desk.decideStep({ ...reviewBy('officer:registry:o-17'), stepId })).toThrow(
        expect.objectContaining({
          type: 'DecisionRefused',
          nonRetryable: true,
          message: `stepId: registry does not decide step ${stepId} (only review)`,
        }),
      );
    },
  );

  it.each([
    ['caseId', { caseId: 'Case 1/review' }],
    ['stepId', { stepId: 'review/2' }],
  ])('refuses, for good, a %s that is not one as statements take it', (field, bad) => {
    expect(() => desk.decideStep({ ...reviewBy('officer:registry:o-17'), ...bad })).toThrow(
      expect.objectContaining({
        type: 'DecisionRefused',
        nonRetryable: true,
        message: expect.stringMatching(
          new RegExp(`^decideStep: invalid input: ${field}: `),
        ) as string,
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

describe("a utility's and the tax office's desks", () => {
  const water = createDeskActivities({
    agency: 'water',
    key: generateSigningKey(agencyKeyName('water')),
  });
  const tax = createDeskActivities({
    agency: 'tax',
    key: generateSigningKey(agencyKeyName('tax')),
  });
  const payment = (agency: 'water' | 'tax', stepId: string, outcome: string) => ({
    agency,
    caseId: CASE,
    stepId,
    outcome,
    actor: 'citizen:c-1',
  });

  it('sign the payment steps of their own: settleArrears.<utility> and confirmPayment', async () => {
    const settled = await water.decideStep(payment('water', 'settleArrears.water', 'settled'));
    expect(settled.signed.statement.statementId).toBe(`${CASE}/settleArrears.water`);
    const paid = await tax.decideStep(payment('tax', 'confirmPayment', 'paid'));
    expect(paid.signed.statement.statementId).toBe(`${CASE}/confirmPayment`);
  });

  it.each([
    ['settleArrears.water.2', 'settled'],
    ['settleArrears.gas', 'settled'],
    ['settleArrears', 'settled'],
  ])("refuse, for good, to sign the water company's answer for step %s", (stepId, outcome) => {
    expect(() => water.decideStep(payment('water', stepId, outcome))).toThrow(
      expect.objectContaining({
        type: 'DecisionRefused',
        nonRetryable: true,
        message: `stepId: water does not decide step ${stepId} (only settleArrears.water)`,
      }),
    );
  });
});

describe('signDecision', () => {
  const sign = () =>
    signDecision({
      key: registry,
      ...REVIEW,
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
