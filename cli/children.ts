// The child processes `onewindow dev` runs (a worker per agency, the orchestrator's, a witness
// per agency): each is tracked from the moment it is spawned, so a failure anywhere stops all
// that started, and one that exits while dev runs is a failure of the whole, not a log line.
import { spawn, type ChildProcess } from 'node:child_process';

/** A child process exited while `onewindow dev` was running. */
export class ChildExitedError extends Error {
  override name = 'ChildExitedError';
}

/**
 * A child's exit within this long of a stop is the stop's: Ctrl-C in a terminal signals the
 * whole process group, so a child may exit a moment before our own handler begins the stop.
 */
const STOP_GRACE_MS = 500;

export interface Children {
  /**
   * Spawns `command args` with exactly `env`, its stderr lines prefixed with `[label]`.
   * @throws Error once `stopAll` has begun (nothing is started then).
   */
  spawn(command: string, args: string[], env: NodeJS.ProcessEnv, label: string): ChildProcess;
  /** Rejects with a ChildExitedError when a child exits before `stopAll` began. */
  readonly failed: Promise<never>;
  /** Throws the ChildExitedError `failed` rejected with, if it has. */
  check(): void;
  /** SIGTERM to every child still running (SIGKILL after `killAfterMs`); resolves when all exited. */
  stopAll(killAfterMs?: number): Promise<void>;
}

export function supervisedChildren(): Children {
  const children: ChildProcess[] = [];
  let stopping = false;
  let failure: ChildExitedError | undefined;
  let reject: (error: ChildExitedError) => void = () => undefined;
  const failed = new Promise<never>((_, r) => (reject = r));
  const fail = (error: ChildExitedError) => {
    failure ??= error;
    reject(failure);
  };
  // Observed by whoever awaits it; never an unhandled rejection when no one does.
  failed.catch(() => undefined);

  return {
    failed,
    check() {
      if (failure) throw failure;
    },
    spawn(command, args, env, label) {
      // A sibling's start may fail while this one is still on its way: it must not outlive the stop.
      if (stopping) throw new Error(`not starting the ${label}: stopping`);
      const child = spawn(command, args, { env, stdio: ['ignore', 'inherit', 'pipe'] });
      children.push(child);
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) if (line.trim()) console.error(`[${label}] ${line}`);
      });
      child.on('error', (error) => {
        if (!stopping) fail(new ChildExitedError(`the ${label} could not start: ${error.message}`));
      });
      child.on('exit', (code, signal) => {
        if (stopping) {
          if (code !== 0 && signal === null) console.error(`[${label}] exited with code ${code}`);
          return;
        }
        const how = signal === null ? `with code ${code}` : `on ${signal}`;
        setTimeout(() => {
          if (!stopping) fail(new ChildExitedError(`the ${label} exited unexpectedly ${how}`));
        }, STOP_GRACE_MS);
      });
      return child;
    },
    async stopAll(killAfterMs = 15_000) {
      stopping = true;
      await Promise.all(children.map((child) => stopChild(child, killAfterMs)));
    },
  };
}

async function stopChild(child: ChildProcess, killAfterMs: number): Promise<void> {
  // Never started (no pid: its 'error' said why), or gone already.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  await exited;
  clearTimeout(timer);
}
