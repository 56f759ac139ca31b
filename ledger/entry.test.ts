import { describe, expect, it } from 'vitest';
import { STATEMENT_TYPE, type SignedStatement } from '../domain/statement.ts';
import { bytesEqual, toBase64 } from './bytes.ts';
import { canonicalJson } from './canonicalJson.ts';
import { chainEntries, encodeEntry, entryBytes, LogClock } from './entry.ts';
import { hashLeaf } from './rfc9162.ts';

const signed: SignedStatement = {
  statement: {
    type: STATEMENT_TYPE,
    statementId: 'c1/checkTitle',
    caseId: 'c1',
    stepId: 'checkTitle',
    agency: 'registry',
    outcome: 'passed',
    commitment: toBase64(new Uint8Array(32).fill(2)),
    facts: { seizure: false, dutyCents: 850000, note: 'é' },
    issuedAt: '2026-11-24T10:00:00.000Z',
    keyId: 'registry.agency.onewindow+0123abcd',
  },
  signature: toBase64(new Uint8Array(64).fill(9)),
};

describe('entries', () => {
  it('builds the same RFC 8785 bytes from a canonical statement as from the whole entry', () => {
    const entry = {
      index: 41,
      prevLeafHash: toBase64(new Uint8Array(32)),
      sequencedAt: '2026-11-24T10:00:01.000Z',
      ...signed,
    };
    const direct = entryBytes(
      41,
      entry.prevLeafHash,
      entry.sequencedAt,
      signed.signature,
      canonicalJson(signed.statement),
    );
    expect(bytesEqual(direct, encodeEntry(entry))).toBe(true);
  });

  it('chains the same entries and leaf hashes whichever serialisation and hash it is given', () => {
    const prev = new Uint8Array(32).fill(4);
    const plain = chainEntries([signed, signed], 7, prev, '2026-11-24T10:00:01.000Z');
    const fast = chainEntries([signed, signed], 7, prev, '2026-11-24T10:00:01.000Z', {
      statementJson: [canonicalJson(signed.statement), canonicalJson(signed.statement)],
      hashLeaf: (leaf) => hashLeaf(leaf),
    });
    expect(fast.map((e) => toBase64(e.leafHash))).toEqual(plain.map((e) => toBase64(e.leafHash)));
    expect(fast[1]!.entry.prevLeafHash).toBe(toBase64(plain[0]!.leafHash));
  });
});

describe('LogClock', () => {
  it('reads each entry as sequenced while the times move on or stand still, whatever offset each is written in', () => {
    const clock = new LogClock();
    expect(clock.step('2026-01-10T09:00:00Z')).toBe('2026-01-10T09:00:00Z');
    // 10:00 at +01:00 is 09:00Z: the same moment, not a later one.
    expect(clock.step('2026-01-10T10:00:00+01:00')).toBe('2026-01-10T09:00:00Z');
    expect(clock.step('2026-01-10T09:00:00.001Z')).toBe('2026-01-10T09:00:00.001Z');
  });

  it('reads an entry sequenced before the one ahead of it as logged when that one was, and goes on from there', () => {
    const clock = new LogClock();
    clock.step('2026-01-10T09:05:00.000Z');
    expect(clock.step('2026-01-10T09:00:00+00:00')).toBe('2026-01-10T09:05:00.000Z');
    expect(clock.step('2026-01-10T09:06:00.000Z')).toBe('2026-01-10T09:06:00.000Z');
  });
});
