// The lock that keeps a data directory to one `onewindow dev` at a time.
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './args.ts';

/**
 * One `onewindow dev` per data directory: a second would start a PostgreSQL and a Temporal
 * server on the first one's files. Returns the function that releases the lock; a lock whose
 * process is gone (a crash, a kill -9) is taken over.
 * @throws UsageError naming the running one's pid.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, 'dev.pid');
  // Written whole under a name of its own, then linked into place: the lock never exists
  // empty, which a second start reading it at that moment took for a lock of nobody.
  const own = `${file}.${process.pid}`;
  writeFileSync(own, `${process.pid}\n`);
  try {
    for (;;) {
      try {
        linkSync(own, file);
        return () => rmSync(file, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const pid = pidIn(file);
      if (pid === undefined) continue; // released meanwhile: try again
      if (pid > 0 && isRunning(pid)) throw running(pid, dataDir, file);
      // A lock of a process gone: moved aside (one start alone moves a given file) and
      // removed, unless what moved is a live lock another start took meanwhile, put back.
      const aside = `${file}.stale.${process.pid}`;
      try {
        renameSync(file, aside);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      const moved = pidIn(aside);
      if (moved !== undefined && moved > 0 && moved !== pid && isRunning(moved)) {
        try {
          linkSync(aside, file);
        } catch {
          // A third start took the path meanwhile: the running one stands all the same.
        } finally {
          rmSync(aside, { force: true });
        }
        throw running(moved, dataDir, file);
      }
      rmSync(aside, { force: true });
    }
  } finally {
    rmSync(own, { force: true });
  }
}

/** The pid a lock file holds (0 when it holds none), or undefined when it is gone. */
function pidIn(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : 0;
}

function running(pid: number, dataDir: string, file: string): UsageError {
  return new UsageError(
    `another onewindow dev (pid ${pid}) is running with data directory ${dataDir}: stop it, or give this one --data-dir (if pid ${pid} is not onewindow, remove ${file})`,
  );
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
