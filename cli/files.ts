// Files the commands write for the operator to keep (a key, a receipt, an evidence bundle, a
// verify state): whole or not at all, and on disk before the command goes on.
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes `data` to `path` through a temporary file of this process's own beside it: flushed,
 * renamed into place, then the folder synced. A crash or a power loss leaves the old file or
 * the new one, never part of one, and what the caller does next (a ledger write) comes after
 * the file is durable. With `exclusive`, a file at `path` is never replaced: the temporary
 * file is linked into place (link(2) fails with EEXIST), not renamed over it.
 * @throws the file system's error naming the path; no temporary file is left behind.
 */
export function writeFileWhole(
  path: string,
  data: string,
  { mode, exclusive = false }: { mode?: number; exclusive?: boolean } = {},
): void {
  const temporary = `${path}.${process.pid}.${randomUUID()}.tmp`;
  try {
    // 'wx': made afresh, so it has `mode` from the start.
    writeFileSync(temporary, data, { flush: true, flag: 'wx', mode });
    if (exclusive) linkSync(temporary, path);
    else renameSync(temporary, path);
  } catch (error) {
    // Said of the file the caller named: the temporary one is this function's own business.
    if (error instanceof Error) {
      error.message = error.message
        .replace(`'${temporary}' -> '${path}'`, `'${path}'`)
        .replaceAll(temporary, path);
      const errno = error as NodeJS.ErrnoException;
      if (errno.path === temporary) errno.path = path;
    }
    throw error;
  } finally {
    // Gone after a rename; a second name after a link; a leftover after a failure.
    removeIfThere(temporary);
  }
  syncFolder(dirname(path));
}

function removeIfThere(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // Its folder is unusable (ENOTDIR, EACCES): the write failed first, so nothing was made.
  }
}

/** fsync(2) of a folder: the names just renamed or linked into it survive a power loss. */
function syncFolder(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
