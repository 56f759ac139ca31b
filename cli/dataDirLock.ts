// The lock that keeps a data directory to one `onewindow dev` at a time.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  for (;;) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && isRunning(pid)) {
      throw new UsageError(
        `another onewindow dev (pid ${pid}) is running with data directory ${dataDir}: stop it, or give this one --data-dir (if pid ${pid} is not onewindow, remove ${file})`,
      );
    }
    rmSync(file, { force: true });
  }
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
