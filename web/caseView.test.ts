// What the line under a case's entries says: the counts, and whether the page still checks
// for a checkpoint that holds the pending ones (it stops after 20 tries 1.5 s apart).
import { describe, expect, test } from 'vitest';
import { entriesSummary, notVerifiedSummary } from './caseView.ts';
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
