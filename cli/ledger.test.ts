import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { STATEMENT_TYPE } from '../domain/statement.ts';
import { fromUtf8, toBase64, utf8 } from '../ledger/bytes.ts';
import { formatCheckpoint, signCheckpoint } from '../ledger/checkpoint.ts';
import { cosign, formatCosignerVerifierKey } from '../ledger/cosignature.ts';
import { chainEntries } from '../ledger/entry.ts';
import { agencyKeyName, formatVerifierKey, signingKey, type SigningKey } from '../ledger/keys.ts';
import { addSignatureLines } from '../ledger/note.ts';
import { rootFromLeafHashes } from '../ledger/proof.ts';
import { hashLeaf } from '../ledger/rfc9162.ts';
import { signStatement } from '../ledger/statement.ts';
import {
  encodeEntryBundle,
  encodeTile,
  entriesTilePath,
  tileHashesFromLeafHashes,
  tilePath,
  tilesForSize,
} from '../ledger/tiles.ts';
import type { Receipt, TrustFile } from '../ledger/trust.ts';
import { CopyConflictError, exportLog, SourceError } from '../infra/fetchPath.ts';
import { UsageError } from './args.ts';
import { defaultStatePath, runLedger } from './ledger.ts';

// Deterministic keys: seed = 32 copies of one byte.
const ORIGIN = 'test.onewindow/ledger';
const logKey = signingKey(ORIGIN, new Uint8Array(32).fill(0x10));
const water = signingKey(agencyKeyName('water'), new Uint8Array(32).fill(4));
const witnesses = ['water', 'tax'].map((agency, i) =>
  signingKey(`witness.${agency}.example`, new Uint8Array(32).fill(0x30 + i)),
);

/** Water's statement, signed with its key, that it approved step a of `caseId` at `issuedAt`. */
function waterApproved(caseId: string, issuedAt: string) {
  return signStatement(
    {
      type: STATEMENT_TYPE,
      statementId: `${caseId}/a`,
      caseId,
      stepId: 'a',
      agency: 'water',
      outcome: 'approved',
      commitment: toBase64(new Uint8Array(32).fill(7)),
      facts: {},
      issuedAt,
      keyId: water.keyId,
    },
    water,
  );
}

/** The entry of a one-entry log: water's statement issued at `issuedAt`. */
function entryIssuedAt(issuedAt: string): Uint8Array {
  const signed = waterApproved('case-1', issuedAt);
  return chainEntries([signed], 0, new Uint8Array(32), issuedAt)[0]!.bytes;
}

/** The tests' trust file: the log's key, no witnesses, water's key from January 2026 (until `validUntil`). */
function trustFile(change: Partial<TrustFile> = {}, validUntil?: string): TrustFile {
  return {
    origin: ORIGIN,
    logKeys: [formatVerifierKey(ORIGIN, logKey.publicKey)],
    witnesses: [],
    witnessThreshold: 0,
    agencyKeys: [
      {
        keyId: water.keyId,
        agency: 'water',
        publicKey: toBase64(water.publicKey),
        validFrom: '2026-01-01T00:00:00Z',
        ...(validUntil ? { validUntil } : {}),
      },
    ],
    ...change,
  };
}

/**
 * Writes a receipt for `entry` as the only entry of a log, and a trust file holding water's
 * key for January 2026 only; runs verify-receipt on them and returns its exit code and output.
 * Given `cosignedAt` (POSIX seconds), the trust file asks for one of as many witnesses, the
 * first of which cosigned the receipt's checkpoint at the first time, and so on.
 */
async function verifyReceipt(
  entry: Uint8Array,
  change: Partial<Receipt> = {},
  cosignedAt: readonly number[] = [],
) {
  const dir = mkdtempSync(join(tmpdir(), 'onewindow-receipt-'));
  const trust = trustFile(
    cosignedAt.length === 0
      ? {}
      : {
          witnesses: witnesses
            .slice(0, cosignedAt.length)
            .map((w) => formatCosignerVerifierKey(w.name, w.publicKey)),
          witnessThreshold: 1,
        },
    '2026-02-01T00:00:00Z',
  );
  const checkpoint = {
    origin: ORIGIN,
    size: 1,
    rootHash: rootFromLeafHashes([hashLeaf(entry)]),
    extensions: [],
  };
  const signed = signCheckpoint(checkpoint, logKey);
  const receipt: Receipt = {
    type: 'onewindow.receipt/v1',
    origin: ORIGIN,
    index: 0,
    size: 1,
    entry: toBase64(entry),
    inclusionProof: [],
    checkpoint: addSignatureLines(
      signed,
      cosignedAt.map((at, i) => cosign(formatCheckpoint(checkpoint), witnesses[i]!, at)),
    ),
    ...change,
  };
  writeFileSync(join(dir, 'trust.json'), JSON.stringify(trust));
  writeFileSync(join(dir, 'receipt.json'), JSON.stringify(receipt));
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  const code = await runLedger([
    'verify-receipt',
    join(dir, 'receipt.json'),
    '--trust',
    join(dir, 'trust.json'),
  ]);
  const lines = (spy: typeof log) => spy.mock.calls.map((call) => String(call[0])).join('\n');
  return { code, stdout: lines(log), stderr: lines(error) };
}

describe('onewindow ledger verify-receipt', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('verifies a statement its key signed within the key’s validity window', async () => {
    const result = await verifyReceipt(entryIssuedAt('2026-01-10T09:00:00Z'));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('receipt verified: entry 0');
  });

  // The reviewer's receipt: water's key is trusted until February 2026, the statement says 2030.
  it('fails a statement issued after its key expired, as verify-bundle does', async () => {
    const result = await verifyReceipt(entryIssuedAt('2030-06-01T00:00:00Z'));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `FAILED: entry 0: key ${water.keyId} was not valid at 2030-06-01T00:00:00Z: it expired at 2026-02-01T00:00:00Z`,
    );
  });

  it('fails a receipt that names another log than the trust file', async () => {
    const result = await verifyReceipt(entryIssuedAt('2026-01-10T09:00:00Z'), {
      origin: 'other.example/log',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `FAILED: receipt is for log other.example/log, the trust file for ${ORIGIN}`,
    );
  });

  it('fails an entry that is not RFC 8785 canonical JSON, even under a valid proof', async () => {
    const entry = fromUtf8(entryIssuedAt('2026-01-10T09:00:00Z'));
    const result = await verifyReceipt(utf8(entry.replace('"index":0,', '"index":0,"index":0,')));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^FAILED: entry 0: entry is not RFC 8785 canonical JSON: /);
  });

  describe('with witnesses, at a clock of 2026-01-10T10:00:00Z', () => {
    const [witness, tax] = witnesses as [SigningKey, SigningKey];
    const posix = (time: string) => Date.parse(time) / 1000;
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2026-01-10T10:00:00Z'));
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    // tlog-cosignature: a cosignature says that as of its time this was the largest tree the
    // witness had seen, so its time tells how fresh the checkpoint is.
    it('says when each witness cosigned', async () => {
      const result = await verifyReceipt(entryIssuedAt('2026-01-10T09:00:00Z'), {}, [
        posix('2026-01-10T09:00:05Z'),
      ]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(
        `cosigned by 1 of 1 witnesses (${witness.name} at 2026-01-10T09:00:05Z), policy 1`,
      );
    });

    it('counts a cosignature timestamped up to five minutes past its clock', async () => {
      const result = await verifyReceipt(entryIssuedAt('2026-01-10T09:00:00Z'), {}, [
        posix('2026-01-10T10:05:00Z'),
      ]);
      expect(result.code).toBe(0);
    });

    // tlog-cosignature §Format: "verifiers MAY reject cosignatures with timestamps in the future".
    it('does not count a cosignature timestamped further past its clock, and names it: exit 1', async () => {
      const result = await verifyReceipt(entryIssuedAt('2026-01-10T09:00:00Z'), {}, [
        posix('2026-01-10T10:05:01Z'),
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `FAILED: receipt checkpoint rejected: checkpoint needs cosignatures from 1 distinct witnesses, found 0; not counted, timestamped more than 300 s past this verifier's clock (tlog-cosignature §Format): ${witness.name} at 2026-01-10T10:05:01Z`,
      );
    });

    it('names a cosignature it did not count for its time even when the others meet the policy', async () => {
      const result = await verifyReceipt(entryIssuedAt('2026-01-10T09:00:00Z'), {}, [
        posix('2026-01-10T09:00:05Z'),
        posix('2026-01-11T00:00:00Z'),
      ]);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(
        `cosigned by 1 of 2 witnesses (${witness.name} at 2026-01-10T09:00:05Z), policy 1; not counted, timestamped more than 300 s past this verifier's clock (tlog-cosignature §Format): ${tax.name} at 2026-01-11T00:00:00Z`,
      );
    });
  });

  it("says the log's key alone vouches for the checkpoint when the trust file asks for no witness", async () => {
    const result = await verifyReceipt(entryIssuedAt('2026-01-10T09:00:00Z'));
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('receipt verified: entry 0 of');
    expect(result.stdout).toContain('(size 1, log-signed checkpoint)');
    expect(result.stdout).toContain(NO_WITNESS);
  });
});

/** What the verifier commands say under a trust file that asks for no witness (policy 0). */
const NO_WITNESS =
  "cosigned by 0 of 0 witnesses (none), policy 0: the trust file asks for no witness, so the log's key alone vouches for this checkpoint";

/** Entry bytes `entry` with its statement signature replaced by 64 zero bytes: a forgery. */
function withForgedSignature(entry: Uint8Array): Uint8Array {
  return utf8(
    fromUtf8(entry).replace(/"signature":"[^"]+"/, `"signature":"${toBase64(new Uint8Array(64))}"`),
  );
}

// The operator's one-entry log holds an entry no verify-receipt accepts: prove must not vouch
// for it with a receipt, whatever the tiles prove.
describe('onewindow ledger prove', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each([
    [
      'whose statement signature does not verify',
      withForgedSignature(entryIssuedAt('2026-01-10T09:00:00Z')),
      `FAILED: statement signature does not verify under ${water.keyId}`,
    ],
    [
      'issued after its key expired',
      entryIssuedAt('2030-06-01T00:00:00Z'),
      `FAILED: entry 0: key ${water.keyId} was not valid at 2030-06-01T00:00:00Z: it expired at 2026-02-01T00:00:00Z`,
    ],
    [
      'that is not RFC 8785 canonical JSON',
      utf8(
        fromUtf8(entryIssuedAt('2026-01-10T09:00:00Z')).replace(
          '"index":0,',
          '"index":0,"index":0,',
        ),
      ),
      expect.stringMatching(/^FAILED: entry 0: entry is not RFC 8785 canonical JSON: /) as string,
    ],
  ])('writes no receipt for an entry %s, and exits 1', async (_, entry, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'onewindow-prove-'));
    writeLog(join(dir, 'log'), [entry]);
    writeFileSync(join(dir, 'trust.json'), JSON.stringify(trustFile({}, '2026-02-01T00:00:00Z')));
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const out = join(dir, 'receipt.json');
    const code = await runLedger([
      'prove',
      '0',
      '--dir',
      join(dir, 'log'),
      '--trust',
      join(dir, 'trust.json'),
      '--out',
      out,
    ]);
    expect(code).toBe(1);
    expect(error.mock.calls.map((call) => String(call[0]))).toEqual([message]);
    expect(existsSync(out)).toBe(false);
  });
});

/** The log of `entries` signed by the log key, as its checkpoint says it. */
function logCheckpoint(entries: Uint8Array[], key = logKey): string {
  const rootHash = rootFromLeafHashes(entries.map((e) => hashLeaf(e)));
  return signCheckpoint({ origin: ORIGIN, size: entries.length, rootHash, extensions: [] }, key);
}

/** Writes the log of `entries` under `folder` as tlog-tiles files, with checkpoint `note`. */
function writeLog(folder: string, entries: Uint8Array[], note = logCheckpoint(entries)) {
  const leaves = entries.map((e) => hashLeaf(e));
  const write = (path: string, bytes: Uint8Array | string) => {
    mkdirSync(dirname(join(folder, path)), { recursive: true });
    writeFileSync(join(folder, path), bytes);
  };
  write('checkpoint', note);
  for (const t of tilesForSize(entries.length)) {
    write(tilePath(t.level, t.index, t.width), encodeTile(tileHashesFromLeafHashes(t, leaves)));
    if (t.level === 0)
      write(
        entriesTilePath(t.index, t.width),
        encodeEntryBundle(entries.slice(t.index * 256, t.index * 256 + t.width)),
      );
  }
}

describe('the verifier commands on an exported log the operator served badly', () => {
  const SIZE = 300; // a full entry bundle and hash tile, then a partial bundle of 44
  const statements = Array.from({ length: SIZE }, (_, i) =>
    waterApproved(`case-${i}`, '2026-01-10T09:00:00Z'),
  );
  const entries = chainEntries(statements, 0, new Uint8Array(32), '2026-01-10T09:00:01Z').map(
    (e) => e.bytes,
  );
  // The same statements sequenced a second later: another log under the same origin and key.
  const forked = chainEntries(statements, 0, new Uint8Array(32), '2026-01-10T09:00:02Z').map(
    (e) => e.bytes,
  );
  const leaves = entries.map((e) => hashLeaf(e));
  const note = signCheckpoint(
    { origin: ORIGIN, size: SIZE, rootHash: rootFromLeafHashes(leaves), extensions: [] },
    logKey,
  );
  const trust = trustFile;

  /** The log exported to a fresh folder, with its trust file; `damage` changes files first. */
  function exported(damage: (file: (path: string) => string) => void = () => undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'onewindow-export-'));
    writeLog(join(dir, 'log'), entries, note);
    writeFileSync(join(dir, 'trust.json'), JSON.stringify(trust()));
    damage((path) => join(dir, 'log', path));
    return { log: join(dir, 'log'), trust: join(dir, 'trust.json'), dir };
  }

  async function run(args: string[]) {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await runLedger(args);
    const lines = (spy: typeof log) => spy.mock.calls.map((call) => String(call[0])).join('\n');
    return { code, stdout: lines(log), stderr: lines(error) };
  }

  /** `onewindow ledger prove <index>` of the exported `log` under `trust`, with `more` flags. */
  const prove = (
    index: string,
    { log, trust }: { log: string; trust: string },
    more: string[] = [],
  ) => run(['prove', index, '--dir', log, '--trust', trust, ...more]);

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('audits the log as exported', async () => {
    const { log, trust } = exported();
    const result = await run(['audit', '--dir', log, '--trust', trust]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('refuses an argument a command does not take, before reading anything', async () => {
    const { log, trust } = exported();
    await expect(run(['audit', 'extra', '--dir', log, '--trust', trust])).rejects.toThrow(
      /Unexpected argument 'extra'/,
    );
    await expect(run(['verify-bundle', 'a.json', 'b.json', '--trust', trust])).rejects.toThrow(
      'usage: onewindow ledger verify-bundle <file> --trust <file>',
    );
  });

  it('ends with "could not read" when a bundle read ahead is missing, not with an unhandled rejection', async () => {
    const { log, trust } = exported((file) => rmSync(file(entriesTilePath(1, 44))));
    const result = await run(['audit', '--dir', log, '--trust', trust]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('tile/entries/001.p/44 is missing from the export');
  });

  it('reports a truncated entry bundle as a finding', async () => {
    const { log, trust } = exported((file) =>
      writeFileSync(
        file(entriesTilePath(0)),
        encodeEntryBundle(entries.slice(0, 256)).slice(0, -5),
      ),
    );
    const result = await run(['audit', '--dir', log, '--trust', trust]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('entry 0: entry bundle at 0 cannot be read');
  });

  it('fails prove with a message, not a stack, when a hash tile is no tile', async () => {
    const { log, trust } = exported((file) => writeFileSync(file(tilePath(0, 0)), 'ten bytes!'));
    const result = await prove('5', { log, trust });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^FAILED: the log's tiles cannot prove entry 5: /);
  });

  it('refuses a trust file that counts the log as one of its own witnesses, or names a log key twice', async () => {
    const logAsWitness = exported();
    writeFileSync(
      logAsWitness.trust,
      JSON.stringify(
        trust({
          witnesses: [formatVerifierKey('log-as-witness', logKey.publicKey)],
          witnessThreshold: 1,
        }),
      ),
    );
    // A usage error: cli/main.ts prints it and exits 2.
    await expect(
      run(['verify', '--dir', logAsWitness.log, '--trust', logAsWitness.trust]),
    ).rejects.toThrow(
      new UsageError(
        'trust file: witnesses: log-as-witness has a key of the log; the log cannot witness itself',
      ),
    );
    const twice = exported();
    const logVerifierKey = formatVerifierKey(ORIGIN, logKey.publicKey);
    writeFileSync(
      twice.trust,
      JSON.stringify(trust({ logKeys: [logVerifierKey, logVerifierKey] })),
    );
    await expect(run(['verify', '--dir', twice.log, '--trust', twice.trust])).rejects.toThrow(
      new UsageError(`trust file: logKeys: ${ORIGIN} is listed twice`),
    );
  });

  it('verifies a log grown from an empty checkpoint it verified before', async () => {
    const { log, trust, dir } = exported();
    const state = join(dir, 'state.json');
    const empty = { origin: ORIGIN, size: 0, rootHash: toBase64(rootFromLeafHashes([])) };
    writeFileSync(
      state,
      JSON.stringify({
        ...empty,
        checkpoint: signCheckpoint(
          { ...empty, rootHash: rootFromLeafHashes([]), extensions: [] },
          logKey,
        ),
        verifiedAt: '2026-01-10T09:00:00Z',
      }),
    );
    const result = await run(['verify', '--dir', log, '--trust', trust, '--state', state]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('extends the empty tree');
    // This trust file asks for no witness: the output says what that leaves to the log's key.
    expect(result.stdout).toContain(
      "policy 0: the trust file asks for no witness, so the log's key alone vouches for this checkpoint",
    );
    // The new state replaced the old whole, through a temporary file of its own.
    expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({ size: SIZE });
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it("fails a first checkpoint of size 0 whose root is not the empty tree's, saving no state", async () => {
    const { log, trust, dir } = exported((file) =>
      writeFileSync(
        file('checkpoint'),
        signCheckpoint(
          { origin: ORIGIN, size: 0, rootHash: new Uint8Array(32).fill(9), extensions: [] },
          logKey,
        ),
      ),
    );
    const state = join(dir, 'state.json');
    const result = await run(['verify', '--dir', log, '--trust', trust, '--state', state]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `FAILED: the checkpoint of size 0 has root ${toBase64(new Uint8Array(32).fill(9))}, not the empty tree's ${toBase64(rootFromLeafHashes([]))}`,
    );
    expect(existsSync(state)).toBe(false);
  });

  it('audits against a state file when given one: an older checkpoint than it remembers fails, and nothing is remembered', async () => {
    const { log, trust, dir } = exported();
    const state = join(dir, 'state.json');
    const remembered = {
      origin: ORIGIN,
      size: SIZE + 100,
      rootHash: toBase64(new Uint8Array(32).fill(5)),
      checkpoint: note,
      verifiedAt: '2026-01-10T09:00:00Z',
    };
    writeFileSync(state, JSON.stringify(remembered));
    const result = await run(['audit', '--dir', log, '--trust', trust, '--state', state]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `FAILED: the log shrank: checkpoint of size ${SIZE} after size ${SIZE + 100} was verified (state file ${state})`,
    );
    expect(JSON.parse(readFileSync(state, 'utf8'))).toEqual(remembered);
  });

  it('remembers the checkpoint a proof was made under when given a state file, as verify does', async () => {
    const { log, trust, dir } = exported();
    const state = join(dir, 'state.json');
    const out = join(dir, 'receipt.json');
    const result = await prove('5', { log, trust }, ['--state', state, '--out', out]);
    expect(result.code).toBe(0);
    expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({ origin: ORIGIN, size: SIZE });
  });

  it('refuses a state file whose root is not a hash, as a usage error', async () => {
    const { log, trust, dir } = exported();
    const state = join(dir, 'state.json');
    writeFileSync(
      state,
      JSON.stringify({
        origin: ORIGIN,
        size: 3,
        rootHash: '!!',
        checkpoint: note,
        verifiedAt: '2026-01-10T09:00:00Z',
      }),
    );
    await expect(run(['verify', '--dir', log, '--trust', trust, '--state', state])).rejects.toThrow(
      /^state file .* is not a verify state .*: rootHash must be the canonical standard base64/,
    );
  });

  /** Every file under `dir` (its path within it) with its content. */
  function filesUnder(dir: string): Record<string, string> {
    return Object.fromEntries(
      readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => {
          const path = join(entry.parentPath, entry.name);
          return [path.slice(dir.length + 1), readFileSync(path, 'base64')];
        }),
    );
  }

  /** Every file and folder under `dir` (its path within it), sorted. */
  const pathsUnder = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();

  it('exports nothing from an address that answers with a web page, and says so, leaving a copy there untouched', async () => {
    const page = (path: string) =>
      path === 'checkpoint'
        ? Promise.resolve(utf8('<!doctype html><title>Not here</title>\n'))
        : Promise.reject(new Error(`no ${path}`));
    const { log } = exported();
    const before = filesUnder(log);
    await expect(exportLog(page, log)).rejects.toThrow(/^the log served no checkpoint: /);
    expect(filesUnder(log)).toEqual(before);
  });

  it('writes nothing into a copy when an export into it is cut short: no new tile, no temporary file', async () => {
    // The copy holds the log's first 256 entries; the log has 300 now, and one tile unreadable
    // after the new entry bundle was read.
    const copy = copyOfFirst256();
    const before = { paths: pathsUnder(copy), files: filesUnder(copy) };
    const served = exported().log;
    const cutShort = (path: string) =>
      path === tilePath(1, 0, 1)
        ? Promise.reject(new SourceError(`${path} is missing`))
        : Promise.resolve(new Uint8Array(readFileSync(join(served, path))));
    await expect(exportLog(cutShort, copy)).rejects.toThrow(SourceError);
    expect(pathsUnder(copy)).toEqual(before.paths);
    expect(filesUnder(copy)).toEqual(before.files);
  });

  it('writes nothing into a copy from a bundle read ahead that arrives after the export failed', async () => {
    // The copy's first bundle conflicts at once; the log's next bundle, read ahead, comes later.
    const copy = copyOfFirst256();
    const before = { paths: pathsUnder(copy), files: filesUnder(copy) };
    const served = exported().log;
    let late: Promise<void> = Promise.resolve();
    const source = (path: string) => {
      const bytes = new Uint8Array(readFileSync(join(served, path)));
      if (path === entriesTilePath(0))
        return Promise.resolve(encodeEntryBundle(forked.slice(0, 256)));
      if (path !== entriesTilePath(1, 44)) return Promise.resolve(bytes);
      const arrives = new Promise<Uint8Array>((resolve) => setTimeout(() => resolve(bytes), 50));
      late = arrives.then(() => new Promise((resolve) => setTimeout(resolve, 50)));
      return arrives;
    };
    await expect(exportLog(source, copy)).rejects.toThrow(CopyConflictError);
    await late;
    expect(pathsUnder(copy)).toEqual(before.paths);
    expect(filesUnder(copy)).toEqual(before.files);
  });

  it('leaves a copy it extends equal to the log as served, with nothing else beside it', async () => {
    const copy = copyOfFirst256();
    const served = exported().log;
    const size = await exportLog(
      (path) => Promise.resolve(new Uint8Array(readFileSync(join(served, path)))),
      copy,
    );
    expect(size).toBe(SIZE);
    expect(pathsUnder(copy)).toEqual(pathsUnder(served));
    expect(filesUnder(copy)).toEqual(filesUnder(served));
  });

  it("refuses to export another log's checkpoint and tiles into a copy, writing nothing", async () => {
    const { log } = exported();
    const before = filesUnder(log);
    const otherLog = signCheckpoint(
      { origin: 'elsewhere.example/log', size: 1, rootHash: new Uint8Array(32), extensions: [] },
      signingKey('elsewhere.example/log', new Uint8Array(32).fill(7)),
    );
    const elsewhere = (path: string) =>
      path === 'checkpoint'
        ? Promise.resolve(utf8(otherLog))
        : Promise.reject(new Error(`${path} was asked for`));
    await expect(exportLog(elsewhere, log)).rejects.toThrow(
      `${log} holds a copy of log "${ORIGIN}", and this address serves log "elsewhere.example/log": export it to another folder`,
    );
    expect(filesUnder(log)).toEqual(before);
  });

  /** Serves the files under `folder` at a local address, as a log serves them under /ledger/. */
  async function serve(folder: string): Promise<{ url: string; close: () => Promise<void> }> {
    const server = createServer((request, response) => {
      const file = join(folder, (request.url ?? '').replace(/^\/ledger\//, ''));
      if (!existsSync(file)) {
        response.statusCode = 404;
        return response.end();
      }
      response.end(readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ledger`,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  /** `onewindow ledger export` of the log under `served` into `copy`, with `more` flags. */
  async function exportServed(served: string, copy: string, more: string[] = []) {
    const server = await serve(served);
    try {
      return await run(['export', '--url', server.url, '--dir', copy, ...more]);
    } finally {
      await server.close();
    }
  }

  /** A copy of the log's first 256 entries, as an export made before the log grew. */
  function copyOfFirst256(): string {
    const copy = join(exported().dir, 'copy');
    writeLog(copy, entries.slice(0, 256));
    return copy;
  }

  /**
   * `onewindow ledger export` into `copy` of a log of `servedEntries`, served from a folder of
   * its own; with every file `copy` held before.
   */
  async function exportInto(copy: string, servedEntries: Uint8Array[]) {
    const before = filesUnder(copy);
    const served = join(exported().dir, 'served');
    writeLog(served, servedEntries);
    return { before, result: await exportServed(served, copy) };
  }

  const rootOf = (logEntries: Uint8Array[]) =>
    toBase64(rootFromLeafHashes(logEntries.map((e) => hashLeaf(e))));

  it('export refuses a smaller checkpoint than its copy holds, exit 1 naming both, and writes nothing', async () => {
    const { log: copy } = exported();
    const { before, result } = await exportInto(copy, entries.slice(0, 256));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `FAILED: the log serves a checkpoint of size 256 root ${rootOf(entries.slice(0, 256))}, and ${copy} holds a copy of size ${SIZE} root ${rootOf(entries)}: a log never shrinks; nothing was written`,
    );
    expect(filesUnder(copy)).toEqual(before);
  });

  it('export refuses another root at the size of its copy (a split view), and writes nothing', async () => {
    const { log: copy } = exported();
    const { before, result } = await exportInto(copy, forked);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `FAILED: the log serves a checkpoint of size ${SIZE} root ${rootOf(forked)}, and ${copy} holds a copy of size ${SIZE} root ${rootOf(entries)}: two roots of one size are a split view; nothing was written`,
    );
    expect(filesUnder(copy)).toEqual(before);
  });

  it('export refuses a larger checkpoint no consistency proof joins to its copy (RFC 9162 §2.1.4), and writes nothing', async () => {
    const copy = copyOfFirst256();
    const { before, result } = await exportInto(copy, forked);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^FAILED: the log serves a checkpoint of size 300 root \S+, and \S+ holds a copy of size 256 root \S+: no consistency proof joins them \(RFC 9162 §2\.1\.4\): computed root \S+ does not match expected root \S+; nothing was written$/,
    );
    expect(filesUnder(copy)).toEqual(before);
  });

  it('export never replaces an entry bundle its copy holds with other bytes, and keeps its checkpoint', async () => {
    // The log's hash tiles extend the copy, but its first bundle is another's (C2SP
    // tlog-tiles: a full tile never changes).
    const copy = copyOfFirst256();
    const before = filesUnder(copy);
    const { log: served } = exported((file) =>
      writeFileSync(file(entriesTilePath(0)), encodeEntryBundle(forked.slice(0, 256))),
    );
    const result = await exportServed(served, copy);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `FAILED: ${join(copy, entriesTilePath(0))} holds other bytes than the log serves at ${entriesTilePath(0)} now, and a tile never changes (C2SP tlog-tiles): it was not replaced; nothing was written`,
    );
    expect(filesUnder(copy)).toEqual(before);
  });

  it('export writes nothing when a hash tile its copy holds conflicts after new bundles were read: no file is left beside the copy', async () => {
    // The log's consistency proof from 256 to 300 needs only its new tile; its first hash tile,
    // read after the new entry bundle, is another log's.
    const copy = copyOfFirst256();
    const before = { paths: pathsUnder(copy), files: filesUnder(copy) };
    const forkedTile = { level: 0, index: 0, width: 256 };
    const { log: served } = exported((file) =>
      writeFileSync(
        file(tilePath(0, 0)),
        encodeTile(
          tileHashesFromLeafHashes(
            forkedTile,
            forked.map((e) => hashLeaf(e)),
          ),
        ),
      ),
    );
    const result = await exportServed(served, copy);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `FAILED: ${join(copy, tilePath(0, 0))} holds other bytes than the log serves at ${tilePath(0, 0)} now, and a tile never changes (C2SP tlog-tiles): it was not replaced; nothing was written`,
    );
    expect(pathsUnder(copy)).toEqual(before.paths);
    expect(filesUnder(copy)).toEqual(before.files);
  });

  it('export --trust verifies the checkpoint before it replaces its copy’s, and says who vouches for it', async () => {
    const copy = copyOfFirst256();
    const { log: served, trust } = exported();
    const result = await exportServed(served, copy, ['--trust', trust]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`  checkpoint verified: ${NO_WITNESS}`);
    expect(readFileSync(join(copy, 'checkpoint'), 'utf8')).toBe(note);
  });

  it('export --trust refuses a checkpoint no trusted log key signed, exit 1, and writes nothing', async () => {
    const copy = copyOfFirst256();
    const before = filesUnder(copy);
    const otherKey = signingKey(ORIGIN, new Uint8Array(32).fill(0x11));
    const { log: served, trust } = exported((file) =>
      writeFileSync(file('checkpoint'), logCheckpoint(entries, otherKey)),
    );
    const result = await exportServed(served, copy, ['--trust', trust]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^FAILED: checkpoint rejected: /);
    expect(filesUnder(copy)).toEqual(before);
  });

  it("audit says the log's key alone vouches for the checkpoint when the trust file asks for no witness", async () => {
    const { log, trust } = exported();
    const result = await run(['audit', '--dir', log, '--trust', trust]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('root matches the log-signed checkpoint');
    expect(result.stdout).toContain(NO_WITNESS);
  });

  it("prove says the log's key alone vouches for the receipt's checkpoint when the trust file asks for no witness", async () => {
    const { log, trust, dir } = exported();
    const result = await prove('5', { log, trust }, ['--out', join(dir, 'r.json')]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`its checkpoint: ${NO_WITNESS}`);
  });

  it('refuses an empty path flag, which would otherwise drop a --state check or an --out file', async () => {
    const { log, trust } = exported();
    for (const [args, flag] of [
      [['audit', '--dir', log, '--trust', trust, '--state', ''], '--state must name a state file'],
      [
        ['prove', '5', '--dir', log, '--trust', trust, '--state', ''],
        '--state must name a state file',
      ],
      [['prove', '5', '--dir', log, '--trust', trust, '--out', ''], '--out must name a file'],
      [
        ['verify', '--url', 'http://127.0.0.1:1', '--dir', '', '--trust', trust],
        '--dir must name a folder',
      ],
    ] as const)
      await expect(run([...args])).rejects.toThrow(new UsageError(`${flag}, got ""`));
  });

  it('writes the receipt before it remembers the state: an --out it cannot write leaves the state as it was, and no temporary file', async () => {
    const { log, trust, dir } = exported();
    const state = join(dir, 'state.json');
    const out = join(dir, 'receipts');
    mkdirSync(out); // a folder: the receipt cannot take its name
    await expect(prove('5', { log, trust }, ['--state', state, '--out', out])).rejects.toThrow(
      /^EISDIR/,
    );
    expect(existsSync(state)).toBe(false);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a trust file that is no JSON, or a folder, naming it', async () => {
    const { log, dir } = exported();
    const cut = join(dir, 'cut.json');
    writeFileSync(cut, '{"origin":');
    await expect(run(['verify', '--dir', log, '--trust', cut])).rejects.toThrow(UsageError);
    await expect(run(['verify', '--dir', log, '--trust', cut])).rejects.toThrow(
      new RegExp(`^trust file ${cut}: .*JSON`),
    );
    await expect(run(['audit', '--dir', log, '--trust', dir])).rejects.toThrow(
      new UsageError(`trust file ${dir}: EISDIR: illegal operation on a directory, read`),
    );
  });

  it.each([
    ['verify', 'notaurl'],
    ['verify', 'ftp://onewindow.example.gov/ledger'],
    ['export', '127.0.0.1:3000/ledger'],
  ])(
    '%s refuses --url %s as a usage error (fix the job), not as a log that did not answer (retry)',
    async (command, url) => {
      const { trust, dir } = exported();
      const args =
        command === 'export'
          ? ['export', '--url', url, '--dir', join(dir, 'copy')]
          : [command, '--url', url, '--trust', trust];
      await expect(run(args)).rejects.toThrow(
        new UsageError(
          `--url must be an http: or https: address such as https://onewindow.example.gov/ledger, got ${JSON.stringify(url)}`,
        ),
      );
      expect(existsSync(join(dir, 'copy'))).toBe(false);
    },
  );

  it('names the index of prove as what it is, a positional argument', async () => {
    const { log, trust } = exported();
    await expect(prove('five', { log, trust })).rejects.toThrow(
      new UsageError(
        `<index> must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, got "five"`,
      ),
    );
  });
});

describe("verify's state file when no --state is given", () => {
  const file = 'verify-test.onewindow_ledger.json';

  it('is kept under XDG_STATE_HOME when that is an absolute path', () => {
    expect(defaultStatePath(ORIGIN, { XDG_STATE_HOME: '/var/lib/ana/state' })).toBe(
      join('/var/lib/ana/state', 'onewindow', file),
    );
  });

  // XDG Base Directory Specification: "If $XDG_STATE_HOME is either not set or empty, a default
  // equal to $HOME/.local/state should be used"; a relative path is invalid and to be ignored.
  it.each([undefined, '', 'state', './state'])(
    'is kept under ~/.local/state when XDG_STATE_HOME is %j, never in the current folder',
    (value) => {
      expect(defaultStatePath(ORIGIN, { XDG_STATE_HOME: value })).toBe(
        join(homedir(), '.local', 'state', 'onewindow', file),
      );
    },
  );
});

describe('a ledger command that fails for a reason that is no finding', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('exits 4, not 1 (tampering), when export-bundle cannot reach its database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onewindow-bundle-'));
    const trust = join(dir, 'trust.json');
    writeFileSync(trust, JSON.stringify(trustFile()));
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    // Port 1 on this machine: nothing listens there, so the connection is refused at once.
    const code = await runLedger(
      ['export-bundle', '--case', '7c9e6679-7425-40de-944b-e07fc1f90ae7', '--trust', trust],
      { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/nothing' },
    );
    expect(code).toBe(4);
    expect(String(error.mock.calls[0]?.[0])).toMatch(
      /^onewindow: the command failed, and nothing was concluded about the log: .*ECONNREFUSED/s,
    );
  });
});
