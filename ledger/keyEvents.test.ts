import { describe, expect, test } from 'vitest';
import { Statement } from '../domain/statement.ts';
import {
  KEY_EVENT_SALT,
  KeyTimeline,
  keyAddStatement,
  keysDisownedWith,
  keyRevokeStatement,
  type AnchorKey,
} from './keyEvents.ts';
import { fromHex, toBase64 } from './bytes.ts';
import { agencyKeyName, keyIdOf, signingKey, type SigningKey } from './keys.ts';
import { commitTo } from './statement.ts';

// Deterministic keys: seed = 32 copies of one byte.
const key = (agency: string, byte: number) =>
  signingKey(agencyKeyName(agency), new Uint8Array(32).fill(byte));
const w1 = key('water', 1);
const w2 = key('water', 2);
const w3 = key('water', 3);
const t1 = key('tax', 4);

const at = (day: number) => new Date(Date.UTC(2026, 0, day)).toISOString();
const anchor = (k: SigningKey, agency: string, validUntil: string | null = null): AnchorKey => ({
  keyId: k.keyId,
  agency,
  publicKey: k.publicKey,
  validFrom: at(1),
  validUntil,
});

function add(
  signer: SigningKey,
  added: SigningKey,
  issuedAt: string,
  window: {
    validFrom?: string;
    validUntil?: string | null;
    agency?: 'water' | 'tax';
    n?: number;
  } = {},
): Statement {
  return keyAddStatement({
    agency: window.agency ?? 'water',
    key: added,
    signingKeyId: signer.keyId,
    validFrom: window.validFrom ?? issuedAt,
    validUntil: window.validUntil ?? null,
    issuedAt,
    sequence: window.n ?? 1,
  });
}

function revoke(signer: SigningKey, revoked: SigningKey, issuedAt: string, revokedAt = issuedAt) {
  return keyRevokeStatement({
    agency: 'water',
    keyId: revoked.keyId,
    signingKeyId: signer.keyId,
    revokedAt,
    issuedAt,
    sequence: 1,
  });
}

describe('key event statements', () => {
  test('an add is an ordinary statement in the keys-<agency> case with its own sequence number', () => {
    const s = add(w1, w2, at(5), { n: 3 });
    expect(Statement.parse(s)).toEqual(s);
    expect(s).toMatchObject({
      statementId: 'keys-water/key.add/3',
      caseId: 'keys-water',
      stepId: 'key.add',
      agency: 'water',
      outcome: 'added',
      keyId: w1.keyId,
      facts: {
        keyId: w2.keyId,
        publicKey: Buffer.from(w2.publicKey).toString('base64'),
        validFrom: at(5),
        validUntil: null,
      },
    });
    expect(s.commitment).toBe(commitTo(KEY_EVENT_SALT, s.facts));
  });

  test('a revoke names the key and the moment it stops signing', () => {
    const s = revoke(w2, w1, at(6), at(4));
    expect(s).toMatchObject({
      statementId: 'keys-water/key.revoke/1',
      stepId: 'key.revoke',
      outcome: 'revoked',
      facts: { keyId: w1.keyId, revokedAt: at(4) },
    });
  });

  test('an add refuses a key id that does not name the public key', () => {
    expect(() => add(w1, { ...w2, keyId: w3.keyId }, at(5))).toThrow(RangeError);
  });

  test('an add refuses an empty validity window', () => {
    expect(() => add(w1, w2, at(5), { validUntil: at(5) })).toThrow(/empty window/);
  });

  test('a sequence number must be a positive integer', () => {
    expect(() => add(w1, w2, at(5), { n: 0 })).toThrow(RangeError);
  });
});

describe('KeyTimeline', () => {
  test('follows a rotation chain: each key introduces the next', () => {
    const tl = new KeyTimeline([anchor(w1, 'water')]);
    expect(tl.apply(add(w1, w2, at(5)))).toEqual({ applied: true });
    expect(tl.apply(add(w2, w3, at(7)))).toEqual({ applied: true });
    expect(tl.validAt(w2.keyId, 'water', at(6)).ok).toBe(true);
    expect(tl.validAt(w3.keyId, 'water', at(8)).ok).toBe(true);
    expect(tl.validAt(w1.keyId, 'water', at(8)).ok).toBe(true);
  });

  test('a key is not valid before its validFrom', () => {
    const tl = new KeyTimeline([anchor(w1, 'water')]);
    tl.apply(add(w1, w2, at(5), { validFrom: at(10) }));
    expect(tl.validAt(w2.keyId, 'water', at(9))).toMatchObject({
      ok: false,
      reason: 'notYetValid',
    });
    expect(tl.validAt(w2.keyId, 'water', at(10)).ok).toBe(true);
  });

  test('a key cannot be made valid before the statement that introduces it', () => {
    const tl = new KeyTimeline([anchor(w1, 'water')]);
    tl.apply(add(w1, w2, at(5), { validFrom: at(2) }));
    expect(tl.validAt(w2.keyId, 'water', at(4))).toMatchObject({
      ok: false,
      reason: 'notYetValid',
    });
  });

  // The timeline stands after the revocation entry, so what it judges now is logged after it:
  // an issuedAt before revokedAt is only the signer's word (the audit judges entries logged
  // before the revocation before it applies it).
  test('a key revoked by an earlier entry is invalid whatever the statement issuedAt', () => {
    const tl = new KeyTimeline([anchor(w1, 'water')]);
    tl.apply(add(w1, w2, at(5)));
    expect(tl.validAt(w1.keyId, 'water', at(5)).ok).toBe(true);
    expect(tl.apply(revoke(w2, w1, at(6)), 42)).toEqual({ applied: true });
    for (const issuedAt of [at(5), at(6), at(7)]) {
      const check = tl.validAt(w1.keyId, 'water', issuedAt);
      expect(check).toMatchObject({ ok: false, reason: 'revoked' });
      expect(!check.ok && check.message).toContain(`was revoked at ${at(6)} (entry 42)`);
    }
    expect(tl.validAt(w2.keyId, 'water', at(7)).ok).toBe(true);
  });

  // The reviewer's scenario: the holder of a compromised key, revoked at log index 5, dates a
  // key.add of a key of their own before the revocation and appends it later (index 9).
  test('a key.add signed by a revoked key and dated before the revocation is refused', () => {
    const evil = key('water', 9);
    const tl = new KeyTimeline([anchor(w1, 'water')]);
    expect(tl.apply(revoke(w1, w1, at(60)), 5)).toEqual({ applied: true });
    expect(tl.apply(add(w1, evil, at(45), { validFrom: at(32) }), 9)).toMatchObject({
      applied: false,
      reason: 'signerNotValid',
    });
    expect(tl.validAt(evil.keyId, 'water', at(366))).toMatchObject({
      ok: false,
      reason: 'unknownKey',
    });
    expect(tl.validAt(w1.keyId, 'water', at(59))).toMatchObject({ ok: false, reason: 'revoked' });
  });

  // What a thief signed between the compromise (revokedAt) and the revocation's entry passed
  // when it was logged; the revocation disowns it, and what the thief's own keys signed.
  test('a revocation disowns what the key signed from revokedAt on, logged before it', () => {
    const tl = new KeyTimeline([anchor(w1, 'water'), anchor(w2, 'water')]);
    expect(tl.validAt(w1.keyId, 'water', at(3), 10, at(3)).ok).toBe(true); // before the compromise
    expect(tl.validAt(w1.keyId, 'water', at(6), 11, at(6)).ok).toBe(true); // the thief's
    expect(tl.validAt(w2.keyId, 'water', at(7), 12, at(7)).ok).toBe(true); // another key's
    expect(tl.validAt(w1.keyId, 'water', at(5), 13, at(5)).ok).toBe(true); // the thief's, at revokedAt
    expect(tl.apply(revoke(w2, w1, at(9), at(5)), 20)).toEqual({ applied: true });
    expect(tl.disowned()).toEqual([
      {
        index: 11,
        keyId: w1.keyId,
        message: `entry is disowned: key ${w1.keyId} was revoked at ${at(5)} (entry 20), and it was logged at ${at(6)}`,
      },
      expect.objectContaining({ index: 13, keyId: w1.keyId }),
    ]);
  });

  // issuedAt is the signer's word; sequencedAt is the log's clock, which the thief does not set.
  test('judges by when the log took the entry, not by the issuedAt its signer chose', () => {
    const tl = new KeyTimeline([anchor(w1, 'water'), anchor(w2, 'water')]);
    expect(tl.validAt(w1.keyId, 'water', at(2), 11, at(6)).ok).toBe(true); // backdated
    tl.apply(revoke(w2, w1, at(9), at(5)), 20);
    expect(tl.disowned()).toEqual([
      {
        index: 11,
        keyId: w1.keyId,
        message: `entry is disowned: key ${w1.keyId} was revoked at ${at(5)} (entry 20), and it was logged at ${at(6)}`,
      },
    ]);
  });

  test('a key an entry so disowned introduced is disowned wholly, with all it signed', () => {
    const evil = key('water', 9);
    const tl = new KeyTimeline([anchor(w1, 'water'), anchor(w2, 'water')]);
    expect(tl.validAt(w1.keyId, 'water', at(6), 11, at(6)).ok).toBe(true);
    expect(tl.apply(add(w1, evil, at(6)), 11).applied).toBe(true);
    expect(tl.validAt(evil.keyId, 'water', at(7), 12, at(7)).ok).toBe(true);
    tl.apply(revoke(w2, w1, at(9), at(5)), 20);
    // Logged after the revocation too: the thief's key is the thief's, whatever it signs.
    expect(tl.validAt(evil.keyId, 'water', at(10), 30, at(10)).ok).toBe(true);
    const disowned = tl.disowned();
    expect(disowned.map((d) => [d.index, d.keyId])).toEqual([
      [11, w1.keyId],
      [12, evil.keyId],
      [30, evil.keyId],
    ]);
    expect(disowned[1]!.message).toContain(
      `key ${evil.keyId} was introduced by entry 11, which is disowned`,
    );
  });

  // A thief holding a key of the agency may revoke its honest key back to 1970. The agency's
  // revocation of the stolen key back to the theft, logged later, has the last word.
  test('the latest revocation has the last word: one it disowns reaches back over nothing', () => {
    const tl = new KeyTimeline([anchor(w1, 'water'), anchor(w2, 'water'), anchor(w3, 'water')]);
    expect(tl.validAt(w2.keyId, 'water', at(3), 10, at(3)).ok).toBe(true); // the honest key's history
    // The thief, with w1 stolen at day 5, revokes the honest w2 back to 1970.
    expect(tl.validAt(w1.keyId, 'water', at(6), 11, at(6)).ok).toBe(true);
    const thiefs = revoke(w1, w2, at(6), '1970-01-01T00:00:00.000Z');
    expect(tl.apply(thiefs, 11)).toEqual({ applied: true });
    // Before the agency answers, the thief's revocation disowns the honest history.
    expect(tl.disowned().map((d) => d.index)).toEqual([10]);
    // The agency revokes w1 back to the theft with its third key.
    tl.apply(revoke(w3, w1, at(7), at(5)), 12);
    expect(tl.disowned().map((d) => [d.index, d.keyId])).toEqual([[11, w1.keyId]]);
    // The revocation's forward effect stays, as the ledger enforced it: w2 signs no more.
    expect(tl.validAt(w2.keyId, 'water', at(8))).toMatchObject({ ok: false, reason: 'revoked' });
  });

  test('a revocation disowns what any revocation of the key reaches, the earliest reaching furthest', () => {
    const tl = new KeyTimeline([anchor(w1, 'water'), anchor(w2, 'water')]);
    tl.validAt(w1.keyId, 'water', at(4), 10, at(4));
    tl.validAt(w1.keyId, 'water', at(7), 11, at(7));
    tl.apply(revoke(w2, w1, at(9), at(6)), 20);
    expect(tl.disowned().map((d) => d.index)).toEqual([11]);
    tl.apply(revoke(w2, w1, at(9), at(3)), 21);
    expect(tl.disowned().map((d) => d.index)).toEqual([10, 11]);
  });

  test('a revocation disowns nothing logged after it, nor what it was not told the index of', () => {
    const tl = new KeyTimeline([anchor(w1, 'water'), anchor(w2, 'water')]);
    tl.validAt(w1.keyId, 'water', at(6));
    tl.validAt(w1.keyId, 'water', at(6), 30, at(6));
    tl.apply(revoke(w2, w1, at(9), at(5)), 20);
    expect(tl.disowned()).toEqual([]);
  });

  test('a key may revoke itself, also back to an earlier moment', () => {
    const tl = new KeyTimeline([anchor(w1, 'water')]);
    expect(tl.apply(revoke(w1, w1, at(6), at(3)))).toEqual({ applied: true });
    expect(tl.validAt(w1.keyId, 'water', at(4))).toMatchObject({ ok: false, reason: 'revoked' });
  });

  test('a later revocation never extends an earlier one', () => {
    const tl = new KeyTimeline([anchor(w1, 'water'), anchor(w2, 'water')]);
    tl.apply(revoke(w2, w1, at(5)));
    tl.apply(revoke(w2, w1, at(6), at(9)));
    expect(tl.validAt(w1.keyId, 'water', at(7))).toMatchObject({ ok: false, reason: 'revoked' });
    expect(tl.keys().find((k) => k.keyId === w1.keyId)?.validUntil).toBe(at(5));
  });

  test('an add signed by a revoked key is ignored and reported', () => {
    const tl = new KeyTimeline([anchor(w1, 'water')]);
    tl.apply(revoke(w1, w1, at(5)));
    expect(tl.apply(add(w1, w2, at(6)))).toMatchObject({
      applied: false,
      reason: 'signerNotValid',
    });
    expect(tl.validAt(w2.keyId, 'water', at(7))).toMatchObject({ ok: false, reason: 'unknownKey' });
  });

  test("an add signed by another agency's key is ignored and reported", () => {
    const tl = new KeyTimeline([anchor(w1, 'water'), anchor(t1, 'tax')]);
    expect(tl.apply(add(t1, w2, at(5)))).toMatchObject({
      applied: false,
      reason: 'signerNotValid',
    });
    expect(tl.validAt(w2.keyId, 'water', at(6)).ok).toBe(false);
  });

  test('an agency cannot add a key another agency holds', () => {
    const tl = new KeyTimeline([anchor(w1, 'water'), anchor(t1, 'tax')]);
    expect(tl.apply(add(w1, t1, at(5)))).toMatchObject({ applied: false, reason: 'otherAgency' });
    expect(tl.validAt(t1.keyId, 'tax', at(6)).ok).toBe(true);
  });

  test('an add of a key of small order is refused when made, and ignored and reported when read', () => {
    const identity = fromHex('01' + '00'.repeat(31)); // R = B, S = 1 verify under it for anything
    const weak = { keyId: keyIdOf(agencyKeyName('water'), identity), publicKey: identity };
    expect(() => add(w1, weak as SigningKey, at(5))).toThrow(/is no usable Ed25519 public key/);
    // The same event as a log could hold it, its facts written by hand.
    const genuine = add(w1, w2, at(5));
    const forged: Statement = {
      ...genuine,
      facts: { ...genuine.facts, keyId: weak.keyId, publicKey: toBase64(identity) },
    };
    const tl = new KeyTimeline([anchor(w1, 'water')]);
    expect(tl.apply(forged)).toMatchObject({ applied: false, reason: 'malformed' });
    expect(tl.validAt(weak.keyId, 'water', at(6))).toMatchObject({
      ok: false,
      reason: 'unknownKey',
    });
  });

  test('a revoke of an unknown key is ignored and reported', () => {
    const tl = new KeyTimeline([anchor(w1, 'water')]);
    expect(tl.apply(revoke(w1, w3, at(5)))).toMatchObject({ applied: false, reason: 'unknownKey' });
  });

  test('a self-signed add is trusted only for a key the verifier anchors (bootstrap)', () => {
    const anchored = new KeyTimeline([anchor(w1, 'water')]);
    expect(anchored.apply(add(w1, w1, at(5)))).toEqual({ applied: true });
    const stranger = new KeyTimeline([]);
    expect(stranger.apply(add(w2, w2, at(5)))).toMatchObject({
      applied: false,
      reason: 'signerNotValid',
    });
  });

  test('events narrow an anchored window and never widen it', () => {
    const tl = new KeyTimeline([anchor(w1, 'water'), anchor(w2, 'water', at(10))]);
    // w1 re-adds w2 with a later start and no end: the start narrows, the end stays.
    expect(tl.apply(add(w1, w2, at(4), { validFrom: at(5) }))).toEqual({ applied: true });
    expect(tl.validAt(w2.keyId, 'water', at(3)).ok).toBe(false);
    expect(tl.validAt(w2.keyId, 'water', at(6)).ok).toBe(true);
    expect(tl.validAt(w2.keyId, 'water', at(11))).toMatchObject({ ok: false, reason: 'expired' });
  });

  test('an event in the wrong case, or with a commitment not over its facts, is malformed', () => {
    const tl = new KeyTimeline([anchor(w1, 'water')]);
    const s = add(w1, w2, at(5));
    expect(tl.apply({ ...s, caseId: 'keys-tax', statementId: 'keys-tax/key.add/1' })).toMatchObject(
      {
        applied: false,
        reason: 'malformed',
      },
    );
    expect(
      tl.apply({ ...s, commitment: commitTo(KEY_EVENT_SALT, { ...s.facts, validUntil: at(9) }) }),
    ).toMatchObject({ applied: false, reason: 'malformed' });
    expect(tl.apply({ ...s, facts: { ...s.facts, extra: 1 } })).toMatchObject({
      applied: false,
      reason: 'malformed',
    });
    expect(tl.validAt(w2.keyId, 'water', at(6)).ok).toBe(false);
  });
});

describe('keysDisownedWith', () => {
  const w4 = key('water', 5);
  /** A key event as the log holds it: logged when it says it was issued. */
  const logged = (statement: Statement) => ({ statement, sequencedAt: statement.issuedAt });
  test('names the keys the revoked key added from revokedAt on, and those they added, at any time', () => {
    const events = [
      add(w1, w2, at(3)), // before the theft: the agency's own rotation
      add(w1, w3, at(6)), // the thief's
      add(w3, w4, at(7), { n: 2 }), // the thief's key adding another
    ].map(logged);
    expect(keysDisownedWith(events, w1.keyId, at(5))).toEqual([w3.keyId, w4.keyId]);
    expect(keysDisownedWith(events, w1.keyId, at(2))).toEqual([w2.keyId, w3.keyId, w4.keyId]);
    expect(keysDisownedWith(events, w2.keyId, at(1))).toEqual([]);
  });

  test('takes neither a self-signed add (a first key) nor a key an earlier add introduced', () => {
    const events = [add(w1, w1, at(6)), add(w2, w3, at(6)), add(w1, w3, at(7), { n: 2 })].map(
      logged,
    );
    expect(keysDisownedWith(events, w1.keyId, at(5))).toEqual([]);
  });
});
