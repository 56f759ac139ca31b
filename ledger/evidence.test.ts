import { describe, expect, test } from 'vitest';
import type { Signer } from '../domain/agency.ts';
import { STATEMENT_TYPE, type SignedStatement } from '../domain/statement.ts';
import { fromBase64, fromUtf8, toBase64, utf8 } from './bytes.ts';
import { formatCheckpoint, signCheckpoint } from './checkpoint.ts';
import { cosign, formatCosignerVerifierKey } from './cosignature.ts';
import { chainEntries } from './entry.ts';
import { keyAddStatement, keyRevokeStatement } from './keyEvents.ts';
import {
  EVIDENCE_TYPE,
  EvidenceBundle,
  formatEvidenceProblem,
  verifyEvidenceBundle,
  type EvidenceCheck,
} from './evidence.ts';
import { agencyKeyName, formatVerifierKey, signingKey, type SigningKey } from './keys.ts';
import { addSignatureLines } from './note.ts';
import { inclusionProof, nodeCoverage, rootFromLeafHashes, type GetNodes } from './proof.ts';
import { signStatement } from './statement.ts';
import { loadTrust, type TrustFile } from './trust.ts';

// An in-memory log of 7 entries for two cases, interleaved as a real log interleaves them:
//   0 A intake · 1 B checkTitle · 2 A verifyContract · 3 A checkTitle · 4 B precheck ·
//   5 A close · 6 B close
// so case A's bundle holds entries 0, 2, 3 and 5: two chain links are checkable (genesis
// before 0, and 2 before 3), and the tree size is not a power of two.
// Deterministic keys: seed = 32 copies of one byte.
const ORIGIN = 'test.onewindow/ledger';
const CASE_A = 'a0000000-0000-4000-8000-00000000000a';
const CASE_B = 'b0000000-0000-4000-8000-00000000000b';
const key = (name: string, byte: number): SigningKey =>
  signingKey(name, new Uint8Array(32).fill(byte));
const agencyKeys = {
  orchestrator: key(agencyKeyName('orchestrator'), 1),
  housing: key(agencyKeyName('housing'), 2),
  registry: key(agencyKeyName('registry'), 3),
  water: key(agencyKeyName('water'), 4),
};
const logKey = key(ORIGIN, 0x10);
const witnessKeys = ['housing', 'tax', 'water'].map((a, i) => key(`${a}.witness.test`, 0x20 + i));
const COSIGNED_AT = 1767225600; // 2026-01-01T00:00:00Z in POSIX seconds
const ISSUED_AT = '2026-01-10T09:00:00.000Z';

/** A statement of `agency` that a step passed, signed by `key`. */
function signedBy(
  key: SigningKey,
  caseId: string,
  stepId: string,
  agency: Signer,
  issuedAt = ISSUED_AT,
  facts = { flagged: false },
) {
  return signStatement(
    {
      type: STATEMENT_TYPE,
      statementId: `${caseId}/${stepId}`,
      caseId,
      stepId,
      agency,
      outcome: 'passed',
      commitment: toBase64(new Uint8Array(32).fill(7)),
      facts,
      issuedAt,
      keyId: key.keyId,
    },
    key,
  );
}

function signed(caseId: string, stepId: string, agency: keyof typeof agencyKeys) {
  return signedBy(agencyKeys[agency], caseId, stepId, agency);
}

const log = chainEntries(
  [
    signed(CASE_A, 'intake', 'orchestrator'),
    signed(CASE_B, 'checkTitle', 'registry'),
    signed(CASE_A, 'verifyContract', 'housing'),
    signed(CASE_A, 'checkTitle', 'registry'),
    signed(CASE_B, 'precheck.water', 'water'),
    signed(CASE_A, 'close', 'orchestrator'),
    signed(CASE_B, 'close', 'orchestrator'),
  ],
  0,
  new Uint8Array(32),
  '2026-01-10T09:00:01.000Z',
);
const leafHashes = log.map((e) => e.leafHash);
const SIZE = log.length;
const root = rootFromLeafHashes(leafHashes);
// Storage as a function argument: a node's hash is the root of the leaves it covers.
const getNodes: GetNodes = (ids) =>
  ids.map((id) => {
    const { begin, end } = nodeCoverage(id);
    return rootFromLeafHashes(leafHashes.slice(begin, end));
  });

function checkpointNote(signer = logKey, cosigners = witnessKeys, size = SIZE): string {
  const cp = { origin: ORIGIN, size, rootHash: root, extensions: [] };
  const body = formatCheckpoint(cp);
  return addSignatureLines(
    signCheckpoint(cp, signer),
    cosigners.map((w) => cosign(body, w, COSIGNED_AT)),
  );
}

const trustFile: TrustFile = {
  origin: ORIGIN,
  logKeys: [formatVerifierKey(logKey.name, logKey.publicKey)],
  witnesses: witnessKeys.map((w) => formatCosignerVerifierKey(w.name, w.publicKey)),
  witnessThreshold: 2,
  agencyKeys: Object.entries(agencyKeys).map(([agency, k]) => ({
    keyId: k.keyId,
    agency,
    publicKey: toBase64(k.publicKey),
    validFrom: '2026-01-01T00:00:00.000Z',
    validUntil: null,
  })),
};

/** What buildEvidenceBundle exports for a case of the in-memory log, with `trust`'s keys. */
function bundleFor(caseId: string, trust: TrustFile = trustFile): EvidenceBundle {
  const entries = log.filter((e) => e.entry.statement.caseId === caseId);
  const keyIds = new Set(entries.map((e) => e.entry.statement.keyId));
  return {
    type: EVIDENCE_TYPE,
    origin: ORIGIN,
    caseId,
    checkpoint: checkpointNote(),
    size: SIZE,
    entries: entries.map(({ entry, bytes }) => ({
      index: entry.index,
      entry: fromUtf8(bytes),
      inclusionProof: inclusionProof(entry.index, SIZE, getNodes).map(toBase64),
    })),
    keys: {
      logKeys: trust.logKeys,
      witnesses: trust.witnesses,
      witnessThreshold: trust.witnessThreshold,
      agencyKeys: trust.agencyKeys.filter((k) => keyIds.has(k.keyId)),
    },
    exportedAt: '2026-01-11T00:00:00.000Z',
  };
}

/** XORs the low bit of the UTF-8 byte `offset` bytes after the first `marker` (ASCII stays ASCII). */
function flipByte(text: string, marker: string, offset: number): string {
  const bytes = utf8(text);
  const at = utf8(text.slice(0, text.indexOf(marker))).length + offset;
  bytes[at]! ^= 0x01;
  return fromUtf8(bytes);
}

function flipProofHash(proof: string[], which: number): string[] {
  const hash = fromBase64(proof[which]!);
  hash[0]! ^= 0x01;
  return proof.map((p, i) => (i === which ? toBase64(hash) : p));
}

const trust = loadTrust(trustFile);
const good = bundleFor(CASE_A);
const otherLogKey = key(ORIGIN, 0x11); // same name as the log key, another key
const housingId = agencyKeys.housing.keyId;

describe('the evidence bundle', () => {
  test('a bundle built in memory verifies: every proof, signature and adjacent chain link checked', () => {
    const result = verifyEvidenceBundle(good, trust);
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({
      ok: true,
      caseId: CASE_A,
      entries: 4,
      inclusionProofsChecked: 4,
      signaturesChecked: 4,
      chainLinksChecked: 2,
    });
    expect(result.checkpoint?.size).toBe(SIZE);
    expect(result.cosignatures.map((c) => c.name)).toEqual(witnessKeys.map((w) => w.name));
  });

  test('survives a JSON round trip through the schema unchanged, entry bytes included', () => {
    const parsed = EvidenceBundle.parse(JSON.parse(JSON.stringify(good)));
    expect(parsed).toEqual(good);
    expect(utf8(parsed.entries[1]!.entry)).toEqual(log[2]!.bytes);
  });

  test('the schema refuses another document type and a bundle without entries', () => {
    expect(EvidenceBundle.safeParse({ ...good, type: 'onewindow.receipt/v1' }).success).toBe(false);
    expect(EvidenceBundle.safeParse({ ...good, entries: [] }).success).toBe(false);
  });

  test('verification uses the trust file, not the keys inside the bundle', () => {
    const keyless = {
      ...good,
      keys: { logKeys: [], witnesses: [], witnessThreshold: 2, agencyKeys: [] },
    };
    expect(verifyEvidenceBundle(keyless, trust).ok).toBe(true);
  });

  test('a forged checkpoint is refused even when the bundle names the forger as the log key', () => {
    const forged = {
      ...good,
      checkpoint: checkpointNote(otherLogKey),
      keys: { ...good.keys, logKeys: [formatVerifierKey(otherLogKey.name, otherLogKey.publicKey)] },
    };
    const result = verifyEvidenceBundle(forged, trust);
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.check).sort()).toEqual(['checkpoint', 'keys']);
  });

  // Entries are RFC 8785 bytes: a duplicated member (JSON.parse keeps the last, other readers
  // the first) or a member the format lacks would let readers disagree on what one says.
  test('an entry with a duplicated member or a member the format does not have is reported', () => {
    const entryProblems = (change: (text: string) => string) =>
      verifyEvidenceBundle(
        withEntry(good, 1, (e) => ({ entry: change(e.entry) })),
        trust,
      )
        .problems.filter((p) => p.check === 'entry')
        .map((p) => [p.position, p.problem]);
    expect(entryProblems((t) => t.replace('"statement":', '"statement":{},"statement":'))).toEqual([
      [1, expect.stringMatching(/^entry is not RFC 8785 canonical JSON: /)],
    ]);
    expect(entryProblems((t) => t.replace('{"index"', '{"comment":"x","index"'))).toEqual([
      [1, 'entry has members the fixed format does not: comment'],
    ]);
  });

  test('a cosignature timestamped past the verifier’s clock is not counted: the policy fails, naming it', () => {
    // Two of three witnesses needed; at a clock an hour before they cosigned, none counts.
    const result = verifyEvidenceBundle(good, trust, COSIGNED_AT - 3600);
    expect(result.ok).toBe(false);
    expect(result.problems.map(formatEvidenceProblem)).toEqual([
      `bundle: witnesses: checkpoint witness policy not met: checkpoint needs cosignatures from 2 distinct witnesses, found 0; not counted, timestamped more than 300 s past this verifier's clock (tlog-cosignature §Format): ${witnessKeys.map((w) => `${w.name} at 2026-01-01T00:00:00Z`).join(', ')}`,
    ]);
    const later = verifyEvidenceBundle(good, trust, COSIGNED_AT + 60);
    expect(later.problems).toEqual([]);
    expect(later.aheadOfClock).toEqual([]);
  });

  test('a problem reads as one line naming the log index and bundle position', () => {
    const result = verifyEvidenceBundle({ ...good, caseId: CASE_B }, trust);
    expect(result.problems.map(formatEvidenceProblem)[1]).toBe(
      `entry 2 (entries[1]): case: entry names case ${CASE_A}, the bundle is for case ${CASE_B}`,
    );
  });
});

// Systematic mutations of the good bundle (or of the trust file): each must fail with
// exactly these problems, the first of them saying what was expected and what was found.
interface Mutation {
  desc: string;
  bundle?: (b: EvidenceBundle) => EvidenceBundle;
  trust?: (t: TrustFile) => TrustFile;
  /** [position in bundle.entries or -1, check], in the order they are reported. */
  want: [number, EvidenceCheck][];
  message: RegExp;
}

const withEntry = (
  b: EvidenceBundle,
  position: number,
  change: (e: EvidenceBundle['entries'][number]) => Partial<EvidenceBundle['entries'][number]>,
): EvidenceBundle => ({
  ...b,
  entries: b.entries.map((e, i) => (i === position ? { ...e, ...change(e) } : e)),
});

const mutations: Mutation[] = [
  {
    desc: 'a flipped byte of an entry outside the signed statement (sequencedAt)',
    // "…09:00:01.000Z" becomes "…09:00:01.001Z": only the Merkle proof and the next link catch it.
    bundle: (b) => withEntry(b, 1, (e) => ({ entry: flipByte(e.entry, '"sequencedAt"', 37) })),
    want: [
      [1, 'inclusion'],
      [2, 'chain'],
    ],
    message:
      /^entry bytes \(leaf hash \S+\) are not proven in the checkpoint of size 7: computed root \S+ does not match expected root \S+$/,
  },
  {
    desc: 'a flipped byte of the signed statement ("passed" becomes "passee")',
    bundle: (b) => withEntry(b, 1, (e) => ({ entry: flipByte(e.entry, '"outcome":"passed"', 16) })),
    want: [
      [1, 'inclusion'],
      [1, 'signature'],
      [2, 'chain'],
    ],
    message: /are not proven in the checkpoint of size 7/,
  },
  {
    desc: 'a wrong hash in an inclusion proof',
    bundle: (b) => withEntry(b, 2, (e) => ({ inclusionProof: flipProofHash(e.inclusionProof, 0) })),
    want: [[2, 'inclusion']],
    message: /computed root \S+ does not match expected root \S+$/,
  },
  {
    desc: 'a truncated inclusion proof',
    bundle: (b) => withEntry(b, 2, (e) => ({ inclusionProof: e.inclusionProof.slice(0, -1) })),
    want: [[2, 'inclusion']],
    message: /inclusion proof must have 3 hashes, found 2$/,
  },
  {
    desc: 'an inclusion proof hash that is not base64',
    bundle: (b) =>
      withEntry(b, 0, (e) => ({ inclusionProof: ['not base64!', ...e.inclusionProof.slice(1)] })),
    want: [[0, 'inclusion']],
    message: /^inclusionProof is not standard base64/,
  },
  {
    desc: 'a checkpoint signed by another key under the log name',
    bundle: (b) => ({ ...b, checkpoint: checkpointNote(otherLogKey) }),
    want: [[-1, 'checkpoint']],
    message: new RegExp(
      `^checkpoint rejected: checkpoint is not signed by the log \\(expected one of ${literal(trustFile.logKeys[0]!.split('+').slice(0, 2).join('+'))}; found only ${literal(ORIGIN)}\\+[0-9a-f]{8}, `,
    ),
  },
  {
    desc: 'too few cosignatures for the witness policy',
    bundle: (b) => ({ ...b, checkpoint: checkpointNote(logKey, witnessKeys.slice(0, 1)) }),
    want: [[-1, 'witnesses']],
    message:
      /^checkpoint witness policy not met: checkpoint needs cosignatures from 2 distinct witnesses, found 1 \(housing\.witness\.test\)$/,
  },
  {
    desc: 'a checkpoint of another size than the bundle says',
    bundle: (b) => ({ ...b, size: 8 }),
    want: [[-1, 'bundle']],
    message: /^bundle says size 8, its checkpoint is of size 7$/,
  },
  {
    desc: 'a bundle for another log than the trust file',
    bundle: (b) => ({ ...b, origin: 'other.example/log' }),
    want: [[-1, 'bundle']],
    message:
      /^bundle is for log "other.example\/log", the trust file for "test.onewindow\/ledger"$/,
  },
  {
    desc: 'an entry of another case, with its valid proof',
    bundle: (b) => {
      const other = bundleFor(CASE_B).entries[0]!; // log index 1
      return { ...b, entries: [b.entries[0]!, other, ...b.entries.slice(1)] };
    },
    want: [[1, 'case']],
    message: new RegExp(`^entry names case ${CASE_B}, the bundle is for case ${CASE_A}$`),
  },
  {
    desc: 'a statement signed by a key not yet valid at its issuedAt',
    trust: (t) => ({
      ...t,
      agencyKeys: t.agencyKeys.map((k) =>
        k.keyId === housingId ? { ...k, validFrom: '2026-02-01T00:00:00.000Z' } : k,
      ),
    }),
    want: [[1, 'key']],
    message: new RegExp(
      `^key ${literal(housingId)} was not valid at ${ISSUED_AT}: it is valid from 2026-02-01T00:00:00.000Z$`,
    ),
  },
  {
    desc: 'a statement signed after its key expired',
    trust: (t) => ({
      ...t,
      agencyKeys: t.agencyKeys.map((k) =>
        k.keyId === housingId ? { ...k, validUntil: '2026-01-05T00:00:00.000Z' } : k,
      ),
    }),
    want: [[1, 'key']],
    message: /it expired at 2026-01-05T00:00:00.000Z$/,
  },
  {
    desc: 'a statement signed by a key the trust file does not hold',
    trust: (t) => ({ ...t, agencyKeys: t.agencyKeys.filter((k) => k.keyId !== housingId) }),
    want: [[1, 'key']],
    message: /which the verifier does not trust$/,
  },
  {
    desc: 'swapped entries',
    bundle: (b) => ({
      ...b,
      entries: [b.entries[0]!, b.entries[2]!, b.entries[1]!, b.entries[3]!],
    }),
    want: [[2, 'order']],
    message: /^entries must be in increasing log order: log index 2 follows 3$/,
  },
  {
    desc: 'entry bytes swapped between two places, each under the other one’s proof',
    bundle: (b) =>
      withEntry(
        withEntry(b, 1, () => ({ entry: b.entries[2]!.entry })),
        2,
        () => ({
          entry: b.entries[1]!.entry,
        }),
      ),
    want: [
      [1, 'inclusion'],
      [1, 'entry'],
      [2, 'inclusion'],
      [2, 'entry'],
      [2, 'chain'],
    ],
    message: /are not proven in the checkpoint/,
  },
  {
    desc: 'a bundle agency key that differs from the trust file’s key of the same id',
    bundle: (b) => ({
      ...b,
      keys: {
        ...b.keys,
        agencyKeys: b.keys.agencyKeys.map((k) =>
          k.keyId === housingId ? { ...k, publicKey: toBase64(agencyKeys.water.publicKey) } : k,
        ),
      },
    }),
    want: [[-1, 'keys']],
    message: new RegExp(
      `^bundle key ${literal(housingId)} differs from the trust file's \\(bundle vs trust file\\): public key ${literal(toBase64(agencyKeys.water.publicKey))} vs ${literal(toBase64(agencyKeys.housing.publicKey))}$`,
    ),
  },
  {
    desc: 'a bundle agency key with another validity window than the trust file’s',
    bundle: (b) => ({
      ...b,
      keys: {
        ...b.keys,
        agencyKeys: b.keys.agencyKeys.map((k) =>
          k.keyId === housingId ? { ...k, validUntil: '2027-01-01T00:00:00Z' } : k,
        ),
      },
    }),
    want: [[-1, 'keys']],
    message: /: validUntil 2027-01-01T00:00:00Z vs none$/,
  },
  {
    desc: 'a bundle witness threshold that differs from the trust file’s',
    bundle: (b) => ({ ...b, keys: { ...b.keys, witnessThreshold: 1 } }),
    want: [[-1, 'keys']],
    message: /^bundle says witness threshold 1, the trust file 2$/,
  },
];

function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

describe('a mutated evidence bundle', () => {
  test.each(mutations)('fails for $desc', (m) => {
    const mutatedTrust = m.trust ? m.trust(trustFile) : trustFile;
    // The bundle carries the keys its exporter trusted: a trust mutation changes both.
    const base = m.trust ? bundleFor(CASE_A, mutatedTrust) : good;
    const bundle = (m.bundle ?? ((b) => b))(structuredClone(base));
    const result = verifyEvidenceBundle(EvidenceBundle.parse(bundle), loadTrust(mutatedTrust));
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => [p.position, p.check])).toEqual(m.want);
    expect(result.problems[0]!.problem).toMatch(m.message);
    for (const p of result.problems)
      if (p.position >= 0) expect(p.index).toBe(bundle.entries[p.position]!.index);
  });
});

/**
 * The bundle for CASE_A of a log holding `signed` (entries from 0), with every key event of
 * housing, each proven in a checkpoint the log key signs and every witness cosigns. Each entry
 * is logged at `loggedAt[its index]` if given, else when its statement says it was issued, or
 * when the entry before it was if that is later (the log's clock never runs back).
 */
function provenBundle(
  signed: SignedStatement[],
  loggedAt: Record<number, string> = {},
): EvidenceBundle {
  // Revocations reach back by the time each entry was logged.
  const log = signed.reduce<ReturnType<typeof chainEntries>>((chained, s) => {
    const before = chained.at(-1)?.entry.sequencedAt;
    const issued = s.statement.issuedAt;
    const time =
      loggedAt[chained.length] ?? (before !== undefined && before > issued ? before : issued);
    return [
      ...chained,
      ...chainEntries([s], chained.length, chained.at(-1)?.leafHash ?? new Uint8Array(32), time),
    ];
  }, []);
  const hashes = log.map((e) => e.leafHash);
  const nodes: GetNodes = (ids) =>
    ids.map((id) => {
      const { begin, end } = nodeCoverage(id);
      return rootFromLeafHashes(hashes.slice(begin, end));
    });
  const cp = {
    origin: ORIGIN,
    size: log.length,
    rootHash: rootFromLeafHashes(hashes),
    extensions: [],
  };
  const note = addSignatureLines(
    signCheckpoint(cp, logKey),
    witnessKeys.map((w) => cosign(formatCheckpoint(cp), w, COSIGNED_AT)),
  );
  const proven = (e: (typeof log)[number]) => ({
    index: e.entry.index,
    entry: fromUtf8(e.bytes),
    inclusionProof: inclusionProof(e.entry.index, log.length, nodes).map(toBase64),
  });
  return {
    ...good,
    checkpoint: note,
    size: log.length,
    entries: log.filter((e) => e.entry.statement.caseId === CASE_A).map(proven),
    keyEvents: log.filter((e) => e.entry.statement.caseId === 'keys-housing').map(proven),
  };
}

// A log in which housing rotates its key: 0 A intake · 1 key.add of housing's next key,
// signed by its first · 2 A verifyContract under the next key · 3 key.revoke of the first,
// signed by the next · 4 A checkTitle under housing's first key, after its revocation (as its
// holder could sign it) · 5 A close. The verifier's trust file knows housing's first key only.
describe('an evidence bundle across a key rotation', () => {
  const nextHousing = key(agencyKeyName('housing'), 0x42);
  const at = (minute: number) => `2026-01-10T09:${String(minute).padStart(2, '0')}:00.000Z`;
  const under = (k: SigningKey, caseId: string, stepId: string, agency: Signer, minute: number) =>
    signedBy(k, caseId, stepId, agency, at(minute));
  /** A key.revoke of housing's first key from `revokedAt` on, signed by `signer`. */
  const firstHousingKeyRevoked = (
    signer: SigningKey,
    { revokedAt, issuedAt, sequence }: { revokedAt: string; issuedAt: string; sequence: number },
  ) =>
    signStatement(
      keyRevokeStatement({
        agency: 'housing',
        keyId: agencyKeys.housing.keyId,
        signingKeyId: signer.keyId,
        revokedAt,
        issuedAt,
        sequence,
      }),
      signer,
    );
  const rotatedLog = [
    under(agencyKeys.orchestrator, CASE_A, 'intake', 'orchestrator', 1),
    signStatement(
      keyAddStatement({
        agency: 'housing',
        key: nextHousing,
        signingKeyId: agencyKeys.housing.keyId,
        validFrom: at(2),
        validUntil: null,
        issuedAt: at(2),
        sequence: 1,
      }),
      agencyKeys.housing,
    ),
    under(nextHousing, CASE_A, 'verifyContract', 'housing', 3),
    firstHousingKeyRevoked(nextHousing, { revokedAt: at(4), issuedAt: at(4), sequence: 2 }),
    under(agencyKeys.housing, CASE_A, 'checkTitle', 'housing', 3),
    under(agencyKeys.orchestrator, CASE_A, 'close', 'orchestrator', 6),
  ];
  const bundle = provenBundle(rotatedLog);

  // The entry signed by housing's first key after its revocation: the one problem to find.
  const revokedUse = {
    position: 2,
    index: 4,
    check: 'key',
    problem: expect.stringContaining(`key ${agencyKeys.housing.keyId} was revoked`) as string,
  };

  test('learns the rotated-in key from the key events it carries, and applies the revocation', () => {
    const result = verifyEvidenceBundle(bundle, trust);
    expect(result.problems).toEqual([revokedUse]);
    expect(result).toMatchObject({ keyEventsApplied: 2, inclusionProofsChecked: 6 });
  });

  // Housing revoking its first key, with that key, at minute 6, as stolen from minute 3 on.
  const revokedBackToMinute3 = firstHousingKeyRevoked(agencyKeys.housing, {
    revokedAt: at(3),
    issuedAt: at(6),
    sequence: 1,
  });

  // The thief's window: a revocation back to minute 3, logged after an entry the key signed at
  // minute 5, disowns that entry, though the key was valid when it was logged.
  test('reports a case entry a later revocation disowns: signed by the key from revokedAt on', () => {
    const stolen = provenBundle([
      under(agencyKeys.orchestrator, CASE_A, 'intake', 'orchestrator', 1),
      under(agencyKeys.housing, CASE_A, 'checkTitle', 'housing', 5),
      revokedBackToMinute3,
      under(agencyKeys.orchestrator, CASE_A, 'close', 'orchestrator', 7),
    ]);
    const result = verifyEvidenceBundle(stolen, trust);
    expect(result.problems).toEqual([
      {
        position: 1,
        index: 1,
        check: 'key',
        problem: `entry is disowned: key ${agencyKeys.housing.keyId} was revoked at ${at(3)} (entry 2), and it was logged at ${at(5)}`,
      },
    ]);
    expect(result.keyEventsApplied).toBe(1);
  });

  // The operator's way past that: the entry logged with a time before revokedAt. The reach
  // back judges it by the log's clock, which it cannot turn back.
  test('disowns a case entry backdated before revokedAt: it counts as logged when the entry ahead of it was', () => {
    const backdated = provenBundle(
      [
        under(agencyKeys.orchestrator, CASE_A, 'intake', 'orchestrator', 1),
        under(agencyKeys.orchestrator, CASE_A, 'verifyContract', 'orchestrator', 4),
        under(agencyKeys.housing, CASE_A, 'checkTitle', 'housing', 5),
        revokedBackToMinute3,
      ],
      { 2: at(2) },
    );
    const result = verifyEvidenceBundle(backdated, trust);
    expect(result.problems).toEqual([
      {
        position: 2,
        index: 2,
        check: 'key',
        problem: `entry is disowned: key ${agencyKeys.housing.keyId} was revoked at ${at(3)} (entry 3), and it was logged at ${at(4)}`,
      },
    ]);
  });

  test('without them, knows only the trust file: the rotated-in key is unknown, the revoked one taken', () => {
    const old: EvidenceBundle = { ...bundle };
    delete old.keyEvents;
    const result = verifyEvidenceBundle(old, trust);
    expect(result.problems).toEqual([
      expect.objectContaining({ position: 1, index: 2, check: 'key' }),
    ]);
  });

  test("reports key events out of log order, and an entry among them that is none, even after the case's last entry", () => {
    const [add, revoke] = bundle.keyEvents!;
    const swapped = verifyEvidenceBundle({ ...bundle, keyEvents: [revoke!, add!] }, trust);
    expect(swapped.problems).toContainEqual(
      expect.objectContaining({
        index: 1,
        check: 'keyEvent',
        problem:
          'keyEvents[1] (log index 1): key events must be in increasing log order: it follows log index 3',
      }),
    );
    const close = bundle.entries.at(-1)!;
    const notOne = verifyEvidenceBundle({ ...bundle, keyEvents: [add!, revoke!, close] }, trust);
    expect(notOne.problems).toEqual([
      revokedUse,
      expect.objectContaining({
        index: close.index,
        check: 'keyEvent',
        problem: `keyEvents[2] (log index ${close.index}): entry ${close.index} of case ${CASE_A} is no key event at this index`,
      }),
    ]);
  });

  test('reports a key event that is not proven in the checkpoint, and does not apply it', () => {
    const [add, revoke] = bundle.keyEvents!;
    const unproven = { ...add!, inclusionProof: flipProofHash(add!.inclusionProof, 0) };
    const result = verifyEvidenceBundle({ ...bundle, keyEvents: [unproven, revoke!] }, trust);
    // In log order: the add; the entry under the key it would have added; the revocation,
    // signed by that key, so not applied either.
    expect(result.problems.map((p) => [p.index, p.check])).toEqual([
      [1, 'keyEvent'],
      [2, 'key'],
      [3, 'keyEvent'],
    ]);
    expect(result.keyEventsApplied).toBe(0);
  });
});
