// The benchmarks in smoke mode against the integration run's Temporal server and PostgreSQL:
// each must produce every figure. Benchmarks are never timed tests, so nothing here checks a
// target.
import { describe, expect, inject, it } from 'vitest';
import { runApiBench, SMOKE as API_SMOKE, type RouteFigures } from '../../bench/api.ts';
import { runCasesBench, SMOKE as CASES_SMOKE } from '../../bench/cases.ts';
import { runLoadBench, SMOKE as LOAD_SMOKE } from '../../bench/load.ts';
import { runLedgerBench, SMOKE } from '../../bench/ledger.ts';

describe('the ledger benchmark', () => {
  it('produces positive, finite figures in smoke mode on a scratch database', async () => {
    const lines: string[] = [];
    const figures = await runLedgerBench(
      { ...SMOKE, adminUrl: inject('adminDatabaseUrl') },
      (line) => lines.push(line),
    );
    for (const [name, value] of Object.entries(figures)) {
      expect(Number.isFinite(value) && value > 0, `${name} = ${value}`).toBe(true);
    }
    expect(figures.auditPerSec).toBeDefined();
    expect(figures.auditLivePerSec).toBeDefined();
    expect(figures.logSize).toBeGreaterThanOrEqual(SMOKE.entries);
    expect(lines.join('\n')).toMatch(/appends\/s [\d,]+ +\| limit min\(verify/);
    // Both audits, each of which fails the run when it has findings (runLedgerBench throws).
    expect(lines.join('\n')).toMatch(/audit of an exported copy [\d,]+ entries\/s \(ok\)/);
    expect(lines.join('\n')).toMatch(/audit reading the live store [\d,]+ entries\/s \(ok\)/);
  });
});

describe('the cases benchmark', () => {
  it('produces positive, finite figures in smoke mode on the shared Temporal server', async () => {
    const lines: string[] = [];
    // A scratch database on the shared server (dropped afterwards); roles are left alone.
    const figures = await runCasesBench(
      {
        ...CASES_SMOKE,
        temporalAddress: inject('temporalAddress'),
        adminUrl: inject('adminDatabaseUrl'),
      },
      (line) => lines.push(line),
    );
    const output = lines.join('\n');
    for (const [name, value] of Object.entries(figures)) {
      expect(Number.isFinite(value) && value > 0, `${name} = ${value}\n${output}`).toBe(true);
    }
    expect(figures.p50Ms).toBeLessThanOrEqual(figures.p95Ms);
    expect(figures.baselineP50Ms).toBeLessThanOrEqual(figures.baselineP95Ms);

    // The summary: cases/s and baseline/s to 0.1, the ratio to 0.01. The ratio must be the
    // quotient of the two rates, within what their rounding allows.
    const summary = /^cases\/s ([\d.]+) +\| baseline ([\d.]+)\/s \| ratio ([\d.]+) /m.exec(output);
    expect(summary, output).not.toBeNull();
    const [casesPerSec, baselinePerSec, printedRatio] = summary!.slice(1).map(Number) as [
      number,
      number,
      number,
    ];
    expect(casesPerSec).toBe(Number(figures.casesPerSec.toFixed(1)));
    expect(baselinePerSec).toBe(Number(figures.baselinePerSec.toFixed(1)));
    expect(printedRatio).toBe(Number((figures.casesPerSec / figures.baselinePerSec).toFixed(2)));
    expect(printedRatio).toBeGreaterThanOrEqual(
      (casesPerSec - 0.05) / (baselinePerSec + 0.05) - 0.005,
    );
    expect(printedRatio).toBeLessThanOrEqual(
      (casesPerSec + 0.05) / (baselinePerSec - 0.05) + 0.005,
    );

    // Each phase's line: p50 <= p95 as printed (ms() prints "1.23 ms" or "123.4 ms").
    for (const phase of ['1. baseline', '2. cases   ']) {
      const line = new RegExp(
        `^${phase.replace('.', '\\.')} cases/s [\\d.]+  latency p50 ([\\d.]+) ms  p95 ([\\d.]+) ms`,
        'm',
      ).exec(output);
      expect(line, `${phase}\n${output}`).not.toBeNull();
      expect(Number(line![1])).toBeLessThanOrEqual(Number(line![2]));
    }

    // Every case of the run, warm-up included, completed with its 13 ledger entries and replayed.
    const runCases = CASES_SMOKE.warmup + CASES_SMOKE.cases;
    expect(output).toContain(
      `every case completed, none overdue; ${13 * runCases} signed ledger entries`,
    );
    expect(output).toContain(`replayed all ${runCases} histories of this phase: no nondeterminism`);
    expect(output).toMatch(
      new RegExp(
        `workflow tasks failed / timed out: cases \\d+ / \\d+ in ${runCases} histories, baseline \\d+ / \\d+ in ${runCases}`,
      ),
    );
  });
});

describe('the API benchmark', () => {
  it('produces positive, finite figures in smoke mode with the load from a child process', async () => {
    const lines: string[] = [];
    const { timelineEntries, timelineRatio, ...routes } = await runApiBench(
      {
        ...API_SMOKE,
        temporalAddress: inject('temporalAddress'),
        adminUrl: inject('adminDatabaseUrl'),
      },
      (line) => lines.push(line),
    );
    const positive = (name: string, value: number) =>
      expect(Number.isFinite(value) && value > 0, `${name} = ${value}`).toBe(true);
    for (const [route, figures] of Object.entries<RouteFigures>(routes)) {
      const { failed, ...measured } = figures;
      for (const [name, value] of Object.entries(measured)) positive(`${route}.${name}`, value);
      expect(failed, `${route}: requests failed\n${lines.join('\n')}`).toBe(0);
    }
    positive('timelineRatio', timelineRatio);
    expect(timelineEntries).toBeGreaterThanOrEqual(API_SMOKE.entries);
    expect(lines.join('\n')).toMatch(
      /timeline p99 at \d+ req\/s ≤ 50 ms \(case with \d+ entries\): (met|missed)/,
    );
  }, 300_000);
});

describe('the load benchmark', () => {
  it('produces positive, finite figures in smoke mode on its own system of processes, and loses nothing', async () => {
    const lines: string[] = [];
    // Its own PostgreSQL and Temporal dev server (the system as deployed, one process each).
    const { peakMemoryMiB, cpuSec, lostOrDuplicated, ...figures } = await runLoadBench(
      LOAD_SMOKE,
      (line) => lines.push(line),
    );
    for (const [name, value] of Object.entries({ ...figures, ...peakMemoryMiB }))
      expect(Number.isFinite(value) && value > 0, `${name} = ${value}\n${lines.join('\n')}`).toBe(
        true,
      );
    for (const [name, value] of Object.entries(cpuSec))
      expect(Number.isFinite(value) && value >= 0, `CPU ${name} = ${value}`).toBe(true);
    expect(Object.keys(peakMemoryMiB)).toEqual(
      expect.arrayContaining(['api', 'orchestrator', 'tax', 'temporal', 'postgres']),
    );
    expect(figures.completed).toBe(LOAD_SMOKE.cases);
    expect(figures.submitted).toBe(LOAD_SMOKE.cases);
    expect(lostOrDuplicated).toBe(0);
    expect(lines.join('\n')).toMatch(/nothing lost +yes/);
  }, 300_000);
});
