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
  it('passes a clock that stands still or moves on, whatever offset each time is written in', () => {
    const clock = new LogClock();
    // 10:00 at +01:00 is 09:00Z: the same moment as the entry before it, not an earlier one.
    expect(clock.step(0, '2026-01-10T09:00:00Z')).toBeUndefined();
    expect(clock.step(1, '2026-01-10T10:00:00+01:00')).toBeUndefined();
    expect(clock.step(2, '2026-01-10T10:00:00+01:00')).toBeUndefined();
    expect(clock.step(3, '2026-01-10T09:00:00.001Z')).toBeUndefined();
  });

  it('names the entry that turns it back and the one before it, then judges from the earlier time', () => {
    const clock = new LogClock();
    clock.step(0, '2026-01-10T09:00:00.000Z');
    clock.step(1, '2026-01-10T09:05:00.000Z');
    expect(clock.step(2, '2026-01-10T09:00:00+00:00')).toBe(
      "entry was sequenced at 2026-01-10T09:00:00+00:00, before entry 1 that precedes it in the log (sequenced at 2026-01-10T09:05:00.000Z): the log's clock ran backwards",
    );
    // The next honest entry is judged against the one just before it, not reported too.
    expect(clock.step(3, '2026-01-10T09:06:00.000Z')).toBeUndefined();
  });
});
