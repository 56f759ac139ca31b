import { describe, expect, it } from 'vitest';
import {
  durationMs,
  InvalidProcessError,
  jointTransferProcess,
  validateProcess,
} from './process.ts';

const step = (id: string, needs: string[] = [], extra: Record<string, unknown> = {}) => ({
  id,
  agency: 'registry',
  needs,
  kind: 'auto',
  activity: 'checkTitle',
  deadline: '1 day',
  ...extra,
});

describe('the process definition', () => {
  it('accepts the joint transfer for every choice of utilities', () => {
    // The workflow takes the graph unvalidated (its sandbox evaluates no zod), so every
    // graph it can be given is validated here, and must come back unchanged.
    const choices = [
      [],
      ['electricity'],
      ['water'],
      ['gas'],
      ['electricity', 'water'],
      ['electricity', 'gas'],
      ['water', 'gas'],
      ['electricity', 'water', 'gas'],
    ] as const;
    for (const utilities of choices) {
      const process = jointTransferProcess(utilities);
      expect(validateProcess(process)).toEqual(process);
      expect(process.steps.filter((s) => s.id.startsWith('precheck.'))).toHaveLength(
        utilities.length,
      );
    }
    expect(jointTransferProcess([]).steps.map((s) => s.id)).toContain('registerTransfer');
    expect(jointTransferProcess(['electricity', 'water', 'gas']).steps).toHaveLength(15);
  });

  it('has exactly one point of no return: the title registration', () => {
    expect(
      jointTransferProcess(['gas'])
        .steps.filter((s) => s.pointOfNoReturn)
        .map((s) => s.id),
    ).toEqual(['registerTransfer']);
  });

  it('rejects a compensation after the point of no return, which would never run', () => {
    const registration = step('register', [], { pointOfNoReturn: true });
    expect(() =>
      validateProcess({
        name: 'p',
        steps: [registration, step('transfer', ['register'], { compensation: 'releaseTitleLock' })],
      }),
    ).toThrow(
      /^step transfer names compensation releaseTitleLock, which never runs: nothing is undone after the point of no return register$/,
    );
    // Its own runs when it refuses (it may have acted): accepted.
    expect(
      validateProcess({ name: 'p', steps: [{ ...registration, compensation: 'releaseTitleLock' }] })
        .steps,
    ).toHaveLength(1);
  });

  it('rejects a step that may refuse the case unless the point of no return needs it', () => {
    // A review (approved or rejected) beside the registration could refuse after it.
    const review = step('review', [], { kind: 'human' });
    expect(() =>
      validateProcess({
        name: 'p',
        steps: [review, step('register', [], { pointOfNoReturn: true })],
      }),
    ).toThrow(/^step review may refuse the case, so the point of no return register must need it$/);
    expect(() =>
      validateProcess({
        name: 'p',
        steps: [
          step('register', [], { pointOfNoReturn: true }),
          { ...review, needs: ['register'] },
        ],
      }),
    ).toThrow(/^step review may refuse the case/);
    // Needed through another step, it is settled before: accepted.
    const accepted = {
      name: 'p',
      steps: [
        review,
        step('check', ['review']),
        step('register', ['check'], { pointOfNoReturn: true }),
      ],
    };
    expect(validateProcess(accepted).steps).toHaveLength(3);
  });

  it('rejects a graph with a cycle, naming the steps on it and not those after it', () => {
    expect(() =>
      validateProcess({ name: 'p', steps: [step('a', ['b']), step('b', ['a']), step('c')] }),
    ).toThrow(/steps a, b depend on each other in a cycle/);
    expect(() =>
      validateProcess({
        name: 'p',
        steps: [step('a', ['b']), step('b', ['a']), step('c', ['a']), step('d', ['c'])],
      }),
    ).toThrow(/^steps a, b depend on each other in a cycle$/);
  });

  it('rejects a dependency listed twice, naming it, rather than calling it a cycle', () => {
    expect(() => validateProcess({ name: 'p', steps: [step('a'), step('b', ['a', 'a'])] })).toThrow(
      /^step b needs a twice$/,
    );
  });

  it('rejects a condition on a step that is not needed, which could be read before it ran', () => {
    expect(() =>
      validateProcess({
        name: 'p',
        steps: [step('pre'), step('x', [], { when: { step: 'pre', fact: 'f' } })],
      }),
    ).toThrow(/step x runs when pre says so, so it must need pre/);
  });

  it('rejects an amount due taken from a step that is not needed', () => {
    expect(() =>
      validateProcess({
        name: 'p',
        steps: [
          step('assess'),
          step('confirmPayment', [], {
            kind: 'wait',
            agency: 'tax',
            activity: undefined,
            amountDue: { step: 'assess', result: 'totalCents' },
          }),
        ],
      }),
    ).toThrow(/step confirmPayment asks for an amount from assess, so it must need assess/);
  });

  it('rejects a waiting step no decision can close', () => {
    expect(() =>
      validateProcess({
        name: 'p',
        steps: [step('inspect', [], { kind: 'wait', agency: 'gas', activity: undefined })],
      }),
    ).toThrow(/wait step inspect waits for a decision no one can make/);
  });

  it('rejects an unknown agency', () => {
    expect(() =>
      validateProcess({ name: 'p', steps: [step('a', [], { agency: 'police' })] }),
    ).toThrow(/steps\.0\.agency/);
  });

  it('rejects a dependency on a step that does not exist', () => {
    expect(() => validateProcess({ name: 'p', steps: [step('a', ['ghost'])] })).toThrow(
      /step a needs ghost, which is not a step/,
    );
  });

  it('rejects a step declared twice and a second point of no return', () => {
    expect(() => validateProcess({ name: 'p', steps: [step('a'), step('a')] })).toThrow(
      /declared twice/,
    );
    expect(() =>
      validateProcess({
        name: 'p',
        steps: [step('a', [], { pointOfNoReturn: true }), step('b', [], { pointOfNoReturn: true })],
      }),
    ).toThrow(/at most one point of no return/);
  });

  it('rejects an activity or compensation its step’s agency does not run', () => {
    expect(() => validateProcess({ name: 'p', steps: [step('a', [], { agency: 'tax' })] })).toThrow(
      /^step a names activity checkTitle, which tax does not run$/,
    );
    expect(() =>
      validateProcess({ name: 'p', steps: [step('a', [], { compensation: 'refundTax' })] }),
    ).toThrow(/^step a names compensation refundTax, which registry does not run$/);
    expect(() =>
      validateProcess({ name: 'p', steps: [step('a', [], { activity: 'toString' })] }),
    ).toThrow(/^step a names activity toString, which registry does not run$/);
    // A utility's activity, run by a utility: accepted.
    const precheck = step('precheck.gas', [], { agency: 'gas', activity: 'precheck' });
    expect(validateProcess({ name: 'p', steps: [precheck] }).steps).toHaveLength(1);
  });

  it('rejects an automatic step of the orchestrator, which has no activities to run it', () => {
    expect(() =>
      validateProcess({
        name: 'p',
        steps: [step('close', [], { agency: 'orchestrator', activity: undefined })],
      }),
    ).toThrow(/^auto step close names no activity$/);
  });

  it('rejects a waiting step that another agency, or none, decides', () => {
    const waiting = (id: string, agency: string, kind = 'wait') =>
      validateProcess({ name: 'p', steps: [step(id, [], { kind, agency, activity: undefined })] });
    expect(() => waiting('review', 'tax', 'human')).toThrow(
      /^human step review belongs to tax, but registry decides it$/,
    );
    expect(() => waiting('settleArrears.water', 'gas')).toThrow(
      /^wait step settleArrears.water belongs to gas, but water decides it$/,
    );
    expect(() => waiting('review.second', 'registry', 'human')).toThrow(
      /^human step review.second belongs to registry, but no agency decides it$/,
    );
    expect(waiting('settleArrears.water', 'water').steps).toHaveLength(1);
  });

  it('rejects a point of no return that is not an automatic step', () => {
    const payment = step('confirmPayment', [], {
      kind: 'wait',
      agency: 'tax',
      activity: undefined,
      pointOfNoReturn: true,
    });
    expect(() => validateProcess({ name: 'p', steps: [payment] })).toThrow(
      /^the point of no return confirmPayment must be an auto step with an activity, not a wait step$/,
    );
  });

  it('rejects a final limit shorter than the deadline, which would expire a step not yet overdue', () => {
    const payment = (finalLimit: string) =>
      validateProcess({
        name: 'p',
        steps: [
          step('confirmPayment', [], {
            kind: 'wait',
            agency: 'tax',
            activity: undefined,
            deadline: '7 days',
            finalLimit,
          }),
        ],
      });
    expect(() => payment('2 days')).toThrow(
      /^step confirmPayment has a final limit of 2 days, shorter than its deadline of 7 days$/,
    );
    expect(payment('168 hours').steps).toHaveLength(1);
  });

  it('rejects a duration of more than five digits, which no timer could wait for', () => {
    for (const deadline of ['999999 days', `${'9'.repeat(400)} ms`])
      expect(() => validateProcess({ name: 'p', steps: [step('a', [], { deadline })] })).toThrow(
        /^process: steps\.0\.deadline: must be like "30 seconds" or "2 days", with at most 5 digits$/,
      );
    expect(
      validateProcess({ name: 'p', steps: [step('a', [], { deadline: '99999 days' })] }).steps,
    ).toHaveLength(1);
  });

  it('rejects a step named after an Object.prototype member as any unknown step, not with a TypeError', () => {
    for (const id of ['constructor', 'toString', 'hasOwnProperty'])
      expect(() =>
        validateProcess({
          name: 'p',
          steps: [
            step(id, [], { kind: 'human', activity: undefined }),
            step('register', [id], { pointOfNoReturn: true }),
          ],
        }),
      ).toThrow(
        new InvalidProcessError(
          `human step ${id} waits for a decision no one can make: no outcomes are defined for it`,
        ),
      );
  });

  it('reads durations in the law’s units', () => {
    expect(durationMs('7 days')).toBe(7 * 86_400_000);
    expect(durationMs('30 seconds')).toBe(30_000);
    expect(() => durationMs('a week')).toThrow(/not a duration/);
  });
});
