// Files the commands write for the operator to keep (a key, a receipt, an evidence bundle, a
// verify state): whole or not at all, and on disk before the command goes on.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Writes `data` to `path` through a temporary file of this process's own beside it: flushed,
 * renamed into place, then the folder synced. A crash or a power loss leaves the old file or
 * the new one, never part of one, and what the caller does next (a ledger write) comes after
 * the file is durable. With `exclusive`, a file at `path` is never replaced: the temporary
 * file is linked into place (link(2) fails with EEXIST), not renamed over it; on a file system
 * without hard links (vfat, some network and FUSE mounts) it is written in place with O_EXCL,
 * whole unless the machine stops mid-write. A `path` that is there and no regular file
 * (/dev/stdout, a pipe, a symbolic link) is written through, as a plain write would: whole
 * only as far as that write is.
 * @throws the file system's error naming the path; no temporary file is left behind.
 */
export function writeFileWhole(
  path: string,
  data: string,
  { mode, exclusive = false }: { mode?: number; exclusive?: boolean } = {},
): void {
  if (!exclusive && isThereButNoFile(path)) {
    // Flushed when it leads to a file (a symbolic link): fsync(2) of a pipe or a terminal fails.
    writeFileSync(path, data, { mode, flush: leadsToFile(path) });
    return;
  }
  // A short name in the same folder (a rename stays within one file system), not one made
  // from `path`'s: that failed with ENAMETOOLONG for a valid name near the 255-byte limit.
  // The pid keeps it this process's own, so the cleanup below never removes another's.
  const temporary = join(dirname(path), `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    // 'wx': made afresh, so it has `mode` from the start.
    writeFileSync(temporary, data, { flush: true, flag: 'wx', mode });
    if (!exclusive) renameSync(temporary, path);
    else
      try {
        linkSync(temporary, path);
      } catch (error) {
        if (!NO_HARD_LINKS.includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
        try {
          writeFileSync(path, data, { flush: true, flag: 'wx', mode });
        } catch (writeError) {
          // Made by this call alone ('wx'), so a part of it is ours to take back, unless
          // it was never made (EEXIST: someone else's).
          if ((writeError as NodeJS.ErrnoException).code !== 'EEXIST') removeIfThere(path);
          throw writeError;
        }
      }
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

/** How link(2) says a file system has no hard links (vfat: EPERM). */
const NO_HARD_LINKS = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'];
/** How fsync(2) of a folder says the file system does not sync folders that way. */
const NO_FOLDER_SYNC = ['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EPERM', 'EISDIR', 'EACCES'];

function leadsToFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isThereButNoFile(path: string): boolean {
  try {
    return !lstatSync(path).isFile();
  } catch {
    return false;
  }
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
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch (error) {
    if (NO_FOLDER_SYNC.includes((error as NodeJS.ErrnoException).code ?? '')) return;
    throw error;
  }
  try {
    fsyncSync(fd);
  } catch (error) {
    // The file is in place; only its name's durability is left to the file system.
    if (!NO_FOLDER_SYNC.includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    closeSync(fd);
  }
}
