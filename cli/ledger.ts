// `onewindow ledger verify|audit|prove|verify-receipt|export|verify-bundle|export-bundle`:
// the verifier's side. It needs only a trust file (public keys, witness policy) and the
// log's address, an export, a receipt or an evidence bundle; export-bundle alone reads the
// database (DATABASE_URL), as the operator's side of a supervisor's evidence bundle.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { Base64Hash } from '../domain/statement.ts';
import { auditLedger } from '../ledger/audit.ts';
import { bytesEqual, fromBase64, fromUtf8, toBase64 } from '../ledger/bytes.ts';
import { openCheckpoint, type Checkpoint } from '../ledger/checkpoint.ts';
import {
  formatAheadOfClock,
  formatCosignatureTime,
  openWitnessedCheckpoint,
  type Cosignature,
} from '../ledger/cosignature.ts';
import { parseEntryBytes } from '../ledger/entry.ts';
import { EvidenceBundle, formatEvidenceProblem, verifyEvidenceBundle } from '../ledger/evidence.ts';
import { KeyTimeline } from '../ledger/keyEvents.ts';
import { verifyInclusion } from '../ledger/proof.ts';
import { emptyRoot, hashLeaf } from '../ledger/rfc9162.ts';
import { verifyStatementSignature } from '../ledger/statement.ts';
import { MalformedTileError } from '../ledger/tiles.ts';
import {
  extensionOf,
  inclusionProofFromTiles,
  readEntry,
  type FetchPath,
} from '../ledger/tlogClient.ts';
import { loadTrust, Receipt, TrustFile, type Trust } from '../ledger/trust.ts';
import { hashChildrenNode, hashLeafNode } from '../ledger/pg/nodeSha256.ts';
import {
  CopyConflictError,
  directorySource,
  exportLog,
  httpSource,
  OtherLogError,
  SourceError,
} from '../infra/fetchPath.ts';
import { VerifyPool } from '../infra/verifyPool.ts';
import { isFileSystemError, parse, refuseEmpty, requireEnv, UsageError } from './args.ts';
import { writeFileWhole } from './files.ts';
import { makeDirectorySync } from '../infra/directories.ts';

/** A verification that ran and found the log (or receipt) wrong: exit code 1. */
export class VerificationFailure extends Error {
  override name = 'VerificationFailure';
}

const USAGE = `usage: onewindow ledger <verify|audit|prove|verify-receipt|export|verify-bundle|export-bundle> …
  verify  (--url <addr>/ledger | --dir <export>) --trust <file> [--state <file>]
  audit   (--url <addr>/ledger | --dir <export>) --trust <file> [--state <file>]
  prove <index> (--url … | --dir …) --trust <file> [--out <file>] [--state <file>]
  verify-receipt <file> --trust <file>
  export --url <addr>/ledger --dir <folder> [--trust <file>]
  verify-bundle <file> --trust <file>
  export-bundle --case <id> --trust <file> [--out <file>]   (DATABASE_URL)`;

const sourceOptions = {
  url: { type: 'string' },
  dir: { type: 'string' },
  trust: { type: 'string' },
} as const;

const stateSourceOptions = { ...sourceOptions, state: { type: 'string' } } as const;

/** What each path flag of these commands names, for `refuseEmpty`. */
const pathFlags = {
  url: "the log's address",
  dir: 'a folder',
  trust: 'a trust file',
  state: 'a state file',
  out: 'a file',
} as const;

/** `parse`, and an empty path flag refused: `--state ""` must not read as no --state. */
function parseFlags<T extends Parameters<typeof parse>[1]>(
  argv: string[],
  options: T,
  settings?: Parameters<typeof parse>[2],
) {
  const parsed = parse(argv, options, settings);
  refuseEmpty(parsed.values, pathFlags);
  return parsed;
}

/** The trust file, the log it names, and the log's checkpoint, verified against the trust. */
async function openLog(values: { trust?: string; url?: string; dir?: string }) {
  const trust = readTrust(values.trust);
  const fetchPath = sourceFrom(values.url, values.dir);
  return { trust, fetchPath, ...(await verifiedCheckpoint(fetchPath, trust)) };
}

function readTrust(path: string | undefined): Trust {
  if (!path)
    throw new UsageError(
      '--trust <file> is required: the public keys and witness policy you trust',
    );
  if (!existsSync(path)) throw new UsageError(`trust file ${path} does not exist`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    // Neither JSON.parse nor a read of a folder (EISDIR) says which file.
    throw new UsageError(`trust file ${path}: ${(error as Error).message}`);
  }
  try {
    return loadTrust(json);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Who cosigned and when, against the policy: each witness's time is that of its statement
 * that, as of then, this was the largest tree of the log it had seen (tlog-cosignature
 * §Ed25519 signed message), so an old one says the checkpoint may be stale. Names the
 * cosignatures not counted for a time past this verifier's clock, and says so when the policy
 * asks for no witness at all, since then the log's key alone vouches for the checkpoint and a
 * split view shown to this verifier alone goes unseen (C2SP tlog-witness: witnesses are what
 * make one view checkable).
 */
function cosignedLine(
  witnessed: { cosignatures: readonly Cosignature[]; aheadOfClock: readonly Cosignature[] },
  trust: Trust,
): string {
  const { cosignatures, aheadOfClock } = witnessed;
  const who = cosignatures.map((c) => `${c.name} at ${formatCosignatureTime(c.timestamp)}`);
  const ahead = aheadOfClock.length ? `; ${formatAheadOfClock(aheadOfClock)}` : '';
  const line = `cosigned by ${cosignatures.length} of ${trust.policy.witnesses.length} witnesses (${who.join(', ') || 'none'}), policy ${trust.policy.threshold}${ahead}`;
  return trust.policy.threshold === 0
    ? `${line}: the trust file asks for no witness, so the log's key alone vouches for this checkpoint`
    : line;
}

/** What vouches for a checkpoint the trust accepts: witnesses, or the log's key alone. */
function checkpointKind(trust: Trust): string {
  return trust.policy.threshold === 0 ? 'log-signed checkpoint' : 'cosigned checkpoint';
}

/** Fetches the checkpoint and opens it: log signature first, then the witness policy. */
async function verifiedCheckpoint(fetchPath: FetchPath, trust: Trust) {
  return openTrusted(await fetchPath('checkpoint'), trust);
}

/** This verifier's clock in POSIX seconds, against which cosignatures' times are judged. */
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Opens a checkpoint note against the trust: log signature first, then the witness policy. */
function openTrusted(bytes: Uint8Array, trust: Trust) {
  try {
    const note = fromUtf8(bytes);
    return {
      note,
      ...openWitnessedCheckpoint(note, trust.origin, trust.logKeys, trust.policy, nowSeconds()),
    };
  } catch (error) {
    throw new VerificationFailure(`checkpoint rejected: ${(error as Error).message}`);
  }
}

/** What `verify` keeps of the last checkpoint it verified (--state). */
const VerifyState = z.object({
  origin: z.string(),
  size: z.number().int().nonnegative(),
  rootHash: Base64Hash,
  checkpoint: z.string(),
  verifiedAt: z.string(),
});
type VerifyState = z.infer<typeof VerifyState>;

/**
 * The JSON file `name` names, as `schema` reads it.
 * @throws UsageError naming the file and, where the schema refuses it, each field and why.
 */
function readJsonFile<T>(path: string, schema: z.ZodType<T>, name: string, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`${name} is not JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw new UsageError(
      `${name} is not ${what}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'its content'} ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

/** The state file at `path`, if there is one. @throws UsageError when it is not a state. */
function readVerifyState(path: string): VerifyState | undefined {
  if (!existsSync(path)) return undefined;
  return readJsonFile(
    path,
    VerifyState,
    `state file ${path}`,
    'a verify state (restore it, or give another --state)',
  );
}

/** Where `verify` keeps the state of log `origin` when no --state is given. */
export function defaultStatePath(origin: string, env: NodeJS.ProcessEnv = process.env): string {
  // XDG Base Directory: a value that is empty or not absolute is to be ignored; taken as set,
  // it put the state under whatever folder the job happened to run in.
  const xdg = env.XDG_STATE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'state');
  return join(base, 'onewindow', `verify-${origin.replace(/[^A-Za-z0-9.-]+/g, '_')}.json`);
}

/**
 * Said beside a failure against the saved state when that state's checkpoint is not signed by
 * any log key the trust file lists: then the state may be another log's that shares the
 * origin (a demo started afresh makes a new log key). Still a failure: the operator of a
 * forked log would say the same, and only whoever chose the trust file can tell them apart.
 */
function otherLogHint(previous: VerifyState, trust: Trust): string {
  try {
    openCheckpoint(previous.checkpoint, trust.origin, trust.logKeys);
    return '';
  } catch {
    return `; that state was saved from a checkpoint no log key in the trust file signed: if this is a new log under the same origin (a demo started afresh), verify it with a --state file of its own`;
  }
}

/**
 * Checks a verified checkpoint against the one last remembered of its log (the state file at
 * `statePath`): never smaller, the same root at the same size, provably consistent otherwise
 * (RFC 9162 §2.1.4, from the log's own tiles). Returns how it relates to it, and `remember`,
 * which saves it as the new state once the caller has checked what it needs.
 * @throws VerificationFailure for a log that shrank, forked or is inconsistent;
 *   SourceError when a tile the proof needs cannot be read.
 */
async function checkAgainstRemembered(
  fetchPath: FetchPath,
  trust: Trust,
  opened: { checkpoint: Checkpoint; note: string },
  statePath: string,
): Promise<{ consistency: string; remember: () => void }> {
  const { checkpoint, note } = opened;
  const previous = readVerifyState(statePath);
  // RFC 9162 §2.1.1: the empty tree has one root; a size-0 checkpoint with another is false,
  // and would later make the true log look like a split view.
  if (checkpoint.size === 0 && !bytesEqual(checkpoint.rootHash, emptyRoot()))
    throw new VerificationFailure(
      `the checkpoint of size 0 has root ${toBase64(checkpoint.rootHash)}, not the empty tree's ${toBase64(emptyRoot())}`,
    );
  let consistency = 'first checkpoint seen from this log';
  if (previous) {
    if (previous.origin !== trust.origin)
      throw new UsageError(`state file ${statePath} is for log ${previous.origin}`);
    const failure = (message: string) =>
      new VerificationFailure(
        `${message} (state file ${statePath})${otherLogHint(previous, trust)}`,
      );
    // A tile that could not be read proves nothing either way: its SourceError is exit 3.
    const extension = await extensionOf(
      fetchPath,
      { size: previous.size, rootHash: fromBase64(previous.rootHash) },
      checkpoint,
    );
    if (!extension.ok)
      throw failure(
        {
          shrank: `the log shrank: checkpoint of size ${checkpoint.size} after size ${previous.size} was verified`,
          split: `two different checkpoints of size ${checkpoint.size}: root ${toBase64(checkpoint.rootHash)} now, ${previous.rootHash} before (a split view)`,
          badEmptyRoot: `the saved checkpoint of size 0 has root ${previous.rootHash}, not the empty tree's`,
          inconsistent: `checkpoint of size ${checkpoint.size} is not consistent with size ${previous.size} verified at ${previous.verifiedAt}: ${extension.detail}`,
        }[extension.why],
      );
    consistency = {
      same: `same tree as verified at ${previous.verifiedAt}`,
      fromEmpty: `extends the empty tree verified at ${previous.verifiedAt}`,
      proven: `consistent with size ${previous.size} verified at ${previous.verifiedAt}`,
    }[extension.how];
  }
  const remember = () => {
    const state: VerifyState = {
      origin: trust.origin,
      size: checkpoint.size,
      rootHash: toBase64(checkpoint.rootHash),
      checkpoint: note,
      verifiedAt: new Date().toISOString(),
    };
    makeDirectorySync(dirname(statePath));
    // Replaced whole: a crash or a second `verify` at the same time leaves one state or the
    // other, never half of one.
    writeFileWhole(statePath, JSON.stringify(state, null, 2));
  };
  return { consistency, remember };
}

async function runVerify(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, stateSourceOptions, { positionals: false });
  const { trust, fetchPath, checkpoint, cosignatures, aheadOfClock, note } = await openLog(values);
  const statePath = values.state ?? defaultStatePath(trust.origin);
  const { consistency, remember } = await checkAgainstRemembered(
    fetchPath,
    trust,
    { checkpoint, note },
    statePath,
  );
  remember();
  console.log(
    `checkpoint verified: ${trust.origin} size ${checkpoint.size} root ${toBase64(checkpoint.rootHash)}`,
  );
  console.log(`  ${cosignedLine({ cosignatures, aheadOfClock }, trust)}`);
  console.log(`  ${consistency}`);
  return 0;
}

function progressBar(label: string): { update(done: number, total: number): void; end(): void } {
  const started = Date.now();
  let last = 0;
  const draw = (done: number, total: number, final: boolean) => {
    const seconds = (Date.now() - started) / 1000;
    const rate = done / Math.max(seconds, 1e-3);
    const eta = rate > 0 ? (total - done) / rate : 0;
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done.toLocaleString('en')}/${total.toLocaleString('en')} ${Math.round(rate).toLocaleString('en')}/s ${final ? `${seconds.toFixed(1)} s` : `ETA ${eta.toFixed(0)} s`}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}${final ? '\n' : ''}`);
    else if (final || Date.now() - last > 2000) process.stderr.write(`${line}\n`);
    last = Date.now();
  };
  let state = { done: 0, total: 0 };
  return {
    update(done, total) {
      state = { done, total };
      if (Date.now() - last > 200) draw(done, total, false);
    },
    end() {
      draw(state.done, state.total, true);
    },
  };
}

async function runAudit(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, stateSourceOptions, { positionals: false });
  const { trust, fetchPath, checkpoint, note, cosignatures, aheadOfClock } = await openLog(values);
  // With --state, as verify: an older checkpoint than the one remembered is refused, and this
  // one remembered. Not by default: an export audited later may be old on purpose (an archive).
  const remembered = values.state
    ? await checkAgainstRemembered(fetchPath, trust, { checkpoint, note }, values.state)
    : undefined;
  const pool = new VerifyPool();
  const bar = progressBar('audit');
  try {
    const result = await auditLedger({
      fetchPath,
      checkpoint,
      agencyKeys: trust.agencyKeys,
      verifyBatch: (items) => pool.verifyBatch(items),
      hashLeaf: hashLeafNode,
      hashChildren: hashChildrenNode,
      onProgress: (done, total) => bar.update(done, total),
    });
    bar.end();
    if (!result.ok) {
      const shown = result.findings.slice(0, 50);
      for (const f of shown)
        console.error(`  ${f.index >= 0 ? `entry ${f.index}` : 'tree'}: ${f.problem}`);
      if (result.findingCount > shown.length)
        console.error(`  … and ${result.findingCount - shown.length} more`);
      throw new VerificationFailure(
        `audit of ${result.size} entries found ${result.findingCount} problem(s)`,
      );
    }
    remembered?.remember();
    console.log(
      `audit passed: ${result.size} entries re-hashed, chain intact, ${result.signaturesChecked} statement signatures valid, root matches the ${checkpointKind(trust)}`,
    );
    console.log(`  ${cosignedLine({ cosignatures, aheadOfClock }, trust)}`);
    if (remembered) console.log(`  ${remembered.consistency}`);
    return 0;
  } finally {
    await pool.close();
  }
}

async function runProve(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    ...stateSourceOptions,
    out: { type: 'string' },
  });
  const [given, ...extra] = positionals;
  if (given === undefined || extra.length > 0)
    throw new UsageError(
      'usage: onewindow ledger prove <index> (--url … | --dir …) --trust <file> [--out <file>] [--state <file>]',
    );
  // Positional, so not intOption's message: there is no --index flag to name.
  const index = Number(given);
  if (!/^\d+$/.test(given) || !Number.isSafeInteger(index))
    throw new UsageError(
      `<index> must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, got ${JSON.stringify(given)}`,
    );
  const { trust, fetchPath, checkpoint, note, cosignatures, aheadOfClock } = await openLog(values);
  if (index >= checkpoint.size)
    throw new UsageError(`index ${index} is not below the checkpoint size ${checkpoint.size}`);
  // With --state, as verify: an older checkpoint than the one remembered is refused, and this
  // one remembered. Not by default: an export audited later may be old on purpose (an archive).
  const remembered = values.state
    ? await checkAgainstRemembered(fetchPath, trust, { checkpoint, note }, values.state)
    : undefined;
  const [entry, proof] = await Promise.all([
    readEntry(fetchPath, index, checkpoint.size),
    inclusionProofFromTiles(fetchPath, index, checkpoint.size),
  ]).catch((error: unknown) => {
    // A tile or bundle that is none: the log's own data does not prove the entry.
    if (error instanceof MalformedTileError)
      throw new VerificationFailure(
        `the log's tiles cannot prove entry ${index}: ${error.message}`,
      );
    throw error;
  });
  const receipt: Receipt = {
    type: 'onewindow.receipt/v1',
    origin: trust.origin,
    index,
    size: checkpoint.size,
    entry: toBase64(entry),
    inclusionProof: proof.map(toBase64),
    checkpoint: note,
  };
  // No receipt for what verify-receipt would refuse: an entry not proven, forged (a statement
  // its key did not sign, or a key not valid then) or not of the fixed format.
  checkReceipt(receipt, trust);
  // The receipt first: an --out that cannot be written fails the command before the state
  // moves on, so the state never remembers a checkpoint no receipt came of.
  const text = `${JSON.stringify(receipt, null, 2)}\n`;
  if (values.out) {
    writeFileWhole(values.out, text);
    console.error(`receipt for entry ${index} written to ${values.out}`);
  } else process.stdout.write(text);
  console.error(`  its checkpoint: ${cosignedLine({ cosignatures, aheadOfClock }, trust)}`);
  remembered?.remember();
  return 0;
}

function runVerifyReceipt(argv: string[]): number {
  const { values, positionals } = parseFlags(argv, { trust: { type: 'string' } });
  const file = positionals[0];
  if (!file || positionals.length > 1)
    throw new UsageError('usage: onewindow ledger verify-receipt <file> --trust <file>');
  if (!existsSync(file)) throw new UsageError(`receipt ${file} does not exist`);
  const trust = readTrust(values.trust);
  const receipt = readJsonFile(file, Receipt, file, 'a receipt');
  const { entry, key, witnessed } = checkReceipt(receipt, trust);
  console.log(
    `receipt verified: entry ${entry.index} of ${trust.origin} (size ${receipt.size}, ${checkpointKind(trust)})`,
  );
  console.log(`  ${cosignedLine(witnessed, trust)}`);
  console.log(
    `  ${entry.statement.statementId}: ${entry.statement.agency} said "${entry.statement.outcome}" at ${entry.statement.issuedAt}, signed by ${key.keyId}`,
  );
  // Honest about the limit: one entry cannot show the key events logged before it.
  console.log(
    '  (its key was judged by the trust file alone; a rotation or revocation logged since is applied by onewindow ledger audit)',
  );
  return 0;
}

/**
 * Checks a receipt against the trust, as `verify-receipt` does and `prove` before it writes
 * one: its checkpoint (log signature, witness policy), the entry's inclusion proof (RFC 9162
 * §2.1.3.2), the entry's fixed format and index, its key valid for its agency at its issuedAt,
 * and the statement's signature. Returns the entry, its key and the checkpoint's cosignatures
 * (`witnessed`: those counted, and those not, timestamped past this verifier's clock).
 * @throws VerificationFailure naming what does not hold.
 */
function checkReceipt(receipt: Receipt, trust: Trust) {
  if (receipt.origin !== trust.origin)
    throw new VerificationFailure(
      `receipt is for log ${receipt.origin}, the trust file for ${trust.origin}`,
    );
  let opened;
  try {
    opened = openWitnessedCheckpoint(
      receipt.checkpoint,
      trust.origin,
      trust.logKeys,
      trust.policy,
      nowSeconds(),
    );
  } catch (error) {
    throw new VerificationFailure(`receipt checkpoint rejected: ${(error as Error).message}`);
  }
  if (opened.checkpoint.size !== receipt.size) {
    throw new VerificationFailure(
      `receipt says size ${receipt.size}, its checkpoint is of size ${opened.checkpoint.size}`,
    );
  }
  const entryBytes = fromBase64(receipt.entry);
  try {
    verifyInclusion(
      hashLeaf(entryBytes),
      receipt.index,
      receipt.size,
      receipt.inclusionProof.map(fromBase64),
      opened.checkpoint.rootHash,
    );
  } catch (error) {
    throw new VerificationFailure(
      `entry ${receipt.index} is not proven in the checkpoint: ${(error as Error).message}`,
    );
  }
  const parsed = parseEntryBytes(entryBytes);
  if ('problems' in parsed)
    throw new VerificationFailure(`entry ${receipt.index}: ${parsed.problems.join('; ')}`);
  const { entry, raw } = parsed;
  if (entry.index !== receipt.index)
    throw new VerificationFailure(`entry says index ${entry.index}, receipt says ${receipt.index}`);
  // The key must be valid for the agency at the statement's issuedAt, as verify-bundle and
  // the audit judge it: a key the trust file lists only up to some validUntil signs nothing
  // issued after that.
  const check = new KeyTimeline(trust.agencyKeys).validAt(
    entry.statement.keyId,
    entry.statement.agency,
    entry.statement.issuedAt,
  );
  if (!check.ok) throw new VerificationFailure(`entry ${entry.index}: ${check.message}`);
  const { key } = check;
  if (!verifyStatementSignature(raw, key.publicKey)) {
    throw new VerificationFailure(`statement signature does not verify under ${key.keyId}`);
  }
  return { entry, key, witnessed: opened };
}

function runVerifyBundle(argv: string[]): number {
  const { values, positionals } = parseFlags(argv, { trust: { type: 'string' } });
  const file = positionals[0];
  if (!file || positionals.length > 1)
    throw new UsageError('usage: onewindow ledger verify-bundle <file> --trust <file>');
  if (!existsSync(file)) throw new UsageError(`evidence bundle ${file} does not exist`);
  // The bundle carries keys too, but they are the exporter's word: checking a bundle with
  // the keys it brings would prove only that it is self-consistent, so no default.
  if (!values.trust)
    throw new UsageError(
      '--trust <file> is required: the keys inside a bundle come from whoever exported it, so only keys you obtained yourself can verify it',
    );
  const trust = readTrust(values.trust);
  const bundle = readJsonFile(file, EvidenceBundle, file, 'an evidence bundle');
  const result = verifyEvidenceBundle(bundle, trust, nowSeconds());
  if (!result.ok) {
    for (const problem of result.problems) console.error(`  ${formatEvidenceProblem(problem)}`);
    throw new VerificationFailure(
      `evidence bundle for case ${bundle.caseId}: ${result.problems.length} problem(s) in ${result.entries} entries`,
    );
  }
  const checkpoint = result.checkpoint!;
  console.log(
    `evidence bundle verified: case ${bundle.caseId}, ${result.entries} entries of ${trust.origin}`,
  );
  console.log(
    `  checkpoint size ${checkpoint.size} root ${toBase64(checkpoint.rootHash)}, ${cosignedLine(result, trust)}`,
  );
  console.log(
    `  ${result.inclusionProofsChecked} inclusion proofs, ${result.signaturesChecked} statement signatures under trusted keys, ${result.keyEventsApplied} key events applied, ${result.chainLinksChecked} chain links`,
  );
  // Honest about the limits: a bundle proves what it holds, not that nothing was left out (of
  // the case's entries, or of the key events before them).
  console.log(
    '  (it shows these entries are in the log; that no entry of the case is missing needs the full log: onewindow ledger audit)',
  );
  console.log(
    bundle.keyEvents === undefined
      ? '  (their keys were judged by the trust file alone, as this bundle carries no key events; a rotation or revocation logged since is applied by onewindow ledger audit)'
      : '  (their keys were judged by the trust file and the key events the bundle carries; one the exporter left out is seen only by onewindow ledger audit)',
  );
  return 0;
}

async function runExportBundle(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseFlags(
    argv,
    {
      case: { type: 'string' },
      trust: { type: 'string' },
      out: { type: 'string' },
    },
    { positionals: false },
  );
  if (!values.case)
    throw new UsageError(
      'usage: onewindow ledger export-bundle --case <id> --trust <file> [--out <file>]',
    );
  readTrust(values.trust); // checks the keys before anything is read
  const trustFile = TrustFile.parse(JSON.parse(readFileSync(values.trust!, 'utf8')));
  // Loaded here only: the verifier commands need no database driver.
  const [{ default: pg }, { buildEvidenceBundle }, { NotFoundError, NotYetPublishedError }] =
    await Promise.all([
      import('pg'),
      import('../ledger/pg/evidence.ts'),
      import('../domain/errors.ts'),
    ]);
  const pool = new pg.Pool({ connectionString: requireEnv(env, 'DATABASE_URL'), max: 4 });
  try {
    const bundle = await buildEvidenceBundle(pool, values.case, trustFile);
    const text = `${JSON.stringify(bundle, null, 2)}\n`;
    if (values.out) {
      writeFileWhole(values.out, text);
      console.error(
        `evidence bundle for case ${bundle.caseId} (${bundle.entries.length} entries, checkpoint size ${bundle.size}) written to ${values.out}`,
      );
    } else process.stdout.write(text);
    return 0;
  } catch (error) {
    if (error instanceof NotFoundError || error instanceof NotYetPublishedError)
      throw new UsageError(error.message);
    throw error;
  } finally {
    await pool.end();
  }
}

async function runExport(argv: string[]): Promise<number> {
  const { values } = parseFlags(
    argv,
    { url: { type: 'string' }, dir: { type: 'string' }, trust: { type: 'string' } },
    { positionals: false },
  );
  if (!values.url || !values.dir)
    throw new UsageError(
      'usage: onewindow ledger export --url <addr>/ledger --dir <folder> [--trust <file>]',
    );
  // With a trust file the checkpoint is verified as verify does, before it replaces the copy's.
  const trust = values.trust === undefined ? undefined : readTrust(values.trust);
  let cosigned: string | undefined;
  const open =
    trust &&
    ((bytes: Uint8Array) => {
      const opened = openTrusted(bytes, trust);
      cosigned = cosignedLine(opened, trust);
      return opened.checkpoint;
    });
  let size: number;
  try {
    size = await exportLog(httpSource(urlOption(values.url)), values.dir, open);
  } catch (error) {
    if (error instanceof OtherLogError) throw new UsageError(error.message);
    if (error instanceof CopyConflictError) throw new VerificationFailure(error.message);
    throw error;
  }
  console.log(`exported ${size} entries and their tiles from ${values.url} to ${values.dir}`);
  console.log(
    cosigned
      ? `  checkpoint verified: ${cosigned}`
      : '  (its checkpoint was parsed, not verified: give --trust, or audit the copy)',
  );
  return 0;
}

/**
 * `--url`, an http: or https: address. Checked here: a fetch of one that is none fails as a
 * log that did not answer (exit 3, "retry"), when it is the job that needs fixing (exit 2).
 */
function urlOption(url: string): string {
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    // Not a URL: refused below.
  }
  if (protocol !== 'http:' && protocol !== 'https:')
    throw new UsageError(
      `--url must be an http: or https: address such as https://onewindow.example.gov/ledger, got ${JSON.stringify(url)}`,
    );
  return url;
}

/** `--url` or `--dir`: exactly one. */
function sourceFrom(url: string | undefined, dir: string | undefined): FetchPath {
  if (url && dir) throw new UsageError('give --url or --dir, not both');
  if (url) return httpSource(urlOption(url));
  if (dir) return directorySource(dir);
  throw new UsageError('give the log with --url <address>/ledger or --dir <export folder>');
}

export async function runLedger(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'verify':
        return await runVerify(rest);
      case 'audit':
        return await runAudit(rest);
      case 'prove':
        return await runProve(rest);
      case 'verify-receipt':
        return runVerifyReceipt(rest);
      case 'export':
        return await runExport(rest);
      case 'verify-bundle':
        return runVerifyBundle(rest);
      case 'export-bundle':
        return await runExportBundle(rest, env);
      default:
        throw new UsageError(
          sub ? `unknown ledger command ${JSON.stringify(sub)}\n${USAGE}` : USAGE,
        );
    }
  } catch (error) {
    if (error instanceof VerificationFailure) {
      console.error(`FAILED: ${error.message}`);
      return 1;
    }
    // Not a finding about the log: it could not be read, so nothing was verified.
    if (error instanceof SourceError) {
      console.error(`onewindow: cannot read the log: ${error.message}`);
      return 3;
    }
    if (error instanceof UsageError || isFileSystemError(error)) throw error;
    // Neither a finding about the log nor the caller's mistake (export-bundle's database not
    // answering, a bug): exit 1 would read as tampering to a script that raises an alarm on it.
    console.error(
      `onewindow: the command failed, and nothing was concluded about the log: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    return 4;
  }
}
