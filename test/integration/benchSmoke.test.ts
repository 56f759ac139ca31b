// The benchmarks in smoke mode against the integration run's Temporal server and PostgreSQL:
// each must produce every figure. Benchmarks are never timed tests, so nothing here checks a
// target.
import { describe, expect, inject, it } from 'vitest';
import { runCasesBench, SMOKE as CASES_SMOKE } from '../../bench/cases.ts';
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
    expect(figures.logSize).toBeGreaterThanOrEqual(SMOKE.entries);
    expect(lines.join('\n')).toMatch(/appends\/s [\d,]+ +\| limit min\(verify/);
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
    for (const [name, value] of Object.entries(figures)) {
      expect(Number.isFinite(value) && value > 0, `${name} = ${value}`).toBe(true);
    }
    expect(lines.join('\n')).toMatch(/cases\/s [\d.]+ +\| baseline [\d.]+\/s \| ratio/);
  });
});
