import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../infra/config.ts';
import { UsageError } from './args.ts';
import { childBaseEnv, devOptions, earlierTrustFile, runDev } from './dev.ts';

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
