// Reading an entry as the sequencer writes it (ledger/entry.ts), without serialising its
// statement again. RFC 8785 §3.2.3 orders an entry's members index, prevLeafHash,
// sequencedAt, signature, statement, and all but the statement have fixed alphabets, so a
// canonical entry is a fixed head, the statement's JSON, and `}`. When that JSON is itself
// canonical it is, byte for byte, what the statement's agency signed after
// STATEMENT_CONTEXT: the audit can verify that span instead of re-canonicalising.
//
// Anything else (another layout, a non-canonical statement, a shape the schema might refuse)
// returns undefined, and the caller takes the general path (entry.ts `parseEntryBytes`:
// JSON.parse, the zod `Entry` schema and the canonical-form check, which word the finding)
// and `statementMessage`. So this is only a shortcut: whatever it accepts, the schema
// accepts too (canonicalEntry.test.ts checks that).
import { Agency } from '../domain/agency.ts';
import { Entry, KEY_ID_PATTERN, STATEMENT_TYPE } from '../domain/statement.ts';
import { fromUtf8 } from './bytes.ts';

// Base64 is written [\w+/] and then checked for `_`: the same set, and V8 matches it about
// three times as fast as [A-Za-z0-9+/] (this runs once per entry of the whole log).
const HEAD =
  /^\{"index":(0|[1-9]\d{0,14}),"prevLeafHash":"([\w+/]{42}[AEIMQUYcgkosw048]=)","sequencedAt":"([\dT:.Z+-]{1,40})","signature":"([\w+/]{85}[AQgw]==)","statement":\{/;

// The constraints of domain/statement.ts `Statement`, as plain tests (the schema's regexes:
// canonical base64, RFC 4648 §3.5, so 32 bytes end in one of 16 characters and `=`, 64 bytes
// in one of 4 and `==`; a repeat number is positive, without leading zeros).
const CASE_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
const STEP_ID = /^[a-zA-Z][a-zA-Z0-9.-]{0,63}$/;
const OUTCOME = /^[a-z][a-zA-Z]{0,31}$/;
const HASH_BASE64 = /^[\w+/]{42}[AEIMQUYcgkosw048]=$/;
const REPEAT = /^[1-9]\d*$/;
// The schema's own tests, without a safeParse (its result objects cost more than the test):
// an RFC 3339 date-time is zod's `z.iso.datetime` pattern, nothing else; a Signer is an agency
// or the orchestrator (domain/agency.ts). canonicalEntry.test.ts holds both to the schemas.
const DATE_TIME = Entry.shape.sequencedAt._zod.pattern;
const SIGNERS = new Set<unknown>([...Agency.options, 'orchestrator']);
const isDateTime = (value: unknown) => typeof value === 'string' && DATE_TIME.test(value);
const isSigner = (value: unknown) => SIGNERS.has(value);

export interface CanonicalEntry {
  /** The entry, as `Entry.parse` would return it. */
  entry: Entry;
  /** The statement's canonical JSON: `bytes` from this offset up to the entry's final `}`. */
  statementStart: number;
  /** The 64 bytes `entry.signature` encodes. */
  signature: Uint8Array;
}

/**
 * The entry in `bytes`, when they are an RFC 8785 entry of the fixed format whose statement
 * is canonical too; otherwise undefined (the caller then parses them the general way).
 */
export function readCanonicalEntry(bytes: Uint8Array): CanonicalEntry | undefined {
  // Byte 0 must be the `{` itself: the decoder drops a byte-order mark, which would shift
  // every offset below by three.
  if (bytes[0] !== 0x7b) return undefined;
  let text: string;
  try {
    text = fromUtf8(bytes);
  } catch {
    return undefined;
  }
  const head = HEAD.exec(text);
  if (
    !head ||
    text.charCodeAt(text.length - 1) !== 0x7d ||
    head[2]!.includes('_') ||
    head[4]!.includes('_')
  )
    return undefined;
  // The head is ASCII, one byte a character, so this offset holds in `bytes` too.
  const statementStart = head[0].length - 1;
  let statement: unknown;
  try {
    statement = scanStatement(text, statementStart) ?? parseStatement(text, statementStart);
  } catch {
    // Nesting deep enough to exhaust the stack in JSON.parse or the key order check: the
    // general path reports it, and the audit goes on.
    return undefined;
  }
  if (statement === undefined) return undefined;
  if (!isStatement(statement) || !isDateTime(head[3])) return undefined;
  return {
    entry: {
      index: Number(head[1]),
      prevLeafHash: head[2]!,
      sequencedAt: head[3]!,
      signature: head[4]!,
      statement,
    },
    statementStart,
    signature: decodeBase64(head[4]!),
  };
}

/**
 * The statement JSON from `start` to the entry's final `}`, when it is canonical and of the
 * plain kind every statement the orchestrator and agencies write is: printable ASCII
 * without escapes, integer numbers. Read in one pass, without JSON.parse, JSON.stringify and
 * the comparison of their texts (about half of this function's time before). Anything else,
 * canonical or not, is left to `parseStatement`.
 */
function scanStatement(text: string, start: number): unknown {
  // An escape, a control character or a non-ASCII one anywhere in the statement.
  if (NOT_PLAIN.test(text.slice(start, -1))) return undefined;
  scanning = text;
  at = start;
  try {
    let statement = scanOwnMembers();
    if (statement === DECLINED) {
      at = start;
      statement = scanObject(0);
    }
    return statement === DECLINED || at !== text.length - 1 ? undefined : statement;
  } finally {
    scanning = '';
  }
}

const NOT_PLAIN = /[^\x20-\x5b\x5d-\x7e]/;
const DECLINED = Symbol('declined');
/** Objects and arrays within each other the scanner reads (a statement's facts are at 2). */
const MAX_NESTING = 16;
// The scanner's text and position: module state, so the recursion passes no tuples.
let scanning = '';
let at = 0;

/**
 * A statement of exactly the Statement schema's members, in their RFC 8785 order (every
 * statement but a key event's), matched in place and made as one object literal: naming each
 * member from the text cost as much again (each name a new string, each store by it a lookup).
 */
function scanOwnMembers(): Record<string, unknown> | typeof DECLINED {
  for (let i = 0; i < OWN_MEMBERS.length; i++) {
    const head = OWN_MEMBERS[i]!;
    if (!scanning.startsWith(head, at)) return DECLINED;
    at += head.length;
    const value = scanValue(1);
    if (value === DECLINED) return DECLINED;
    ownValues[i] = value;
  }
  if (scanning.charCodeAt(at++) !== 0x7d) return DECLINED;
  const v = ownValues;
  return {
    agency: v[0],
    caseId: v[1],
    commitment: v[2],
    facts: v[3],
    issuedAt: v[4],
    keyId: v[5],
    outcome: v[6],
    statementId: v[7],
    stepId: v[8],
    type: v[9],
  };
}

/** The text before each of the schema's members' values, in RFC 8785 order. */
const OWN_MEMBERS = [
  '{"agency":',
  ',"caseId":',
  ',"commitment":',
  ',"facts":',
  ',"issuedAt":',
  ',"keyId":',
  ',"outcome":',
  ',"statementId":',
  ',"stepId":',
  ',"type":',
];
/** Reused: no array a statement. */
const ownValues: unknown[] = [];

/** The value at `at`, inside `nesting` objects and arrays. */
function scanValue(nesting: number): unknown {
  const c = scanning.charCodeAt(at);
  if (c === 0x22) return scanString();
  if (c === 0x7b) return scanObject(nesting);
  if (c === 0x5b) return scanArray(nesting);
  if (c === 0x74) return scanLiteral('true', true);
  if (c === 0x66) return scanLiteral('false', false);
  if (c === 0x6e) return scanLiteral('null', null);
  return scanInteger();
}

function scanLiteral(literal: string, value: boolean | null): boolean | null | typeof DECLINED {
  if (!scanning.startsWith(literal, at)) return DECLINED;
  at += literal.length;
  return value;
}

/** A string with no escape (checked for the whole statement before). */
function scanString(): string | typeof DECLINED {
  const start = at + 1;
  at = scanning.indexOf('"', start);
  if (at < 0) return DECLINED;
  return scanning.slice(start, at++);
}

/** An integer as RFC 8785 §3.2.2.3 writes it: no sign on 0, no leading zero, no fraction or exponent. */
function scanInteger(): number | typeof DECLINED {
  const start = at;
  if (scanning.charCodeAt(at) === 0x2d) at++;
  const first = scanning.charCodeAt(at);
  if (!isDigit(first)) return DECLINED;
  at++;
  if (first !== 0x30) while (isDigit(scanning.charCodeAt(at))) at++;
  const next = scanning.charCodeAt(at);
  if (next === 0x2e || next === 0x65 || next === 0x45 || isDigit(next)) return DECLINED;
  const digits = scanning.slice(start, at);
  const n = Number(digits);
  // Beyond 2^53 the shortest form of the double may be other digits; -0 is written 0.
  return Number.isSafeInteger(n) && digits !== '-0' ? n : DECLINED;
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/**
 * An object whose members are in RFC 8785 §3.2.3 order (strictly ascending, so no duplicate).
 * Declines "__proto__" (JSON.parse makes it an own member, an assignment would not) and
 * integer-like names (an object lists them first, whatever the text's order).
 */
function scanObject(nesting: number): Record<string, unknown> | typeof DECLINED {
  if (nesting >= MAX_NESTING) return DECLINED;
  at++;
  const object: Record<string, unknown> = {};
  if (scanning.charCodeAt(at) === 0x7d) {
    at++;
    return object;
  }
  let previous = '';
  for (;;) {
    if (scanning.charCodeAt(at) !== 0x22) return DECLINED;
    const name = scanString();
    if (
      name === DECLINED ||
      !(previous < name) ||
      name === '__proto__' ||
      isDigit(name.charCodeAt(0))
    )
      return DECLINED;
    if (scanning.charCodeAt(at++) !== 0x3a) return DECLINED;
    const value = scanValue(nesting + 1);
    if (value === DECLINED) return DECLINED;
    object[name] = value;
    previous = name;
    const c = scanning.charCodeAt(at++);
    if (c === 0x7d) return object;
    if (c !== 0x2c) return DECLINED;
  }
}

function scanArray(nesting: number): unknown[] | typeof DECLINED {
  if (nesting >= MAX_NESTING) return DECLINED;
  at++;
  const array: unknown[] = [];
  if (scanning.charCodeAt(at) === 0x5d) {
    at++;
    return array;
  }
  for (;;) {
    const value = scanValue(nesting + 1);
    if (value === DECLINED) return DECLINED;
    array.push(value);
    const c = scanning.charCodeAt(at++);
    if (c === 0x5d) return array;
    if (c !== 0x2c) return DECLINED;
  }
}

/**
 * The statement JSON from `start` to the entry's final `}`, parsed, when it is canonical:
 * any statement `scanStatement` leaves (escapes, non-ASCII text, fractions).
 */
function parseStatement(text: string, start: number): unknown {
  const json = text.slice(start, -1);
  // JSON.parse makes "__proto__" an own key, zod's copy does not keep it: such a statement
  // takes the general path, so both paths always agree on the entry they return.
  if (json.includes('"__proto__"')) return undefined;
  let statement: unknown;
  try {
    statement = JSON.parse(json);
  } catch {
    return undefined;
  }
  // JSON.stringify writes a parsed value's members in property order and its numbers and
  // strings exactly as RFC 8785 §3.2.2 does; with every object's keys already in §3.2.3
  // order, equal text means `json` is the canonical serialisation of `statement`. A duplicate
  // key, white space or `},"statement":{` inside the span all make the text differ.
  return keysSorted(statement) && JSON.stringify(statement) === json ? statement : undefined;
}

/** Standard base64 already matched above (alphabet, length, padding), to bytes. */
function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** True when every object in `value` has its keys in UTF-16 code-unit order (RFC 8785 §3.2.3). */
function keysSorted(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (Array.isArray(value)) return value.every(keysSorted);
  const record = value as Record<string, unknown>;
  let previous: string | undefined;
  // for-in walks own keys in Object.keys order (JSON.parse makes no inherited enumerable ones)
  // without an array of them.
  for (const key in record) {
    if (previous !== undefined && !(previous < key)) return false;
    if (!keysSorted(record[key])) return false;
    previous = key;
  }
  return true;
}

/** What the `Statement` schema checks, with no message: true only where it would accept. */
function isStatement(value: unknown): value is Entry['statement'] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const s = value as Record<string, unknown>;
  const { statementId, caseId, stepId } = s;
  if (
    s.type !== STATEMENT_TYPE ||
    typeof statementId !== 'string' ||
    statementId.length > 160 ||
    typeof caseId !== 'string' ||
    !CASE_ID.test(caseId) ||
    typeof stepId !== 'string' ||
    !STEP_ID.test(stepId) ||
    !isSigner(s.agency) ||
    typeof s.outcome !== 'string' ||
    !OUTCOME.test(s.outcome) ||
    typeof s.commitment !== 'string' ||
    !HASH_BASE64.test(s.commitment) ||
    s.commitment.includes('_') ||
    !isFacts(s.facts) ||
    !isDateTime(s.issuedAt) ||
    typeof s.keyId !== 'string' ||
    !KEY_ID_PATTERN.test(s.keyId)
  )
    return false;
  // <caseId>/<stepId>[/<n>], as the schema's refinements say.
  const prefix = `${caseId}/${stepId}`;
  return (
    statementId === prefix ||
    (statementId.startsWith(`${prefix}/`) && REPEAT.test(statementId.slice(prefix.length + 1)))
  );
}

function isFacts(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const facts = value as Record<string, unknown>;
  for (const key in facts) {
    const fact = facts[key];
    if (key.length > 64) return false;
    const ok =
      fact === null ||
      typeof fact === 'boolean' ||
      typeof fact === 'number' ||
      (typeof fact === 'string' && fact.length <= 256);
    if (!ok) return false;
  }
  return true;
}
