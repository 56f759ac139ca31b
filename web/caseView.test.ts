// What a case's page says in words: the line under its entries (the counts, and whether the
// page still checks for a checkpoint that holds the pending ones: it stops after 20 tries 1.5 s
// apart), and why a case shows no steps.
import { describe, expect, test } from 'vitest';
import { entriesSummary, noStepsNote, notVerifiedSummary } from './caseView.ts';
import type { EntryStatus, EntryVerdict } from './verify.ts';

const verdict = (index: number, status: EntryStatus): EntryVerdict => ({
  index,
  status,
  checks: [],
  summary: '',
});

describe('the entries summary', () => {
  test('counts the entries verified in this browser, and says nothing of waiting when none waits', () => {
    const all = [verdict(0, 'verified'), verdict(1, 'verified')];
    expect(entriesSummary(all, true)).toBe('2 of 2 entries verified in this browser.');
    expect(entriesSummary(all, false)).toBe('2 of 2 entries verified in this browser.');
  });

  test('says the pending entries are checked again while the page still checks', () => {
    const some = [verdict(0, 'verified'), verdict(1, 'failed'), verdict(2, 'pending')];
    expect(entriesSummary(some, true)).toBe(
      '1 of 3 entries verified in this browser; 1 FAILED; 1 not yet in a published checkpoint (checking again shortly).',
    );
  });

  test('says the page stopped checking once it has, not that it checks again', () => {
    const text = entriesSummary([verdict(0, 'pending')], false);
    expect(text).toBe(
      '0 of 1 entries verified in this browser; 1 not yet in a published checkpoint (stopped checking after 30 s; open the case again to check again).',
    );
  });
});

describe('the line when nothing could be verified', () => {
  test('says why, and nothing of waiting when there is nothing to wait for', () => {
    expect(
      notVerifiedSummary('the trusted keys could not be read: no route GET /ledger/trust'),
    ).toBe('Not verified: the trusted keys could not be read: no route GET /ledger/trust.');
  });

  test('says whether the page still waits for a checkpoint, or stopped', () => {
    const reason =
      'the entries could not be checked against a checkpoint: the log has no published checkpoint yet';
    expect(notVerifiedSummary(reason, true)).toBe(
      `Not verified: ${reason}; checking again shortly.`,
    );
    expect(notVerifiedSummary(reason, false)).toBe(
      `Not verified: ${reason}; stopped checking after 30 s; open the case again to check again.`,
    );
  });
});

describe('the note when a case shows no steps', () => {
  test('says plainly when the case was erased, and is no warning', () => {
    expect(noStepsNote('ERASED', '2026-03-01T10:00:00.000Z')).toEqual({
      text: 'This case was erased on 2026-03-01 10:00 UTC: its steps went with its personal data. The signed ledger entries still show what each agency did.',
      warning: false,
    });
  });

  test('says the history is no longer kept once Temporal deleted it, and is no warning', () => {
    expect(noStepsNote('HISTORY_DELETED', null)).toEqual({
      text: 'The history of this case is no longer kept (it is deleted a while after a case closes): its steps are gone. The signed ledger entries still show what each agency did.',
      warning: false,
    });
  });

  test('warns that the workflow did not report its steps otherwise', () => {
    expect(noStepsNote('RUNNING', null)).toEqual({
      text: 'The workflow did not report its steps (workflow status: RUNNING). The signed ledger entries still show what each agency did.',
      warning: true,
    });
  });
});
