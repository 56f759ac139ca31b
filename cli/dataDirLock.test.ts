import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from './args.ts';
import { lockDataDir } from './dataDirLock.ts';

describe('the data directory lock of onewindow dev', () => {
  it('refuses a second taker while the first runs, naming its pid, and frees the directory on release', () => {
    const dir = mkdtempSync(join(tmpdir(), 'onewindow-lock-'));
    const release = lockDataDir(dir);
    expect(readFileSync(join(dir, 'dev.pid'), 'utf8').trim()).toBe(String(process.pid));
    expect(() => lockDataDir(dir)).toThrow(UsageError);
    expect(() => lockDataDir(dir)).toThrow(
      `another onewindow dev (pid ${process.pid}) is running with data directory ${dir}`,
    );
    release();
    expect(existsSync(join(dir, 'dev.pid'))).toBe(false);
    lockDataDir(dir)();
  });

  it('takes over a lock whose process is gone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'onewindow-lock-'));
    // A process that has exited by the time spawnSync returns: its pid names no one.
    const { pid } = spawnSync(process.execPath, ['-e', '']);
    writeFileSync(join(dir, 'dev.pid'), `${pid}\n`);
    const release = lockDataDir(dir);
    expect(readFileSync(join(dir, 'dev.pid'), 'utf8').trim()).toBe(String(process.pid));
    release();
  });

  it('takes over a lock file that names no process, and leaves no file of its own beside it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'onewindow-lock-'));
    writeFileSync(join(dir, 'dev.pid'), 'not a pid\n');
    const release = lockDataDir(dir);
    expect(readFileSync(join(dir, 'dev.pid'), 'utf8').trim()).toBe(String(process.pid));
    expect(readdirSync(dir)).toEqual(['dev.pid']);
    release();
    expect(readdirSync(dir)).toEqual([]);
  });
});
