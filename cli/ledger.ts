// `onewindow ledger verify|audit|prove|verify-receipt|export`: the verifier's side. It
// needs only a trust file (public keys, witness policy) and the log's address or an export.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Entry } from '../domain/statement.ts';
import { auditLedger } from '../ledger/audit.ts';
import { bytesEqual, fromBase64, fromUtf8, toBase64 } from '../ledger/bytes.ts';
import { openWitnessedCheckpoint } from '../ledger/cosignature.ts';
import { verifyConsistency, verifyInclusion } from '../ledger/proof.ts';
import { hashLeaf } from '../ledger/rfc9162.ts';
import { verifyStatementSignature } from '../ledger/statement.ts';
import { tilesForSize, tilePath } from '../ledger/tiles.ts';
import {
  consistencyProofFromTiles,
  inclusionProofFromTiles,
  readEntries,
  readEntry,
  type FetchPath,
} from '../ledger/tlogClient.ts';
import { loadTrust, Receipt, type Trust } from '../ledger/trust.ts';
import { httpSource, mirroringSource, sourceFrom } from '../infra/fetchPath.ts';
import { VerifyPool } from '../infra/verifyPool.ts';
import { intOption, parse, UsageError } from './args.ts';

/** A verification that ran and found the log (or receipt) wrong: exit code 1. */
export class VerificationFailure extends Error {
  override name = 'VerificationFailure';
}

const USAGE = `usage: onewindow ledger <verify|audit|prove|verify-receipt|export> …
  verify  (--url <addr>/ledger | --dir <export>) --trust <file> [--state <file>]
  audit   (--url <addr>/ledger | --dir <export>) --trust <file>
  prove <index> (--url … | --dir …) --trust <file> [--out <file>]
  verify-receipt <file> --trust <file>
  export --url <addr>/ledger --dir <folder>`;

const sourceOptions = {
  url: { type: 'string' },
  dir: { type: 'string' },
  trust: { type: 'string' },
} as const;

function readTrust(path: string | undefined): Trust {
  if (!path)
    throw new UsageError(
      '--trust <file> is required: the public keys and witness policy you trust',
    );
  if (!existsSync(path)) throw new UsageError(`trust file ${path} does not exist`);
  try {
    return loadTrust(JSON.parse(readFileSync(path, 'utf8')));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Fetches the checkpoint and opens it: log signature first, then the witness policy. */
async function verifiedCheckpoint(fetchPath: FetchPath, trust: Trust) {
  const note = fromUtf8(await fetchPath('checkpoint'));
  try {
    return { note, ...openWitnessedCheckpoint(note, trust.origin, trust.logKeys, trust.policy) };
  } catch (error) {
    throw new VerificationFailure(`checkpoint rejected: ${(error as Error).message}`);
  }
}

interface VerifyState {
  origin: string;
  size: number;
  rootHash: string;
  checkpoint: string;
  verifiedAt: string;
}

function defaultStatePath(origin: string): string {
  const base = process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state');
  return join(base, 'onewindow', `verify-${origin.replace(/[^A-Za-z0-9.-]+/g, '_')}.json`);
}

async function runVerify(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...sourceOptions, state: { type: 'string' } });
  const trust = readTrust(values.trust);
  const fetchPath = sourceFrom(values.url, values.dir);
  const { checkpoint, cosignatures, note } = await verifiedCheckpoint(fetchPath, trust);
  const statePath = values.state ?? defaultStatePath(trust.origin);
  const previous = existsSync(statePath)
    ? (JSON.parse(readFileSync(statePath, 'utf8')) as VerifyState)
    : undefined;
  let consistency = 'first checkpoint seen from this log';
  if (previous) {
    if (previous.origin !== trust.origin)
      throw new UsageError(`state file ${statePath} is for log ${previous.origin}`);
    const oldRoot = fromBase64(previous.rootHash);
    if (checkpoint.size < previous.size) {
      throw new VerificationFailure(
        `the log shrank: checkpoint of size ${checkpoint.size} after size ${previous.size} was verified`,
      );
    }
    if (checkpoint.size === previous.size) {
      if (!bytesEqual(oldRoot, checkpoint.rootHash)) {
        throw new VerificationFailure(
          `two different checkpoints of size ${checkpoint.size}: root ${toBase64(checkpoint.rootHash)} now, ${previous.rootHash} before (a split view)`,
        );
      }
      consistency = `same tree as verified at ${previous.verifiedAt}`;
    } else {
      try {
        const proof = await consistencyProofFromTiles(fetchPath, previous.size, checkpoint.size);
        verifyConsistency(previous.size, checkpoint.size, proof, oldRoot, checkpoint.rootHash);
      } catch (error) {
        throw new VerificationFailure(
          `checkpoint of size ${checkpoint.size} is not consistent with size ${previous.size} verified at ${previous.verifiedAt}: ${(error as Error).message}`,
        );
      }
      consistency = `consistent with size ${previous.size} verified at ${previous.verifiedAt}`;
    }
  }
  const state: VerifyState = {
    origin: trust.origin,
    size: checkpoint.size,
    rootHash: toBase64(checkpoint.rootHash),
    checkpoint: note,
    verifiedAt: new Date().toISOString(),
  };
  mkdirSync(dirname(statePath), { recursive: true });
  writeFileSync(`${statePath}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${statePath}.tmp`, statePath);
  console.log(
    `checkpoint verified: ${trust.origin} size ${checkpoint.size} root ${toBase64(checkpoint.rootHash)}`,
  );
  console.log(
    `  cosigned by ${cosignatures.length} of ${trust.policy.witnesses.length} witnesses (${cosignatures.map((c) => c.name).join(', ') || 'none'}), policy ${trust.policy.threshold}`,
  );
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
  const { values } = parse(argv, sourceOptions);
  const trust = readTrust(values.trust);
  const fetchPath = sourceFrom(values.url, values.dir);
  const { checkpoint } = await verifiedCheckpoint(fetchPath, trust);
  const pool = new VerifyPool();
  const bar = progressBar('audit');
  try {
    const result = await auditLedger({
      fetchPath,
      checkpoint,
      agencyKeys: trust.agencyKeys,
      verifyBatch: (items) => pool.verifyBatch(items),
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
    console.log(
      `audit passed: ${result.size} entries re-hashed, chain intact, ${result.signaturesChecked} statement signatures valid, root matches the cosigned checkpoint`,
    );
    return 0;
  } finally {
    await pool.close();
  }
}

async function runProve(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...sourceOptions, out: { type: 'string' } });
  const index = intOption(positionals[0], 'index', -1, 0, Number.MAX_SAFE_INTEGER);
  if (index < 0)
    throw new UsageError(
      'usage: onewindow ledger prove <index> (--url … | --dir …) --trust <file>',
    );
  const trust = readTrust(values.trust);
  const fetchPath = sourceFrom(values.url, values.dir);
  const { checkpoint, note } = await verifiedCheckpoint(fetchPath, trust);
  if (index >= checkpoint.size)
    throw new UsageError(`index ${index} is not below the checkpoint size ${checkpoint.size}`);
  const [entry, proof] = await Promise.all([
    readEntry(fetchPath, index, checkpoint.size),
    inclusionProofFromTiles(fetchPath, index, checkpoint.size),
  ]);
  try {
    verifyInclusion(hashLeaf(entry), index, checkpoint.size, proof, checkpoint.rootHash);
  } catch (error) {
    throw new VerificationFailure(
      `the log's own tiles do not prove entry ${index}: ${(error as Error).message}`,
    );
  }
  const receipt: Receipt = {
    type: 'onewindow.receipt/v1',
    origin: trust.origin,
    index,
    size: checkpoint.size,
    entry: toBase64(entry),
    inclusionProof: proof.map(toBase64),
    checkpoint: note,
  };
  const text = `${JSON.stringify(receipt, null, 2)}\n`;
  if (values.out) {
    writeFileSync(values.out, text);
    console.error(`receipt for entry ${index} written to ${values.out}`);
  } else process.stdout.write(text);
  return 0;
}

function runVerifyReceipt(argv: string[]): number {
  const { values, positionals } = parse(argv, { trust: { type: 'string' } });
  const file = positionals[0];
  if (!file) throw new UsageError('usage: onewindow ledger verify-receipt <file> --trust <file>');
  if (!existsSync(file)) throw new UsageError(`receipt ${file} does not exist`);
  const trust = readTrust(values.trust);
  let receipt: Receipt;
  try {
    receipt = Receipt.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (error) {
    throw new UsageError(`${file} is not a receipt: ${(error as Error).message.split('\n')[0]}`);
  }
  let opened;
  try {
    opened = openWitnessedCheckpoint(receipt.checkpoint, trust.origin, trust.logKeys, trust.policy);
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
  const raw = JSON.parse(fromUtf8(entryBytes)) as { statement: unknown; signature: unknown };
  const entry = Entry.parse(raw);
  if (entry.index !== receipt.index)
    throw new VerificationFailure(`entry says index ${entry.index}, receipt says ${receipt.index}`);
  const key = trust.agencyKeys.find(
    (k) => k.keyId === entry.statement.keyId && k.agency === entry.statement.agency,
  );
  if (!key)
    throw new VerificationFailure(
      `statement key ${entry.statement.keyId} is not trusted for ${entry.statement.agency}`,
    );
  if (!verifyStatementSignature(raw, key.publicKey)) {
    throw new VerificationFailure(`statement signature does not verify under ${key.keyId}`);
  }
  console.log(
    `receipt verified: entry ${entry.index} of ${trust.origin} (size ${receipt.size}, ${opened.cosignatures.length} cosignatures)`,
  );
  console.log(
    `  ${entry.statement.statementId}: ${entry.statement.agency} said "${entry.statement.outcome}" at ${entry.statement.issuedAt}, signed by ${key.keyId}`,
  );
  return 0;
}

async function runExport(argv: string[]): Promise<number> {
  const { values } = parse(argv, { url: { type: 'string' }, dir: { type: 'string' } });
  if (!values.url || !values.dir)
    throw new UsageError('usage: onewindow ledger export --url <addr>/ledger --dir <folder>');
  const fetchPath = mirroringSource(httpSource(values.url), values.dir);
  const note = fromUtf8(await fetchPath('checkpoint'));
  const size = Number(note.split('\n')[1]);
  if (!Number.isSafeInteger(size))
    throw new VerificationFailure('the checkpoint has no readable size');
  for await (const _ of readEntries(fetchPath, size)) void _;
  for (const tile of tilesForSize(size))
    await fetchPath(tilePath(tile.level, tile.index, tile.width));
  console.log(`exported ${size} entries and their tiles from ${values.url} to ${values.dir}`);
  return 0;
}

export async function runLedger(argv: string[]): Promise<number> {
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
    throw error;
  }
}
