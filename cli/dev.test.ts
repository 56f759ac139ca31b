import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../infra/config.ts';
import { UsageError } from './args.ts';
import { formatSignerKey, generateSigningKey } from '../ledger/keys.ts';
import {
  childBaseEnv,
  dataDirLogKey,
  devOptions,
  earlierTrustFile,
  ensurePayloadKeyFile,
  runDev,
  shellQuote,
  shutdownOf,
  writeTrustFile,
} from './dev.ts';

const dir = mkdtempSync(join(tmpdir(), 'onewindow-dev-'));

describe('the options of onewindow dev', () => {
  it('reads its flags and defaults', () => {
    expect(devOptions(['--port', '3001', '--ui-port', '8300', '--once'], {})).toMatchObject({
      port: 3001,
      uiPort: 8300,
      demo: 0,
      once: true,
    });
    expect(devOptions([], {}).uiPort).toBeUndefined();
  });

  it.each([
    [['--ui-port', ''], /^--ui-port must be a whole number from 1 to 65535, got ""$/],
    [['--ui-port', 'x'], /^--ui-port must be a whole number/],
    [['--port', '0'], /^--port must be a whole number from 1/],
    [['--demo', '1001'], /^--demo must be a whole number from 0 to 1000/],
    [['--data-dir', ''], /^--data-dir must name a folder/],
    [['foo'], /Unexpected argument 'foo'/],
    [['--nope'], /Unknown option '--nope'/],
  ])('refuses %j as a usage error', (argv, message) => {
    expect(() => devOptions(argv, {})).toThrow(UsageError);
    expect(() => devOptions(argv, {})).toThrow(message);
  });

  it.each([
    ['ONEWINDOW_LOG_LEVEL', 'info', /must be TRACE, DEBUG, INFO, WARN or ERROR, got "info"/],
    ['ONEWINDOW_LOG_ORIGIN', 'a log', /must be a log origin/],
    ['TEMPORAL_CLI_PATH', dir, /which is not an existing file/],
    ['DATABASE_URL', 'not a url', /must be a URL such as postgres:/],
  ])('refuses %s=%s from the environment, naming it', (name, value, message) => {
    expect(() => devOptions([], { [name]: value })).toThrow(ConfigError);
    expect(() => devOptions([], { [name]: value })).toThrow(new RegExp(`^${name} `));
    expect(() => devOptions([], { [name]: value })).toThrow(message);
  });

  it('counts an empty variable as unset, as every process does', () => {
    expect(
      devOptions([], { ONEWINDOW_LOG_ORIGIN: '' }).config.ONEWINDOW_LOG_ORIGIN,
    ).toBeUndefined();
  });

  it('refuses a bad flag before it starts anything, even its data directory', async () => {
    const dataDir = join(dir, 'never');
    // A missing Temporal CLI would stop it too, but only once it had begun.
    const env = { TEMPORAL_CLI_PATH: join(dir, 'missing-temporal') };
    await expect(runDev(['--data-dir', dataDir, '--ui-port', ''], env)).rejects.toThrow(
      /--ui-port/,
    );
    await expect(runDev(['--data-dir', dataDir], env)).rejects.toThrow(/^TEMPORAL_CLI_PATH /);
    expect(existsSync(dataDir)).toBe(false);
  });
});

describe("the children's environment", () => {
  it('keeps what the system needs and drops every OneWindow variable, which dev sets itself', () => {
    const env = childBaseEnv({
      PATH: '/usr/bin',
      HOME: '/home/x',
      ONEWINDOW_OPS_ADDRESS: '0.0.0.0:9464',
      ONEWINDOW_LOG_NEXT_KEY_FILE: '/keys/next.key',
      ONEWINDOW_KEY_FILE: '/keys/other.key',
      PORT: '3000',
    });
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/home/x' });
  });
});

describe('the trust file an earlier start left in the data directory', () => {
  const trust = {
    origin: 'dev.onewindow/ledger',
    logKeys: ['dev.onewindow/ledger+00000000+AAAA'],
    witnesses: [],
    witnessThreshold: 0,
    agencyKeys: [
      {
        keyId: 'gas.agency.onewindow+0a0b0c0d',
        agency: 'gas',
        publicKey: 'AAAA',
        validFrom: '1970-01-01T00:00:00.000Z',
      },
    ],
  };

  it('is read when there is one, and there is none at a first start', () => {
    const path = join(dir, 'trust-earlier.json');
    writeFileSync(path, JSON.stringify(trust));
    expect(earlierTrustFile(path)).toEqual(trust);
    expect(earlierTrustFile(join(dir, 'no-trust.json'))).toBeUndefined();
  });

  it.each([
    ['{"origin":', /^the trust file of an earlier start, .*trust-bad\.json: .*JSON/],
    [
      JSON.stringify({ ...trust, agencyKeys: 'gas' }),
      /^the trust file of an earlier start, .*trust-bad\.json: agencyKeys /,
    ],
  ])('refuses %j as a usage error rather than dropping its keys unseen', (text, message) => {
    const path = join(dir, 'trust-bad.json');
    writeFileSync(path, text);
    expect(() => earlierTrustFile(path)).toThrow(UsageError);
    expect(() => earlierTrustFile(path)).toThrow(message);
  });
});

describe("the data directory's payload key", () => {
  it('is made at a first start, readable by its owner only, and read back the same', () => {
    const path = join(dir, 'payload-fresh', 'keys', 'payload.key');
    const made = ensurePayloadKeyFile(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe(`${made.text}\n`);
    expect(ensurePayloadKeyFile(path)).toEqual(made);
    expect(readdirSync(dirname(path))).toEqual(['payload.key']);
  });

  it.each([
    ['', /^payload key file .*payload\.key is empty: /],
    ['k1:not-base64\n', /^payload key file .*payload\.key must be <key id>:<base64 of 32/],
  ])('refuses a file holding %j, naming the file, before any child gets it', (text, message) => {
    const path = join(mkdtempSync(join(dir, 'payload-')), 'payload.key');
    writeFileSync(path, text);
    expect(() => ensurePayloadKeyFile(path)).toThrow(UsageError);
    expect(() => ensurePayloadKeyFile(path)).toThrow(message);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });
});

describe("the data directory's log key", () => {
  it('is refused for another origin than the log the data directory holds, telling what to do', () => {
    const file = join(mkdtempSync(join(dir, 'log-')), 'log.key');
    writeFileSync(file, `${formatSignerKey(generateSigningKey('onewindow.dev/ledger'))}\n`);
    const before = readFileSync(file, 'utf8');
    expect(() => dataDirLogKey(file, 'other.example/ledger')).toThrow(
      new UsageError(
        `the data directory's log is "onewindow.dev/ledger" (its key ${file}), not "other.example/ledger" (ONEWINDOW_LOG_ORIGIN): unset ONEWINDOW_LOG_ORIGIN to run it, or give another --data-dir for a log of "other.example/ledger"`,
      ),
    );
    expect(() => dataDirLogKey(file, undefined)).not.toThrow();
    expect(readFileSync(file, 'utf8')).toBe(before);
  });
});

describe('the trust file dev writes at each start', () => {
  it("replaces the earlier start's whole (a new file renamed over it), never rewriting it in place", () => {
    const path = join(mkdtempSync(join(dir, 'trust-')), 'trust.json');
    writeFileSync(path, '{"written by":"an earlier start"}\n');
    const earlier = statSync(path).ino;
    const trust = {
      origin: 'onewindow.dev/ledger',
      logKeys: ['onewindow.dev/ledger+00000000+AAAA'],
      witnesses: [],
      witnessThreshold: 0,
      agencyKeys: [],
    };
    writeTrustFile(path, trust);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(trust);
    // A write in place keeps the inode, and a crash midway leaves half a file under it.
    expect(statSync(path).ino).not.toBe(earlier);
    expect(readdirSync(dirname(path))).toEqual(['trust.json']);
  });
});

describe("dev's shutdown", () => {
  it('runs each cleanup once, last first, when called again while it runs; both calls end together', async () => {
    const ran: string[] = [];
    let finishClosing = () => {};
    const cleanups = [
      () => Promise.resolve(ran.push('unlock')),
      () => Promise.resolve(ran.push('end pool')),
      () =>
        new Promise<void>((done) => {
          ran.push('close app');
          finishClosing = done;
        }),
    ];
    const shutdown = shutdownOf(cleanups, (e) => {
      throw e;
    });
    let ended = 0;
    const first = shutdown().then(() => ended++);
    const second = shutdown().then(() => ended++);
    await new Promise((wait) => setTimeout(wait, 10));
    // The app still closes: the pool it serves requests from stays open, and the lock held.
    expect(ran).toEqual(['close app']);
    expect(ended).toBe(0);
    finishClosing();
    await Promise.all([first, second]);
    expect(ran).toEqual(['close app', 'end pool', 'unlock']);
  });

  it('runs a cleanup registered after it ended when called again', async () => {
    const ran: string[] = [];
    const cleanups = [() => Promise.resolve(ran.push('first'))];
    const shutdown = shutdownOf(cleanups, () => undefined);
    await shutdown();
    cleanups.push(() => Promise.resolve(ran.push('late')));
    await shutdown();
    await shutdown();
    expect(ran).toEqual(['first', 'late']);
  });
});

describe('a path in a command dev prints to paste', () => {
  it.each([
    ['/home/ana/.onewindow/dev/trust.json', '/home/ana/.onewindow/dev/trust.json'],
    ['/home/ana/My Projects/trust.json', "'/home/ana/My Projects/trust.json'"],
    ["/tmp/ana's dir/$HOME/`x`", `'/tmp/ana'\\''s dir/$HOME/\`x\`'`],
    ['', "''"],
  ])('%j is quoted only when a shell would split or expand it: %s', (path, quoted) => {
    expect(shellQuote(path)).toBe(quoted);
    // What a POSIX shell makes of it is the path itself, as one word.
    expect(execFileSync('sh', ['-c', `printf %s ${quoted}`], { encoding: 'utf8' })).toBe(path);
  });
});
