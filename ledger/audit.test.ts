import { describe, expect, test } from 'vitest';
import { STATEMENT_TYPE, type Statement } from '../domain/statement.ts';
import { auditLedger, type TrustedAgencyKey } from './audit.ts';
import { fromUtf8, toBase64, utf8 } from './bytes.ts';
import { verifyEd25519 } from './ed25519.ts';
import { chainEntries } from './entry.ts';
import { keyAddStatement, keyRevokeStatement } from './keyEvents.ts';
import { agencyKeyName, signingKey, type SigningKey } from './keys.ts';
import { rootFromLeafHashes } from './proof.ts';
import { hashLeaf } from './rfc9162.ts';
import { signStatement } from './statement.ts';
import {
  encodeEntryBundle,
  encodeTile,
  entriesTilePath,
  tileHashesFromLeafHashes,
  tilePath,
  tilesForSize,
} from './tiles.ts';

// Deterministic keys: seed = 32 copies of one byte.
const water = signingKey(agencyKeyName('water'), new Uint8Array(32).fill(4));
const stranger = signingKey(agencyKeyName('water'), new Uint8Array(32).fill(9));
const anchors: TrustedAgencyKey[] = [
  {
    keyId: water.keyId,
    agency: 'water',
    publicKey: water.publicKey,
    validFrom: '2026-01-01T00:00:00Z',
  },
];
const SEQUENCED_AT = '2026-01-10T09:00:01.000Z';

const statement = (stepId: string, outcome = 'approved', key = water): Statement => ({
  type: STATEMENT_TYPE,
  statementId: `case-1/${stepId}`,
  caseId: 'case-1',
  stepId,
  agency: 'water',
  outcome,
  commitment: toBase64(new Uint8Array(32).fill(7)),
  facts: {},
  issuedAt: '2026-01-10T09:00:00Z',
  keyId: key.keyId,
});

/** Chains `statements`, each logged when it says it was issued (revocations reach back by it). */
const chainLoggedAsIssued = (statements: Statement[], keys: SigningKey[]) =>
  statements
    .reduce<ReturnType<typeof chainEntries>>(
      (chained, s) => [
        ...chained,
        ...chainEntries(
          [
            signStatement(
              s,
              keys.find((k) => k.keyId === s.keyId)!,
            ),
          ],
          chained.length,
          chained.at(-1)?.leafHash ?? new Uint8Array(32),
          new Date(s.issuedAt).toISOString(),
        ),
      ],
      [],
    )
    .map((e) => e.bytes);

/** `s` as if issued at `issuedAt`: chainLoggedAsIssued logs it then. */
const dated = (s: Statement, issuedAt: string): Statement => ({ ...s, issuedAt });

/** A key.add, signed by water's key, that makes the stranger's key one of water's. */
const strangerAdded = ({ validFrom, issuedAt }: { validFrom: string; issuedAt: string }) =>
  keyAddStatement({
    agency: 'water',
    key: stranger,
    signingKeyId: water.keyId,
    validFrom,
    validUntil: null,
    issuedAt,
    sequence: 1,
  });

/** A key.revoke, signed by water's key itself, that disowns that key from `revokedAt` on. */
const waterKeyRevoked = ({ revokedAt, issuedAt }: { revokedAt: string; issuedAt: string }) =>
  keyRevokeStatement({
    agency: 'water',
    keyId: water.keyId,
    signingKeyId: water.keyId,
    revokedAt,
    issuedAt,
    sequence: 1,
  });

const chain = (statements: Statement[], keys = [water]) =>
  chainEntries(
    statements.map((s) =>
      signStatement(
        s,
        keys.find((k) => k.keyId === s.keyId)!,
      ),
    ),
    0,
    new Uint8Array(32),
    SEQUENCED_AT,
  ).map((e) => e.bytes);

/**
 * Audits a log served as tlog-tiles from memory: hash tiles and the checkpoint root are
 * computed from `covered` entries (the log as the checkpoint signs it), the entry bundle
 * holds `served` (by default the same entries).
 */
function audit(
  covered: Uint8Array[],
  served = covered,
  maxFindings?: number,
  alter?: (files: Map<string, Uint8Array>) => void,
) {
  const leaves = covered.map((e) => hashLeaf(e));
  const size = covered.length;
  const files = new Map<string, Uint8Array>();
  for (const t of tilesForSize(size))
    files.set(tilePath(t.level, t.index, t.width), encodeTile(tileHashesFromLeafHashes(t, leaves)));
  files.set(entriesTilePath(0, size), encodeEntryBundle(served));
  alter?.(files);
  return auditLedger({
    fetchPath: (path) => {
      const file = files.get(path);
      return file ? Promise.resolve(file) : Promise.reject(new Error(`missing ${path}`));
    },
    checkpoint: {
      origin: 'audit.test/log',
      size,
      rootHash: rootFromLeafHashes(leaves),
      extensions: [],
    },
    agencyKeys: anchors,
    verifyBatch: (items) =>
      Promise.resolve(items.map((i) => verifyEd25519(i.publicKey, i.message, i.signature))),
    ...(maxFindings === undefined ? {} : { maxFindings }),
  });
}

describe('auditLedger', () => {
  test('passes a log as the sequencer writes it', async () => {
    const result = await audit(chain([statement('a'), statement('b')]));
    expect(result.findings).toEqual([]);
    expect(result).toMatchObject({ ok: true, signaturesChecked: 2 });
  });

  test('reports a statement appended a second time, naming the entry that holds it first', async () => {
    const result = await audit(chain([statement('a'), statement('b'), statement('a', 'rejected')]));
    expect(result.findings).toEqual([
      { index: 2, problem: 'statement case-1/a was already appended at 0' },
    ]);
  });

  test('reports an entry nested too deep to read as a finding, and audits the entries after it', async () => {
    // 20,000 arrays within each other in a member beside the statement's own: ~40 KB, an
    // entry a bundle can hold. Reading it recursively exhausted the stack and failed the audit.
    const [first, second, third] = chain([statement('a'), statement('b'), statement('c')]);
    const depth = 20_000;
    const deep = utf8(
      fromUtf8(second!).replace(
        '"type":',
        `"deep":${'['.repeat(depth)}${']'.repeat(depth)},"type":`,
      ),
    );
    const result = await audit([first!, deep, third!]);
    expect(result.findings.map((f) => [f.index, f.problem])).toEqual([
      [
        1,
        'entry is not RFC 8785 canonical JSON: what it parses to has no canonical form here (a number out of range, or nesting too deep)',
      ],
      // Changed after it was chained: the entry after it no longer chains to it.
      [2, expect.stringMatching(/^entry does not chain to the one before it/)],
    ]);
    expect(result.signaturesChecked).toBe(2);
  });

  // The reviewer's tamper: an unknown member and a second, forged "statement" member before
  // the signed one. JSON.parse keeps the last (signed) one, a first-wins reader the forgery.
  test('reports an entry with a duplicated member and a member the format does not have', async () => {
    const [first, second] = chain([statement('a'), statement('b')]);
    const forged = JSON.stringify({ ...statement('b'), outcome: 'rejected' });
    const tampered = utf8(
      fromUtf8(second!).replace(
        '"statement":',
        `"comment":"operator was here","statement":${forged},"statement":`,
      ),
    );
    const result = await audit([first!, tampered]);
    expect(result.ok).toBe(false);
    expect(result.findings.map((f) => [f.index, f.problem])).toEqual([
      [1, 'entry has members the fixed format does not: comment'],
      [1, expect.stringMatching(/^entry is not RFC 8785 canonical JSON: .* at byte \d+$/)],
    ]);
  });

  test.each([
    [
      'a duplicated statement member',
      (t: string) => t.replace('"statement":', '"statement":{},"statement":'),
    ],
    ['white space', (t: string) => t.replace('"index":1,', '"index": 1,')],
    [
      'members out of RFC 8785 order',
      (t: string) => t.replace(/^\{("index":1,)("prevLeafHash":"[^"]*",)/, '{$2$1'),
    ],
    [
      'an escape RFC 8785 does not use',
      (t: string) => t.replace('"outcome":"approved"', '"outcome":"appr\\u006fved"'),
    ],
  ])('reports an entry that is not RFC 8785 canonical JSON: %s', async (_, mutate) => {
    const [first, second] = chain([statement('a'), statement('b')]);
    const mutated = utf8(mutate(fromUtf8(second!)));
    expect(mutated).not.toEqual(second);
    const result = await audit([first!, mutated]);
    expect(result.findings.map((f) => [f.index, f.problem])).toEqual([
      [1, expect.stringMatching(/^entry is not RFC 8785 canonical JSON: /)],
    ]);
  });

  test('keeps the earliest findings by index when there are more than it keeps, a signature found last included', async () => {
    const [a, b, c] = chain([statement('a'), statement('b'), statement('c')]).map(fromUtf8);
    // Entry 0's signature zeroed (found when its batch is verified, after every entry is read),
    // so entry 1 no longer chains to it; entry 2 names another index (found as it is read).
    const zeroed = a!.replace(
      /"signature":"[^"]+"/,
      `"signature":"${toBase64(new Uint8Array(64))}"`,
    );
    const misnumbered = c!.replace('"index":2,', '"index":5,');
    const entries = [zeroed, b!, misnumbered].map(utf8);
    const all = await audit(entries);
    expect(all.findings.map((f) => f.index)).toEqual([0, 1, 2]);
    const first = await audit(entries, entries, 1);
    expect(first.findingCount).toBe(3);
    expect(first.findings).toEqual([
      { index: 0, problem: `statement signature does not verify under key ${water.keyId}` },
    ]);
  });

  test('says an entry bundle holds entries the checkpoint does not cover, and how many', async () => {
    const entries = chain([statement('a'), statement('b'), statement('c')]);
    const result = await audit(entries.slice(0, 2), entries);
    expect(result.findings.map((f) => [f.index, f.problem])).toEqual([
      [-1, 'read 3 entries, the checkpoint covers 2'],
      [2, 'entry bundle at 0 holds 3 entries where the checkpoint needs 2: 1 extra'],
    ]);
  });

  test('reports a hash tile that is no tile as a finding', async () => {
    const entries = chain([statement('a'), statement('b'), statement('c')]);
    const result = await audit(entries, entries, undefined, (files) =>
      files.set(tilePath(0, 0, 3), new Uint8Array(95)),
    );
    expect(result.findings.map((f) => f.problem)).toEqual([
      expect.stringMatching(/^hash tiles could not be read: MalformedTileError/),
    ]);
  });

  test('fails, rather than report a finding, when the source cannot serve a hash tile at all', async () => {
    const entries = chain([statement('a'), statement('b'), statement('c')]);
    const unread = audit(entries, entries, undefined, (files) => files.delete(tilePath(0, 0, 3)));
    await expect(unread).rejects.toThrow('missing tile/0/000.p/3');
  });

  test('says an entry bundle lacks entries the checkpoint covers, and how many', async () => {
    const entries = chain([statement('a'), statement('b'), statement('c')]);
    const result = await audit(entries, entries.slice(0, 1));
    expect(result.findings.map((f) => [f.index, f.problem])).toEqual([
      [-1, 'read 1 entries, the checkpoint covers 3'],
      [1, 'entry bundle at 0 holds 1 entries where the checkpoint needs 3: 2 missing'],
    ]);
  });

  // Water revokes its key on 1 March as stolen from 1 February on: the revocation the next two
  // tests log after a thief's entries.
  const revokedFromFebruary = waterKeyRevoked({
    revokedAt: '2026-02-01T00:00:00Z',
    issuedAt: '2026-03-01T00:00:00Z',
  });

  // The thief's window: between the compromise (revokedAt) and the revocation's entry, what the
  // key signed passed when it was logged. The revocation disowns it, and the key it added.
  test('reports what a revoked key signed from revokedAt on, logged before the revocation', async () => {
    const thiefsAdd = strangerAdded({
      validFrom: '2026-02-15T00:00:00Z',
      issuedAt: '2026-02-15T00:00:00Z',
    });
    const result = await audit(
      chainLoggedAsIssued(
        [
          statement('a'),
          thiefsAdd,
          dated(statement('c', 'approved', stranger), '2026-02-20T00:00:00Z'),
          // Sequenced before the entry ahead of it (a host's clock behind): judged as logged
          // when that one was.
          dated(statement('d'), '2026-02-18T00:00:00Z'),
          revokedFromFebruary,
          dated(statement('e', 'approved', stranger), '2026-03-02T00:00:00Z'),
        ],
        [water, stranger],
      ),
    );
    const revoked = `key ${water.keyId} was revoked at 2026-02-01T00:00:00Z (entry 4)`;
    const introduced = `key ${stranger.keyId} was introduced by entry 1, which is disowned`;
    expect(result.findings.map((f) => [f.index, f.problem])).toEqual([
      [1, `entry is disowned: ${revoked}, and it was logged at 2026-02-15T00:00:00.000Z`],
      [2, `entry is disowned: ${introduced}, and it was logged at 2026-02-20T00:00:00.000Z`],
      [3, `entry is disowned: ${revoked}, and it was logged at 2026-02-20T00:00:00.000Z`],
      [
        5,
        // Logged after the revocation: the thief's key signs nothing the agency owns.
        `entry is disowned: ${introduced}, and it was logged at 2026-03-02T00:00:00.000Z`,
      ],
    ]);
    expect(result.ok).toBe(false);
  });

  // The operator's way past a revocation: the thief's entry logged with a sequencedAt before
  // revokedAt. The reach back judges it by the log's clock, which it cannot turn back.
  test("disowns a thief's entry backdated before revokedAt: it counts as logged when the entry ahead of it was", async () => {
    const result = await audit(
      chainLoggedAsIssued(
        [
          statement('a'),
          dated(statement('b'), '2026-02-10T00:00:00Z'),
          dated(statement('thief'), '2026-01-20T00:00:00Z'),
          revokedFromFebruary,
        ],
        [water],
      ),
    );
    expect(result.findings.map((f) => [f.index, f.problem])).toEqual([
      [
        1,
        `entry is disowned: key ${water.keyId} was revoked at 2026-02-01T00:00:00Z (entry 3), and it was logged at 2026-02-10T00:00:00.000Z`,
      ],
      [
        2,
        `entry is disowned: key ${water.keyId} was revoked at 2026-02-01T00:00:00Z (entry 3), and it was logged at 2026-02-10T00:00:00.000Z`,
      ],
    ]);
  });

  // A key revoked by an entry signs nothing logged after it, however its statements are dated.
  test('refuses a revoked key in later entries, a key.add dated before the revocation included', async () => {
    const revoke = waterKeyRevoked({
      revokedAt: '2026-03-01T00:00:00Z',
      issuedAt: '2026-03-01T00:00:00Z',
    });
    const backdatedAdd = strangerAdded({
      validFrom: '2026-02-01T00:00:00Z',
      issuedAt: '2026-02-15T00:00:00Z',
    });
    const byStranger = {
      ...statement('c', 'approved', stranger),
      issuedAt: '2026-04-01T00:00:00Z',
    };
    const result = await audit(
      chain([statement('a'), revoke, backdatedAdd, statement('b'), byStranger], [water, stranger]),
    );
    const revoked = `key ${water.keyId} was revoked at 2026-03-01T00:00:00Z (entry 1) and signs nothing logged after its revocation`;
    expect(result.findings.map((f) => [f.index, f.problem])).toEqual([
      [2, `${revoked}; the statement says it was issued at 2026-02-15T00:00:00Z`],
      [3, `${revoked}; the statement says it was issued at 2026-01-10T09:00:00Z`],
      [4, `statement is signed with key ${stranger.keyId}, which the verifier does not trust`],
    ]);
  });
});
