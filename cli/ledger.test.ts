import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { STATEMENT_TYPE } from '../domain/statement.ts';
import { fromUtf8, toBase64, utf8 } from '../ledger/bytes.ts';
import { signCheckpoint } from '../ledger/checkpoint.ts';
import { chainEntries } from '../ledger/entry.ts';
import { agencyKeyName, formatVerifierKey, signingKey } from '../ledger/keys.ts';
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
import { exportLog, SourceError } from '../infra/fetchPath.ts';
import { UsageError } from './args.ts';
import { defaultStatePath, runLedger } from './ledger.ts';

// Deterministic keys: seed = 32 copies of one byte.
const ORIGIN = 'test.onewindow/ledger';
const logKey = signingKey(ORIGIN, new Uint8Array(32).fill(0x10));
const water = signingKey(agencyKeyName('water'), new Uint8Array(32).fill(4));

/** The entry of a one-entry log: water's statement issued at `issuedAt`. */
function entryIssuedAt(issuedAt: string): Uint8Array {
  const signed = signStatement(
    {
      type: STATEMENT_TYPE,
      statementId: 'case-1/a',
      caseId: 'case-1',
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
 */
async function verifyReceipt(entry: Uint8Array, change: Partial<Receipt> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'onewindow-receipt-'));
  const trust = trustFile({}, '2026-02-01T00:00:00Z');
  const checkpoint = { origin: ORIGIN, size: 1, rootHash: rootFromLeafHashes([hashLeaf(entry)]) };
  const receipt: Receipt = {
    type: 'onewindow.receipt/v1',
    origin: ORIGIN,
    index: 0,
    size: 1,
    entry: toBase64(entry),
    inclusionProof: [],
    checkpoint: signCheckpoint({ ...checkpoint, extensions: [] }, logKey),
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
});

describe('the verifier commands on an exported log the operator served badly', () => {
  const SIZE = 300; // a full entry bundle and hash tile, then a partial bundle of 44
  const entries = chainEntries(
    Array.from({ length: SIZE }, (_, i) =>
      signStatement(
        {
          type: STATEMENT_TYPE,
          statementId: `case-${i}/a`,
          caseId: `case-${i}`,
          stepId: 'a',
          agency: 'water',
          outcome: 'approved',
          commitment: toBase64(new Uint8Array(32).fill(7)),
          facts: {},
          issuedAt: '2026-01-10T09:00:00Z',
          keyId: water.keyId,
        },
        water,
      ),
    ),
    0,
    new Uint8Array(32),
    '2026-01-10T09:00:01Z',
  ).map((e) => e.bytes);
  const leaves = entries.map((e) => hashLeaf(e));
  const note = signCheckpoint(
    { origin: ORIGIN, size: SIZE, rootHash: rootFromLeafHashes(leaves), extensions: [] },
    logKey,
  );
  const trust = trustFile;

  /** The log exported to a fresh folder, with its trust file; `damage` changes files first. */
  function exported(damage: (file: (path: string) => string) => void = () => undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'onewindow-export-'));
    const file = (path: string) => join(dir, 'log', path);
    const write = (path: string, bytes: Uint8Array | string) => {
      mkdirSync(dirname(file(path)), { recursive: true });
      writeFileSync(file(path), bytes);
    };
    write('checkpoint', note);
    write(entriesTilePath(0), encodeEntryBundle(entries.slice(0, 256)));
    write(entriesTilePath(1, 44), encodeEntryBundle(entries.slice(256)));
    for (const t of tilesForSize(SIZE))
      write(tilePath(t.level, t.index, t.width), encodeTile(tileHashesFromLeafHashes(t, leaves)));
    writeFileSync(join(dir, 'trust.json'), JSON.stringify(trust()));
    damage(file);
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
    const result = await run(['prove', '5', '--dir', log, '--trust', trust]);
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
    const result = await run([
      'prove',
      '5',
      '--dir',
      log,
      '--trust',
      trust,
      '--state',
      state,
      '--out',
      out,
    ]);
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

  it('keeps the checkpoint a copy had when an export into it is cut short, and no temporary file', async () => {
    const { log } = exported();
    const before = filesUnder(log);
    // Another checkpoint (parsed, not verified, by an export), then the last tile unreadable.
    const other = signCheckpoint(
      { origin: ORIGIN, size: SIZE, rootHash: new Uint8Array(32).fill(9), extensions: [] },
      logKey,
    );
    const served = exported().log;
    const cutShort = (path: string) =>
      path === 'checkpoint'
        ? Promise.resolve(utf8(other))
        : path === tilePath(0, 1, 44)
          ? Promise.reject(new SourceError(`${path} is missing`))
          : Promise.resolve(new Uint8Array(readFileSync(join(served, path))));
    await expect(exportLog(cutShort, log)).rejects.toThrow(SourceError);
    expect(filesUnder(log)).toEqual(before);
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
    await expect(
      run(['prove', '5', '--dir', log, '--trust', trust, '--state', state, '--out', out]),
    ).rejects.toThrow(/^EISDIR/);
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
    await expect(run(['prove', 'five', '--dir', log, '--trust', trust])).rejects.toThrow(
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
