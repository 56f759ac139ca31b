// `mkdir -p` that always returns. Node's recursive mkdir (fs.mkdir and fs.mkdirSync with
// `recursive: true`, Node 20) never returns where mkdir(2) answers ENOENT for a folder whose
// parent exists, as under /proc: `onewindow ledger export --dir /proc/x` spun a core for good.
// Made one level at a time, that answer is an error naming the folder.
import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

const exists = (error: unknown) => (error as NodeJS.ErrnoException).code === 'EEXIST';

/**
 * Makes `dir` and its missing parents (`mode` for the ones it makes). A file of a parent's
 * name is left to fail the level below it with ENOTDIR.
 * @throws the file system's error (ENOENT, EACCES, ENOTDIR…) naming the folder.
 */
export function makeDirectorySync(dir: string, mode?: number): void {
  const path = resolve(dir);
  const parent = dirname(path);
  if (parent !== path) makeDirectorySync(parent, mode);
  try {
    mkdirSync(path, mode === undefined ? undefined : { mode });
  } catch (error) {
    if (!exists(error)) throw error;
  }
}

/**
 * `makeDirectorySync`, asynchronous; folders already made (in `made`) are not asked again.
 * @throws as makeDirectorySync.
 */
export async function makeDirectory(dir: string, made = new Set<string>()): Promise<void> {
  const path = resolve(dir);
  if (made.has(path)) return;
  const parent = dirname(path);
  if (parent !== path) await makeDirectory(parent, made);
  try {
    await mkdir(path);
  } catch (error) {
    if (!exists(error)) throw error;
  }
  made.add(path);
}
