// Agency key events (ARCHITECTURE.md §3, Keys: "Key changes are themselves ledger entries").
// A key event is an ordinary signed statement in the fixed format of domain/statement.ts:
//   caseId `keys-<agency>`, stepId `key.add` or `key.revoke`, statementId
//   `keys-<agency>/<stepId>/<n>` (n = 1, 2, … per step: each event its own idempotency key),
//   outcome `added` / `revoked`, facts as in KeyAddFacts / KeyRevokeFacts, commitment
//   commitTo(KEY_EVENT_SALT, facts).
// Who may sign: an add by a key of the agency valid at its issuedAt (rotation: the old key
// introduces the new one), or by the added key itself when the verifier already anchors it
// out of band (an agency's first key); a revoke by any valid key of the agency, itself included.
// A revoked key signs nothing logged after its revocation, whatever issuedAt a statement
// gives: issuedAt is the signer's word, and whoever holds a compromised key can backdate it.
// A revocation also reaches back: what the key got logged at or after revokedAt, by the log's
// own clock (the latest sequencedAt of the entries up to it, which no signer sets: an entry
// backdated before one logged ahead of it counts as logged no earlier, ledger/entry.ts
// LogClock), and before the revocation (what a thief signed before the loss was noticed), is
// disowned,
// and so is every key such an entry introduced, with all it signed. The latest revocation has
// the last word: a revocation an entry after it disowns (the thief's, revoking an honest key
// back to 1970) reaches back over nothing (KeyTimeline.disowned).
// KeyTimeline folds events in log order over the verifier's anchors (its trust file).
import { z } from 'zod';
import type { Signer } from '../domain/agency.ts';
import { Base64Hash, KeyId, Statement, STATEMENT_TYPE } from '../domain/statement.ts';
import { fromBase64, toBase64, utf8 } from './bytes.ts';
import { isUnusablePublicKey, UNUSABLE_KEY } from './ed25519.ts';
import { keyIdOf } from './keys.ts';
import { commitTo } from './statement.ts';

export const KEY_EVENT_CASE_PREFIX = 'keys-';
export const KEY_ADD_STEP = 'key.add';
export const KEY_REVOKE_STEP = 'key.revoke';

/**
 * The commitment salt of key events: fixed and public, since their facts are public keys and
 * times, nothing personal; the commitment only binds the facts as every statement's does.
 */
export const KEY_EVENT_SALT = utf8('onewindow/key-event/v1');

// Not before the epoch: no key was valid then, and a time PostgreSQL cannot take (year 0000)
// would fail the sequencer's whole commit, which writes a revocation's time with its entry.
const Rfc3339 = z.iso
  .datetime({ offset: true })
  .refine((text) => Date.parse(text) >= 0, 'must not be before 1970-01-01T00:00:00Z');

/** Facts of `key.add`. `publicKey` is the raw 32-byte Ed25519 key in base64 (same shape as a hash). */
export const KeyAddFacts = z.strictObject({
  keyId: KeyId,
  publicKey: Base64Hash,
  validFrom: Rfc3339,
  validUntil: Rfc3339.nullable(),
});
export type KeyAddFacts = z.infer<typeof KeyAddFacts>;

/**
 * Facts of `key.revoke`: the key signs nothing logged after this event, whatever issuedAt a
 * statement gives (KeyTimeline); `revokedAt` is when the agency says its use ended.
 */
export const KeyRevokeFacts = z.strictObject({ keyId: KeyId, revokedAt: Rfc3339 });
export type KeyRevokeFacts = z.infer<typeof KeyRevokeFacts>;

/** The case id under which an agency's key events are logged. */
export function keyEventCaseId(agency: Signer): string {
  return `${KEY_EVENT_CASE_PREFIX}${agency}`;
}

/** Whether a statement is in the key-event namespace (a UUID case id never starts with `keys-`). */
export function isKeyEvent(statement: Pick<Statement, 'caseId'>): boolean {
  return statement.caseId.startsWith(KEY_EVENT_CASE_PREFIX);
}

/** The `n` of a statement id `<caseId>/<stepId>/<n>`, or undefined when it has none. */
export function keyEventSequence(
  statement: Pick<Statement, 'statementId' | 'caseId' | 'stepId'>,
): number | undefined {
  const prefix = `${statement.caseId}/${statement.stepId}/`;
  if (!statement.statementId.startsWith(prefix)) return undefined;
  const n = Number(statement.statementId.slice(prefix.length));
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function keyEvent(
  agency: Signer,
  stepId: string,
  outcome: string,
  facts: KeyAddFacts | KeyRevokeFacts,
  signingKeyId: string,
  issuedAt: string,
  sequence: number,
): Statement {
  if (!Number.isSafeInteger(sequence) || sequence < 1)
    throw new RangeError(`a key event sequence number is a positive integer, got ${sequence}`);
  const caseId = keyEventCaseId(agency);
  const parsed = Statement.safeParse({
    type: STATEMENT_TYPE,
    statementId: `${caseId}/${stepId}/${sequence}`,
    caseId,
    stepId,
    agency,
    outcome,
    commitment: commitTo(KEY_EVENT_SALT, facts),
    facts,
    issuedAt,
    keyId: signingKeyId,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RangeError(`key event: ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * The unsigned `key.add` statement introducing `key` for `agency`, to be signed by
 * `signingKeyId` (sign it with ledger/statement.ts `signStatement`). Times are RFC 3339.
 * @throws RangeError when the key id does not match the public key, the window is empty or
 *   a field is malformed.
 * @example keyAddStatement({ agency: 'water', key, signingKeyId: old.keyId,
 *   validFrom: now, validUntil: null, issuedAt: now, sequence: 1 })
 */
export function keyAddStatement(input: {
  agency: Signer;
  key: { keyId: string; publicKey: Uint8Array };
  signingKeyId: string;
  validFrom: string;
  validUntil: string | null;
  issuedAt: string;
  sequence: number;
}): Statement {
  const facts = KeyAddFacts.safeParse({
    keyId: input.key.keyId,
    publicKey: toBase64(input.key.publicKey),
    validFrom: input.validFrom,
    validUntil: input.validUntil,
  });
  if (!facts.success) {
    const issue = facts.error.issues[0]!;
    throw new RangeError(`key.add facts: ${issue.path.join('.')}: ${issue.message}`);
  }
  const problem = addFactsProblem(facts.data);
  if (problem) throw new RangeError(problem);
  return keyEvent(
    input.agency,
    KEY_ADD_STEP,
    'added',
    facts.data,
    input.signingKeyId,
    input.issuedAt,
    input.sequence,
  );
}

/**
 * The unsigned `key.revoke` statement ending `keyId`'s validity at `revokedAt`, to be signed
 * by `signingKeyId`, a key of the same agency (possibly `keyId` itself).
 * @throws RangeError when a field is malformed.
 */
export function keyRevokeStatement(input: {
  agency: Signer;
  keyId: string;
  signingKeyId: string;
  revokedAt: string;
  issuedAt: string;
  sequence: number;
}): Statement {
  const facts = KeyRevokeFacts.safeParse({ keyId: input.keyId, revokedAt: input.revokedAt });
  if (!facts.success) {
    const issue = facts.error.issues[0]!;
    throw new RangeError(`key.revoke facts: ${issue.path.join('.')}: ${issue.message}`);
  }
  return keyEvent(
    input.agency,
    KEY_REVOKE_STEP,
    'revoked',
    facts.data,
    input.signingKeyId,
    input.issuedAt,
    input.sequence,
  );
}

/** What is wrong with parsed add facts beyond their shape, or undefined. */
function addFactsProblem(facts: KeyAddFacts): string | undefined {
  const name = facts.keyId.slice(0, facts.keyId.lastIndexOf('+'));
  // The key id is <name>+<hash of name and key> (c2sp.org/signed-note): it must name this key.
  if (keyIdOf(name, fromBase64(facts.publicKey)) !== facts.keyId)
    return `key id ${facts.keyId} does not match the public key ${facts.publicKey}`;
  // Under a key of small order anyone can make a signature verify (ledger/ed25519.ts).
  if (isUnusablePublicKey(fromBase64(facts.publicKey))) return `key ${facts.keyId} ${UNUSABLE_KEY}`;
  if (facts.validUntil !== null && Date.parse(facts.validUntil) <= Date.parse(facts.validFrom))
    return `key ${facts.keyId} would be valid from ${facts.validFrom} until ${facts.validUntil}: an empty window`;
  return undefined;
}

/** A key as the timeline knows it: validity is [validFrom, validUntil). */
export interface KeyWindow {
  keyId: string;
  agency: string;
  publicKey: Uint8Array;
  validFrom: string;
  /** Null for no end. A revocation lowers it to `revokedAt`. */
  validUntil: string | null;
  /** The earliest revocation applied, or null; once set, the key signs nothing more. */
  revokedAt: string | null;
  /** The log index of that revocation, when the caller gave one. */
  revokedBy?: number;
}

/** A key the verifier trusts out of band (its trust file), as in ledger/audit.ts. */
export interface AnchorKey {
  keyId: string;
  agency: string;
  publicKey: Uint8Array;
  validFrom: string;
  validUntil?: string | null;
}

export type KeyRefusal = 'unknownKey' | 'otherAgency' | 'notYetValid' | 'revoked' | 'expired';
export type KeyCheck =
  { ok: true; key: KeyWindow } | { ok: false; reason: KeyRefusal; message: string };

export type KeyEventRefusal =
  'malformed' | 'signerNotValid' | 'otherAgency' | 'publicKeyMismatch' | 'unknownKey';
/**
 * An entry a revocation disowns: logged before it and signed by the revoked key at or after
 * its revokedAt, or signed by a key such an entry introduced.
 */
export interface DisownedEntry {
  index: number;
  keyId: string;
  message: string;
}
export type KeyEventOutcome =
  { applied: true } | { applied: false; reason: KeyEventRefusal; message: string };

const time = (text: string) => Date.parse(text);
/**
 * `time` of a window's bounds, which are few and judged once an entry: parsed once each (the
 * audit judges every entry of a log).
 */
const boundTimes = new Map<string, number>();
const boundTime = (text: string) => {
  let at = boundTimes.get(text);
  if (at === undefined) {
    if (boundTimes.size > 10_000) boundTimes.clear();
    boundTimes.set(text, (at = time(text)));
  }
  return at;
};
const earlier = (a: string | null, b: string | null): string | null =>
  a === null ? b : b === null ? a : time(a) <= time(b) ? a : b;
const later = (a: string, b: string): string => (time(a) >= time(b) ? a : b);

/**
 * Agency keys over time: the anchors, then key events applied in log order. Events can
 * introduce a key only through a key already valid for its agency, and can only narrow a
 * known key's window, never widen it (so never what the anchors say). What `validAt` says
 * holds for the entries after the last event applied: a key revoked by an applied event
 * is refused whatever the issuedAt, so a caller judges each entry before applying the
 * events that follow it.
 */
export class KeyTimeline {
  private readonly windows = new Map<string, KeyWindow>();
  /**
   * Per key, the entries `validAt` judged valid under it when given their log index and time,
   * as [index, sequencedAt in ms] pairs in log order: what a later revocation may disown.
   */
  private readonly uses = new Map<string, number[]>();
  /** The log index of each applied key.add that introduced a key, and that key's id. */
  private readonly introductions = new Map<number, string>();
  /** Each applied key.revoke given its log index, in log order. */
  private readonly revocations: { index: number; keyId: string; revokedAt: string }[] = [];

  constructor(anchors: readonly AnchorKey[]) {
    for (const a of anchors) {
      const known = this.windows.get(a.keyId);
      // The same key anchored twice: trust only where both entries agree.
      if (known) {
        known.validFrom = later(known.validFrom, a.validFrom);
        known.validUntil = earlier(known.validUntil, a.validUntil ?? null);
      } else
        this.windows.set(a.keyId, {
          keyId: a.keyId,
          agency: a.agency,
          publicKey: a.publicKey,
          validFrom: a.validFrom,
          validUntil: a.validUntil ?? null,
          revokedAt: null,
        });
    }
  }

  /** Every key known so far, with its current window. */
  keys(): KeyWindow[] {
    return [...this.windows.values()].map((k) => ({ ...k }));
  }

  /**
   * The key `keyId` if it may sign for `agency` at `issuedAt` (RFC 3339) in an entry after the
   * events applied so far, else why not. Given the entry's log `index` and `sequencedAt`, a
   * valid use is remembered, for a later revocation to disown (`disowned`).
   */
  validAt(
    keyId: string,
    agency: string,
    issuedAt: string,
    index?: number,
    sequencedAt?: string,
  ): KeyCheck {
    const key = this.windows.get(keyId);
    if (!key)
      return {
        ok: false,
        reason: 'unknownKey',
        message: `statement is signed with key ${keyId}, which the verifier does not trust`,
      };
    if (key.agency !== agency)
      return {
        ok: false,
        reason: 'otherAgency',
        message: `key ${keyId} belongs to ${key.agency}, the statement is for ${agency}`,
      };
    // Revoked by an entry earlier in log order: refused whatever the statement's issuedAt, which
    // its signer chose (a backdated issuedAt must not reopen a compromised key). Rotation's
    // validUntil below is a planned end, judged at issuedAt.
    if (key.revokedAt !== null)
      return {
        ok: false,
        reason: 'revoked',
        message: `key ${keyId} was revoked at ${key.revokedAt}${key.revokedBy === undefined ? '' : ` (entry ${key.revokedBy})`} and signs nothing logged after its revocation; the statement says it was issued at ${issuedAt}`,
      };
    const at = time(issuedAt);
    if (at < boundTime(key.validFrom))
      return {
        ok: false,
        reason: 'notYetValid',
        message: `key ${keyId} was not valid at ${issuedAt}: it is valid from ${key.validFrom}`,
      };
    if (key.validUntil !== null && at >= boundTime(key.validUntil))
      return {
        ok: false,
        reason: 'expired',
        message: `key ${keyId} was not valid at ${issuedAt}: it expired at ${key.validUntil}`,
      };
    if (index !== undefined && sequencedAt !== undefined) {
      // A batch's entries share one sequencedAt: parsed once (boundTime's cache).
      const logged = boundTime(sequencedAt);
      const uses = this.uses.get(keyId);
      if (uses) uses.push(index, logged);
      else this.uses.set(keyId, [index, logged]);
    }
    return { ok: true, key: { ...key } };
  }

  /**
   * Applies one key event (`isKeyEvent(statement)`), checking who signed it against the
   * keys valid so far (a key an earlier event revoked signs no event). Requires events in log
   * order, and that the caller verified the statement's signature under the public key
   * `validAt` gives for `statement.keyId`. `index` is the event's log index: it labels
   * revocations, and lets `disowned` know the event.
   */
  apply(statement: Statement, index?: number): KeyEventOutcome {
    const refuse = (reason: KeyEventRefusal, message: string): KeyEventOutcome => ({
      applied: false,
      reason,
      message: `key event ${statement.statementId} ignored: ${message}`,
    });
    const malformed = keyEventProblem(statement);
    if (malformed) return refuse('malformed', malformed);
    const signer = this.validAt(statement.keyId, statement.agency, statement.issuedAt);
    if (!signer.ok) return refuse('signerNotValid', signer.message);

    if (statement.stepId === KEY_ADD_STEP) {
      const facts = KeyAddFacts.parse(statement.facts);
      const publicKey = fromBase64(facts.publicKey);
      const known = this.windows.get(facts.keyId);
      if (!known) {
        this.windows.set(facts.keyId, {
          keyId: facts.keyId,
          agency: statement.agency,
          publicKey,
          // A key cannot be made valid before the statement that introduces it.
          validFrom: later(facts.validFrom, statement.issuedAt),
          validUntil: facts.validUntil,
          revokedAt: null,
        });
        if (index !== undefined) this.introductions.set(index, facts.keyId);
        return { applied: true };
      }
      if (known.agency !== statement.agency)
        return refuse('otherAgency', `key ${facts.keyId} belongs to ${known.agency}`);
      if (toBase64(known.publicKey) !== facts.publicKey)
        return refuse('publicKeyMismatch', `key ${facts.keyId} is known with another public key`);
      // Re-adding a known key (e.g. an anchored first key adding itself) only narrows it.
      known.validFrom = later(known.validFrom, facts.validFrom);
      known.validUntil = earlier(known.validUntil, facts.validUntil);
      return { applied: true };
    }

    const facts = KeyRevokeFacts.parse(statement.facts);
    const known = this.windows.get(facts.keyId);
    if (!known) return refuse('unknownKey', `key ${facts.keyId} is not known`);
    if (known.agency !== statement.agency)
      return refuse('otherAgency', `key ${facts.keyId} belongs to ${known.agency}`);
    if (known.revokedAt === null || time(facts.revokedAt) < time(known.revokedAt)) {
      known.revokedAt = facts.revokedAt;
      if (index === undefined) delete known.revokedBy;
      else known.revokedBy = index;
    }
    // A revocation never extends: validUntil only moves earlier.
    known.validUntil = earlier(known.validUntil, facts.revokedAt);
    if (index !== undefined)
      this.revocations.push({ index, keyId: known.keyId, revokedAt: facts.revokedAt });
    return { applied: true };
  }

  /**
   * What the revocations applied so far disown, over the entries `validAt` was given an index
   * for, by index. Revocations are taken from the last logged to the first: one an entry after
   * it disowns (signed by a key revoked back past it) reaches back over nothing, so a thief's
   * revocation of an honest key back to 1970 is undone by the agency's revocation of the
   * stolen key back to the theft. Its forward effect stays: the key it revoked signs nothing
   * logged after it, as the ledger enforced too. Call it once the log is read.
   */
  disowned(): DisownedEntry[] {
    const found = new Map<number, DisownedEntry>();
    const wholly = new Set<string>();
    const disown = (index: number, keyId: string, cause: string, at: number) => {
      if (found.has(index)) return;
      found.set(index, {
        index,
        keyId,
        message: `entry is disowned: ${cause}, and it was logged at ${new Date(at).toISOString()}`,
      });
      const introduced = this.introductions.get(index);
      if (introduced !== undefined) disownWholly(introduced, index);
    };
    // A key the thief added is the thief's, from its first entry to its last.
    const disownWholly = (keyId: string, introducedBy: number) => {
      if (wholly.has(keyId)) return;
      wholly.add(keyId);
      const uses = this.uses.get(keyId) ?? [];
      const cause = `key ${keyId} was introduced by entry ${introducedBy}, which is disowned`;
      for (let i = 0; i < uses.length; i += 2) disown(uses[i]!, keyId, cause, uses[i + 1]!);
    };
    for (const revocation of [...this.revocations].reverse()) {
      if (found.has(revocation.index)) continue;
      const from = time(revocation.revokedAt);
      const uses = this.uses.get(revocation.keyId) ?? [];
      const cause = `key ${revocation.keyId} was revoked at ${revocation.revokedAt} (entry ${revocation.index})`;
      for (let i = 0; i < uses.length; i += 2)
        if (uses[i]! < revocation.index && uses[i + 1]! >= from)
          disown(uses[i]!, revocation.keyId, cause, uses[i + 1]!);
    }
    return [...found.values()].sort((a, b) => a.index - b.index);
  }
}

/**
 * The keys a revocation of `signer` from `from` on disowns with it (KeyTimeline.disowned):
 * each key introduced by a key.add `signer` signed that was logged at or after `from` (the
 * first add naming a key, by a key other than it), and each key those introduced, at any time.
 * Requires one agency's key events in log order, each with the entry's `sequencedAt`.
 */
export function keysDisownedWith(
  events: readonly { statement: Statement; sequencedAt: string }[],
  signer: string,
  from: string,
): string[] {
  // Each disowned signer, with the moment from which what it got logged is disowned.
  const disownedFrom = new Map([[signer, time(from)]]);
  const named = new Set<string>();
  const introduced: string[] = [];
  for (const { statement, sequencedAt } of events) {
    if (statement.stepId !== KEY_ADD_STEP || keyEventProblem(statement)) continue;
    const { keyId } = KeyAddFacts.parse(statement.facts);
    if (named.has(keyId)) continue;
    named.add(keyId);
    const since = disownedFrom.get(statement.keyId);
    if (keyId === statement.keyId || since === undefined || time(sequencedAt) < since) continue;
    disownedFrom.set(keyId, -Infinity);
    introduced.push(keyId);
  }
  return introduced;
}

/**
 * The revocation a statement makes, if it is a well-formed `key.revoke` event: what the
 * sequencer records with its entry, so the key signs nothing appended after it. Whether its
 * signer may revoke is the key registry's check, as for any statement.
 */
export function revocationIn(statement: Statement): KeyRevokeFacts | undefined {
  if (!isKeyEvent(statement) || statement.stepId !== KEY_REVOKE_STEP) return undefined;
  if (keyEventProblem(statement)) return undefined;
  return KeyRevokeFacts.parse(statement.facts);
}

/**
 * What makes a statement in the key namespace not a well-formed key event, or undefined: the
 * sequencer refuses such a statement, the audit ignores and reports it.
 */
export function keyEventProblem(statement: Statement): string | undefined {
  if (statement.caseId !== keyEventCaseId(statement.agency))
    return `case ${statement.caseId} is not ${keyEventCaseId(statement.agency)}, the signing agency's`;
  if (keyEventSequence(statement) === undefined)
    return `statement id must be ${statement.caseId}/${statement.stepId}/<n>`;
  let facts: KeyAddFacts | KeyRevokeFacts;
  if (statement.stepId === KEY_ADD_STEP) {
    if (statement.outcome !== 'added') return `a ${KEY_ADD_STEP} has outcome "added"`;
    const parsed = KeyAddFacts.safeParse(statement.facts);
    if (!parsed.success)
      return `facts: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`;
    const problem = addFactsProblem(parsed.data);
    if (problem) return problem;
    facts = parsed.data;
  } else if (statement.stepId === KEY_REVOKE_STEP) {
    if (statement.outcome !== 'revoked') return `a ${KEY_REVOKE_STEP} has outcome "revoked"`;
    const parsed = KeyRevokeFacts.safeParse(statement.facts);
    if (!parsed.success)
      return `facts: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`;
    facts = parsed.data;
  } else return `step ${statement.stepId} is neither ${KEY_ADD_STEP} nor ${KEY_REVOKE_STEP}`;
  if (statement.commitment !== commitTo(KEY_EVENT_SALT, facts))
    return 'commitment is not commitTo(KEY_EVENT_SALT, facts)';
  return undefined;
}
