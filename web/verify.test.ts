// The browser's verifier, run in node on a real log built with the ledger library: seven
// statements signed by agency keys, chained, a checkpoint signed by the log key and cosigned
// by two of three witnesses. Every failing case is one mutation of that happy path.
import { describe, expect, test } from 'vitest';
import { STATEMENT_TYPE, type Entry, type Statement } from '../domain/statement.ts';
import { fromBase64, toBase64, utf8 } from '../ledger/bytes.ts';
import { canonicalJson } from '../ledger/canonicalJson.ts';
import { signCheckpoint } from '../ledger/checkpoint.ts';
import { cosign, formatCosignerVerifierKey } from '../ledger/cosignature.ts';
import { chainEntries, GENESIS_PREV_LEAF_HASH } from '../ledger/entry.ts';
import { agencyKeyName, formatVerifierKey, signingKey, type SigningKey } from '../ledger/keys.ts';
import { addSignatureLines } from '../ledger/note.ts';
import { inclusionProof, rootFromLeafHashes, type NodeId } from '../ledger/proof.ts';
import { signStatement } from '../ledger/statement.ts';
import type { TrustFile } from '../ledger/trust.ts';
import {
  describeTrust,
  readTrust,
  verifyCheckpoint,
  verifyEntry,
  type EntryInput,
  type VerifiedCheckpoint,
} from './verify.ts';

const ORIGIN = 'web.test.onewindow/ledger';
const seed = (n: number) => new Uint8Array(32).fill(n);
const logKey = signingKey(ORIGIN, seed(1));
const otherLogKey = signingKey(ORIGIN, seed(2));
const witnesses = ['housing', 'tax', 'water'].map((a, i) =>
  signingKey(`${a}.witness.test`, seed(10 + i)),
);
const agencyKeys: Record<string, SigningKey> = {
  housing: signingKey(agencyKeyName('housing'), seed(20)),
  registry: signingKey(agencyKeyName('registry'), seed(21)),
  tax: signingKey(agencyKeyName('tax'), seed(22)),
};
const VALID_FROM = '2026-01-01T00:00:00.000Z';

function trustFile(overrides: Partial<TrustFile> = {}): TrustFile {
  return {
    origin: ORIGIN,
    logKeys: [formatVerifierKey(logKey.name, logKey.publicKey)],
    witnesses: witnesses.map((w) => formatCosignerVerifierKey(w.name, w.publicKey)),
    witnessThreshold: 2,
    agencyKeys: Object.entries(agencyKeys).map(([agency, key]) => ({
      keyId: key.keyId,
      agency,
      publicKey: toBase64(key.publicKey),
      validFrom: VALID_FROM,
    })),
    ...overrides,
  };
}

function statement(i: number, agency: keyof typeof agencyKeys): Statement {
  const caseId = `case-${i}`;
  return {
    type: STATEMENT_TYPE,
    statementId: `${caseId}/checkTitle`,
    caseId,
    stepId: 'checkTitle',
    agency: agency as Statement['agency'],
    outcome: 'passed',
    commitment: toBase64(new Uint8Array(32).fill(i)),
    facts: { flags: i },
    issuedAt: `2026-03-0${1 + (i % 9)}T10:00:00.000Z`,
    keyId: agencyKeys[agency]!.keyId,
  };
}

const agencies = ['housing', 'registry', 'tax', 'registry', 'housing', 'tax', 'registry'] as const;
const sequenced = chainEntries(
  agencies.map((a, i) => signStatement(statement(i, a), agencyKeys[a]!)),
  0,
  fromBase64(GENESIS_PREV_LEAF_HASH),
  '2026-03-10T00:00:00.000Z',
);
const leafHashes = sequenced.map((s) => s.leafHash);
const SIZE = sequenced.length;
const root = rootFromLeafHashes(leafHashes);

/** Perfect-subtree hashes straight from the leaves: storage as a function argument. */
const getNodes = (ids: readonly NodeId[]) =>
  ids.map((id) =>
    rootFromLeafHashes(leafHashes.slice(id.index * 2 ** id.level, (id.index + 1) * 2 ** id.level)),
  );
const proofOf = (index: number, size = SIZE) =>
  inclusionProof(index, size, getNodes).map((h) => toBase64(h));

function checkpointNote(
  cosigners: readonly SigningKey[] = witnesses.slice(0, 2),
  key: SigningKey = logKey,
  size = SIZE,
  rootHash = root,
): string {
  const note = signCheckpoint({ origin: ORIGIN, size, rootHash, extensions: [] }, key);
  const body = note.slice(0, note.indexOf('\n\n') + 1);
  return addSignatureLines(
    note,
    cosigners.map((w) => cosign(body, w, 1_773_100_800)),
  );
}

const context = readTrust(trustFile());
const goodNote = checkpointNote();
const checkpoint = verifyCheckpoint(goodNote, context);

function input(index: number, overrides: Partial<EntryInput> = {}): EntryInput {
  return {
    index,
    bytes: sequenced[index]!.bytes,
    inclusionProof: proofOf(index),
    checkpoint,
    context,
    ...overrides,
  };
}

/** The entry's bytes with one textual change, as a tampered database would serve them. */
function tampered(index: number, from: string, to: string): Uint8Array {
  const text = new TextDecoder().decode(sequenced[index]!.bytes);
  expect(text).toContain(from);
  return utf8(text.replace(from, to));
}

describe('the checkpoint', () => {
  test('verifies under the log key and two of three witnesses, and says so', () => {
    expect(checkpoint.ok).toBe(true);
    const cp = checkpoint as VerifiedCheckpoint;
    expect(cp.checkpoint.size).toBe(SIZE);
    expect(cp.logKeys).toEqual([`${logKey.keyId}`]);
    expect(cp.cosignatures.map((c) => c.name)).toEqual([witnesses[0]!.name, witnesses[1]!.name]);
    expect(cp.summary).toBe(
      `Checkpoint of size ${SIZE} signed by log key ${logKey.keyId} and 2 of 3 witnesses ` +
        `(${witnesses[0]!.name}, ${witnesses[1]!.name}), policy 2 of 3 \u2713`,
    );
  });

  test("does not count a cosignature dated more than five minutes past the browser's clock, and names it", () => {
    const cosignedAt = 1_773_100_800;
    const failed = verifyCheckpoint(goodNote, context, cosignedAt - 301);
    expect(failed.ok).toBe(false);
    expect(failed.summary).toMatch(
      /^FAILED: checkpoint: WitnessPolicyError: checkpoint needs cosignatures from 2 distinct witnesses, found 0; not counted, timestamped more than 300 s past this verifier's clock/,
    );
    expect(verifyCheckpoint(goodNote, context, cosignedAt - 300)).toMatchObject({ ok: true });
    // Two in time meet the policy; the third, an hour ahead, is named.
    const note = signCheckpoint(
      { origin: ORIGIN, size: SIZE, rootHash: root, extensions: [] },
      logKey,
    );
    const body = note.slice(0, note.indexOf('\n\n') + 1);
    const mixed = addSignatureLines(note, [
      cosign(body, witnesses[0]!, cosignedAt),
      cosign(body, witnesses[1]!, cosignedAt),
      cosign(body, witnesses[2]!, cosignedAt + 3600),
    ]);
    const verdict = verifyCheckpoint(mixed, context, cosignedAt);
    expect(verdict.ok).toBe(true);
    expect(verdict.summary).toMatch(
      new RegExp(
        `policy 2 of 3 \u2713; not counted, timestamped more than 300 s past this verifier's clock \\(tlog-cosignature §Format\\): ${witnesses[2]!.name} at 2026-03-10T01:00:00Z$`,
      ),
    );
  });

  test('verifies with all three witnesses too', () => {
    expect(verifyCheckpoint(checkpointNote(witnesses), context)).toMatchObject({ ok: true });
  });

  test.each([
    [
      'signed by another log key',
      () => checkpointNote(witnesses, otherLogKey),
      /MissingLogSignatureError|UnverifiedNoteError/,
    ],
    [
      'cosigned by one witness when the policy needs two',
      () => checkpointNote(witnesses.slice(0, 1)),
      /WitnessPolicyError: checkpoint needs cosignatures from 2 distinct witnesses, found 1/,
    ],
    [
      'with a changed tree size',
      () => goodNote.replace(`\n${SIZE}\n`, `\n${SIZE + 1}\n`),
      /InvalidSignatureError/,
    ],
    [
      'with a changed root',
      () => goodNote.replace(toBase64(root), toBase64(new Uint8Array(32))),
      /InvalidSignatureError/,
    ],
    [
      'with a cosignature line whose signature bytes were changed',
      () => {
        const lines = goodNote.split('\n');
        const last = lines.length - 2;
        const value = lines[last]!.split(' ')[2]!;
        const raw = fromBase64(value);
        raw[raw.length - 1]! ^= 1;
        lines[last] = lines[last]!.replace(value, toBase64(raw));
        return lines.join('\n');
      },
      /InvalidSignatureError/,
    ],
    ['that is not a signed note', () => 'hello\n', /MalformedNoteError/],
  ])('fails %s, saying why', (_, note, why) => {
    const verdict = verifyCheckpoint(note(), context);
    expect(verdict.ok).toBe(false);
    expect(verdict.summary).toMatch(/^FAILED: checkpoint: /);
    expect(verdict.ok ? '' : verdict.reason).toMatch(why);
  });

  test('fails for a log of another origin', () => {
    const verdict = verifyCheckpoint(
      goodNote,
      readTrust(trustFile({ origin: 'other.example/log' })),
    );
    expect(verdict.ok ? '' : verdict.reason).toMatch(/OriginMismatchError/);
  });

  test('verifies during a log key rotation with either key trusted', () => {
    const note = signCheckpoint(
      { origin: ORIGIN, size: SIZE, rootHash: root, extensions: [] },
      logKey,
      [otherLogKey],
    );
    const body = note.slice(0, note.indexOf('\n\n') + 1);
    const cosigned = addSignatureLines(
      note,
      witnesses.slice(1).map((w) => cosign(body, w, 1)),
    );
    const nextOnly = readTrust(
      trustFile({ logKeys: [formatVerifierKey(otherLogKey.name, otherLogKey.publicKey)] }),
    );
    const verdict = verifyCheckpoint(cosigned, nextOnly);
    expect(verdict).toMatchObject({ ok: true, logKeys: [otherLogKey.keyId] });
    // The trust of before the rotation, which lists the current key alone.
    expect(verifyCheckpoint(cosigned, context)).toMatchObject({
      ok: true,
      logKeys: [logKey.keyId],
    });
  });
});

describe('an entry', () => {
  test.each([...Array(SIZE).keys()])(
    '%i verifies: bytes, signature, inclusion, checkpoint',
    (i) => {
      const verdict = verifyEntry(input(i, i > 0 ? { previousLeafHash: leafHashes[i - 1]! } : {}));
      expect(verdict.checks.filter((c) => c.state !== 'ok')).toEqual([]);
      expect(verdict.status).toBe('verified');
      expect(verdict.leafHash).toEqual(leafHashes[i]);
      expect(verdict.summary).toBe(
        `Signature by ${agencyKeys[agencies[i]!]!.keyId} (${agencies[i]}) \u2713 \u00b7 ` +
          `Inclusion in checkpoint of size ${SIZE} \u2713 \u00b7 ` +
          `Checkpoint signed by log key ${logKey.keyId} and 2 of 3 witnesses \u2713`,
      );
    },
  );

  test('given as a JSON object with the server-reported leaf hash, verifies the same', () => {
    const entry = { ...sequenced[3]!.entry, leafHash: toBase64(leafHashes[3]!), extra: 'ignored' };
    const verdict = verifyEntry(
      input(3, { bytes: undefined, entry, reportedLeafHash: toBase64(leafHashes[3]!) }),
    );
    expect(verdict.status).toBe('verified');
    expect(verdict.checks.map((c) => c.name)).toEqual([
      'entry',
      'leafHash',
      'signature',
      'inclusion',
      'checkpoint',
    ]);
  });

  test('shown for its own case verifies, and for another case fails, naming both', () => {
    const own = sequenced[3]!.entry.statement.caseId;
    expect(verifyEntry(input(3, { caseId: own })).status).toBe('verified');
    const verdict = verifyEntry(input(3, { caseId: 'another-case' }));
    expect(verdict.status).toBe('failed');
    expect(verdict.summary).toBe(
      `FAILED: the entry is of case ${own}, not of case another-case shown here`,
    );
  });

  test('beyond the checkpoint is pending, not failed, once its signature verifies', () => {
    const small = verifyCheckpoint(
      checkpointNote(witnesses, logKey, 4, rootFromLeafHashes(leafHashes.slice(0, 4))),
      context,
    );
    const verdict = verifyEntry(input(5, { checkpoint: small, inclusionProof: null }));
    expect(verdict.status).toBe('pending');
    expect(verdict.summary).toContain(
      'Inclusion pending: not yet in a published checkpoint (latest has size 4)',
    );
  });

  const mutations: [string, (i: number) => Partial<EntryInput>, RegExp][] = [
    [
      'one changed byte of the statement',
      (i) => ({ bytes: tampered(i, '"outcome":"passed"', '"outcome":"passee"') }),
      /statement signature does not verify .*; inclusion in checkpoint of size 7: RootMismatchError/,
    ],
    [
      'a changed sequencing time (outside the signed statement)',
      (i) => ({ bytes: tampered(i, '2026-03-10T00:00:00.000Z', '2026-03-11T00:00:00.000Z') }),
      /^FAILED: inclusion in checkpoint of size 7: RootMismatchError/,
    ],
    [
      'another signature',
      (i) => {
        const other = sequenced[(i + 1) % SIZE]!.entry.signature;
        return { bytes: tampered(i, sequenced[i]!.entry.signature, other) };
      },
      /the statement signature does not verify under key/,
    ],
    [
      'bytes that are not canonical JSON',
      (i) => ({ bytes: tampered(i, '{"index"', '{ "index"') }),
      /^FAILED: the entry bytes are not RFC 8785 canonical JSON$/,
    ],
    ['bytes that are not JSON', () => ({ bytes: utf8('{"index":') }), /not UTF-8 JSON/],
    [
      'an entry that names another index',
      (i) => ({ bytes: tampered(i, `{"index":${i},`, `{"index":${i + 1},`) }),
      /says it is entry/,
    ],
    [
      'an entry with a member the fixed format does not have (still canonical)',
      (i) => ({
        bytes: utf8(canonicalJson({ ...sequenced[i]!.entry, comment: 'added by the operator' })),
      }),
      /^FAILED: the entry has members the fixed format does not: comment/,
    ],
    [
      'an entry missing its statement',
      (i) => {
        const rest: Partial<Entry> = { ...sequenced[i]!.entry };
        delete rest.statement;
        return { bytes: utf8(canonicalJson(rest)) };
      },
      /the entry is malformed: statement/,
    ],
    [
      'a proof with one hash changed',
      (i) => ({
        inclusionProof: proofOf(i).map((h, k) =>
          k === 0 ? toBase64(new Uint8Array(32).fill(9)) : h,
        ),
      }),
      /RootMismatchError/,
    ],
    [
      'a proof with a hash missing',
      (i) => ({ inclusionProof: proofOf(i).slice(1) }),
      /ProofSizeError/,
    ],
    [
      'a proof for another leaf',
      (i) => ({ inclusionProof: proofOf((i + 1) % SIZE) }),
      /RootMismatchError/,
    ],
    [
      'a proof hash that is not base64',
      (i) => ({ inclusionProof: ['%%%', ...proofOf(i).slice(1)] }),
      /not standard base64/,
    ],
    [
      'no proof',
      () => ({ inclusionProof: null }),
      /no inclusion proof for the checkpoint of size 7/,
    ],
    [
      'a server-reported leaf hash that differs',
      () => ({ reportedLeafHash: toBase64(new Uint8Array(32)) }),
      /the server reports leaf hash AAAA/,
    ],
    [
      'a broken hash chain',
      () => ({ previousLeafHash: new Uint8Array(32).fill(3) }),
      /prevLeafHash is .*, entry 1 hashes to/,
    ],
    [
      'a checkpoint that failed',
      () => ({ checkpoint: verifyCheckpoint(checkpointNote([]), context) }),
      /WitnessPolicyError/,
    ],
  ];

  test.each(mutations)('fails with %s, saying what failed', (_, mutate, why) => {
    const i = 2;
    const verdict = verifyEntry(input(i, { previousLeafHash: leafHashes[i - 1]!, ...mutate(i) }));
    expect(verdict.status).toBe('failed');
    expect(verdict.summary).toMatch(/^FAILED: /);
    expect(verdict.summary).toMatch(why);
  });

  test('given as a JSON object with one changed field, fails the signature and inclusion', () => {
    const entry: Entry = {
      ...sequenced[4]!.entry,
      statement: { ...sequenced[4]!.entry.statement, outcome: 'rejected' },
    };
    const verdict = verifyEntry(input(4, { bytes: undefined, entry }));
    expect(verdict.checks.filter((c) => c.state === 'failed').map((c) => c.name)).toEqual([
      'signature',
      'inclusion',
    ]);
  });

  describe('signed under a key the trust info does not allow', () => {
    const only = (keys: TrustFile['agencyKeys']) => readTrust(trustFile({ agencyKeys: keys }));
    const base = trustFile().agencyKeys;
    const registry = base.find((k) => k.agency === 'registry')!;
    test.each([
      [
        'unknown to the verifier',
        only(base.filter((k) => k.agency !== 'registry')),
        /which the verifier does not trust/,
      ],
      [
        'of another agency',
        only([...base.filter((k) => k.agency !== 'registry'), { ...registry, agency: 'tax' }]),
        /belongs to tax, the statement is for registry/,
      ],
      [
        'not yet valid when issued',
        only([
          ...base.filter((k) => k.agency !== 'registry'),
          { ...registry, validFrom: '2027-01-01T00:00:00.000Z' },
        ]),
        /was not valid at .*: it is valid from 2027/,
      ],
      [
        'expired when issued',
        only([
          ...base.filter((k) => k.agency !== 'registry'),
          { ...registry, validUntil: '2026-02-01T00:00:00.000Z' },
        ]),
        /expired at 2026-02-01/,
      ],
    ])('fails for a key %s', (_, keys, why) => {
      const verdict = verifyEntry(input(1, { context: keys }));
      expect(verdict.status).toBe('failed');
      expect(verdict.checks.find((c) => c.name === 'signature')).toMatchObject({ state: 'failed' });
      expect(verdict.summary).toMatch(why);
    });
  });
});

describe('the trust info', () => {
  test('is described in words: log keys, witnesses, policy, agency keys', () => {
    const described = describeTrust(context);
    expect(described).toMatchObject({
      origin: ORIGIN,
      logKeys: [logKey.keyId],
      threshold: 2,
    });
    expect(described.witnesses).toHaveLength(3);
    expect(described.agencyKeys.map((k) => k.agency)).toEqual(['housing', 'registry', 'tax']);
  });

  test('refuses a threshold above the number of witnesses', () => {
    expect(() => readTrust(trustFile({ witnessThreshold: 4 }))).toThrow(/witnessThreshold/);
  });
});
