import type * as fs from 'node:fs';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { writeFileWhole } from './files.ts';
import { ensureKeyFile } from './keys.ts';

/** The file system calls that make a write durable, in order, each with the path it was on. */
const calls = vi.hoisted(() => [] as string[]);
/** An error code link(2) or a folder's fsync(2) fails with, as on a file system without them. */
const refuse = vi.hoisted(() => ({ link: '', folderSync: '' }));
const errno = (code: string) => Object.assign(new Error(`${code}: refused`), { code });
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof fs>();
  const folders = new Map<number, string>();
  return {
    ...real,
    writeFileSync: (...args: Parameters<typeof real.writeFileSync>) => {
      const flush = (args[2] as (fs.WriteFileOptions & { flush?: boolean }) | undefined)?.flush;
      calls.push(`write ${String(args[0])}${flush ? ' flushed' : ''}`);
      real.writeFileSync(...args);
    },
    renameSync: (from: string, to: string) => {
      calls.push(`place ${to}`);
      real.renameSync(from, to);
    },
    linkSync: (from: string, to: string) => {
      if (refuse.link) throw errno(refuse.link);
      calls.push(`place ${to}`);
      real.linkSync(from, to);
    },
    openSync: (...args: Parameters<typeof real.openSync>) => {
      const fd = real.openSync(...args);
      folders.set(fd, String(args[0]));
      return fd;
    },
    fsyncSync: (fd: number) => {
      if (refuse.folderSync && folders.has(fd)) throw errno(refuse.folderSync);
      calls.push(`sync ${folders.get(fd) ?? fd}`);
      real.fsyncSync(fd);
    },
  };
});

const dir = mkdtempSync(join(tmpdir(), 'onewindow-files-'));
beforeEach(() => {
  calls.length = 0;
  refuse.link = '';
  refuse.folderSync = '';
});

describe('a new key file', () => {
  it('is flushed, put in place, and its folder synced, so it outlives a power loss', () => {
    const path = join(dir, 'keys', 'water.key');
    ensureKeyFile(path, 'water.agency.onewindow');
    expect(calls).toEqual([
      expect.stringMatching(/^write .*\/keys\/\.\d+\.[0-9a-f]{8}\.tmp flushed$/),
      `place ${path}`,
      `sync ${join(dir, 'keys')}`,
    ]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'keys'))).toEqual(['water.key']);
  });
});

describe('writeFileWhole', () => {
  it('never replaces a file when exclusive, and leaves no temporary file', () => {
    const path = join(dir, 'taken.key');
    writeFileSync(path, 'a key already in use\n');
    expect(() => writeFileWhole(path, 'another\n', { mode: 0o600, exclusive: true })).toThrow(
      /^EEXIST/,
    );
    expect(() => writeFileWhole(path, 'another\n', { exclusive: true })).toThrow(
      `EEXIST: file already exists, link '${path}'`,
    );
    expect(() => writeFileWhole(join(path, 'receipt.json'), '{}\n')).toThrow(
      `ENOTDIR: not a directory, open '${join(path, 'receipt.json')}'`,
    );
    expect(readFileSync(path, 'utf8')).toBe('a key already in use\n');
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('writes a file whose name is as long as a name may be (255 bytes)', () => {
    // The temporary name is short whatever the target's: one made from it would be too long.
    const path = join(dir, `${'r'.repeat(250)}.json`);
    writeFileWhole(path, '{}\n');
    expect(readFileSync(path, 'utf8')).toBe('{}\n');
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a folder, and leaves no temporary file', () => {
    const path = join(dir, 'a-folder');
    mkdirSync(path);
    expect(() => writeFileWhole(path, '{}')).toThrow(/^EISDIR/);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('writes a key in place, still never over a file, where the file system has no hard links', () => {
    refuse.link = 'EPERM'; // as vfat answers link(2)
    const path = join(dir, 'usb-stick.key');
    writeFileWhole(path, 'a key\n', { mode: 0o600, exclusive: true });
    expect(readFileSync(path, 'utf8')).toBe('a key\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(() => writeFileWhole(path, 'another\n', { exclusive: true })).toThrow(/^EEXIST/);
    expect(readFileSync(path, 'utf8')).toBe('a key\n');
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('keeps the file written where the file system cannot sync a folder', () => {
    refuse.folderSync = 'EINVAL';
    const path = join(dir, 'receipt.json');
    writeFileWhole(path, '{}\n');
    expect(readFileSync(path, 'utf8')).toBe('{}\n');
  });

  it('writes through a path that is no regular file (a symbolic link, /dev/stdout)', () => {
    const target = join(dir, 'kept-elsewhere.json');
    const link = join(dir, 'linked.json');
    writeFileSync(target, 'old\n');
    symlinkSync(target, link);
    writeFileWhole(link, 'new\n');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('new\n');
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});
