import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirectory, makeDirectorySync } from './directories.ts';

describe('making a folder and its parents', () => {
  const root = mkdtempSync(join(tmpdir(), 'onewindow-dirs-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('makes every missing level, with the mode asked for, and leaves existing ones', async () => {
    const deep = join(root, 'a', 'b', 'c');
    makeDirectorySync(deep, 0o750);
    expect(statSync(deep).isDirectory()).toBe(true);
    expect(statSync(join(root, 'a')).mode & 0o777).toBe(0o750 & ~process.umask());
    makeDirectorySync(deep);
    const made = new Set<string>();
    await makeDirectory(join(root, 'a', 'd', 'e'), made);
    expect(existsSync(join(root, 'a', 'd', 'e'))).toBe(true);
    expect(made.has(join(root, 'a', 'd'))).toBe(true);
  });

  it('fails with ENOTDIR naming the folder below a file', async () => {
    const file = join(root, 'file');
    writeFileSync(file, 'x');
    expect(() => makeDirectorySync(join(file, 'below'))).toThrow(/ENOTDIR.*file\/below/);
    await expect(makeDirectory(join(file, 'below'))).rejects.toThrow(/ENOTDIR.*file\/below/);
  });

  // Node's own recursive mkdir never returns here (it retries ENOENT for ever).
  it('fails, and returns, where the system refuses the folder with ENOENT, as under /proc', async () => {
    expect(() => makeDirectorySync('/proc/onewindow/a')).toThrow(/ENOENT.*\/proc\/onewindow/);
    await expect(makeDirectory('/proc/onewindow/a')).rejects.toThrow(/ENOENT.*\/proc\/onewindow/);
  });
});
