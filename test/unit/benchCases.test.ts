// The cases benchmark's plan: which phase runs when, and how many cases each run takes.
import { describe, expect, it } from 'vitest';
import { interleaved, optionsFromArgs } from '../../bench/cases.ts';

const plan = (cases: number, rounds: number) =>
  interleaved(cases, rounds).map((run) => `${run.phase}:${run.cases}`);

describe('the cases benchmark interleaves its phases', () => {
  it('runs two rounds as baseline, cases, cases, baseline', () => {
    expect(plan(300, 2)).toEqual(['baseline:150', 'cases:150', 'cases:150', 'baseline:150']);
  });

  it('alternates which phase goes first in each round and spreads a remainder over the first rounds', () => {
    expect(plan(10, 4)).toEqual([
      'baseline:3',
      'cases:3',
      'cases:3',
      'baseline:3',
      'baseline:2',
      'cases:2',
      'cases:2',
      'baseline:2',
    ]);
  });

  it('refuses an odd number of rounds, whose last pair no order can balance', () => {
    expect(() => interleaved(10, 3)).toThrow(RangeError);
  });

  it('gives each phase exactly the timed cases asked for, and drops empty runs', () => {
    for (const [cases, rounds] of [
      [300, 2],
      [7, 4],
      [2, 6],
    ] as const) {
      const runs = interleaved(cases, rounds);
      for (const phase of ['baseline', 'cases'])
        expect(
          runs.filter((run) => run.phase === phase).reduce((sum, run) => sum + run.cases, 0),
        ).toBe(cases);
      expect(runs.every((run) => run.cases > 0)).toBe(true);
    }
  });

  it('takes --rounds from the command line and refuses zero', () => {
    expect(optionsFromArgs(['--rounds', '4'], {}).rounds).toBe(4);
    expect(optionsFromArgs([], {}).rounds).toBe(2);
    expect(() => optionsFromArgs(['--rounds', '0'], {})).toThrow(
      '--rounds must be an integer >= 1',
    );
  });

  it('refuses an odd --rounds (or BENCH_ROUNDS) with a usage error', () => {
    expect(() => optionsFromArgs(['--rounds', '3'], {})).toThrow('--rounds must be even');
    expect(() => optionsFromArgs([], { BENCH_ROUNDS: '1' })).toThrow('--rounds must be even');
  });

  it("gives a smoke run a case timeout well inside the integration tests' 120 s", () => {
    expect(optionsFromArgs(['--smoke'], {}).caseTimeoutMs).toBeLessThanOrEqual(60_000);
    expect(optionsFromArgs([], {}).caseTimeoutMs).toBe(180_000);
  });

  it('bundles both workflows without stack traces unless --stack-traces (or BENCH_STACK_TRACES=1)', () => {
    expect(optionsFromArgs([], {}).stackTraces).toBe(false);
    expect(optionsFromArgs(['--stack-traces'], {}).stackTraces).toBe(true);
    expect(optionsFromArgs([], { BENCH_STACK_TRACES: '1' }).stackTraces).toBe(true);
  });
});
