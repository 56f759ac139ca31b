// Starts the Temporal dev server (`temporal server start-dev`) from a resolved CLI binary,
// on loopback ports of our choosing, and waits until its frontend answers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import { freePort } from './ports.ts';
import { SEARCH_ATTRIBUTES } from '../domain/searchAttributes.ts';

/**
 * Server settings for a single node, measured with `npm run bench:cases` on a 2-core machine
 * (README, "Cases end to end"): together with GO_ENV they took the server's CPU from 180–240
 * to ~140 ms a case. Keys are those of the server the CLI embeds (1.29,
 * common/dynamicconfig/constants.go).
 */
const DYNAMIC_CONFIG: Record<string, unknown> = {
  // The CLI turns this on so that search attributes added at run time show at once; ours are
  // all registered at start, and re-reading them on every use cost ~2 % of the server's CPU.
  'system.forceSearchAttributesCacheRefreshOnRead': false,
  // Done tasks stay in a history queue's reader until its checkpoint (30 s by default), and
  // every new batch of tasks walks all of them: 8.5 % of the server's CPU at ~5 cases/s, 0.3 %
  // with a checkpoint every second.
  'history.transferProcessorUpdateAckInterval': '1s',
  'history.visibilityProcessorUpdateAckInterval': '1s',
  'history.timerProcessorUpdateAckInterval': '1s',
  // An activity on the workflow's own task queue (the orchestrator's steps) is handed to the
  // worker in the reply to the workflow task, without a trip through matching: ~30 ms of server
  // CPU less a case. Off by default in the server.
  'system.enableActivityEagerExecution': true,
};

/**
 * Go's collector: at the default GOGC=100 it took 10 % of the server's CPU, at 400 3 %; the
 * peak RSS under the benchmark went from ~430 to ~760 MB, and GOMEMLIMIT bounds a long dev
 * session.
 * Values the caller's environment sets win.
 */
const GO_ENV = { GOGC: '400', GOMEMLIMIT: '2GiB' };

/** util-linux's setpriv, for its --pdeathsig (prctl PR_SET_PDEATHSIG). */
const SETPRIV = '/usr/bin/setpriv';
let setprivAnswer: boolean | undefined;

/** Whether SETPRIV takes --pdeathsig (util-linux before 2.33, or BusyBox's, does not). */
function setprivWorks(): boolean {
  setprivAnswer ??=
    existsSync(SETPRIV) &&
    spawnSync(SETPRIV, ['--pdeathsig', 'TERM', '--', 'true'], { stdio: 'ignore' }).status === 0;
  return setprivAnswer;
}

export interface DevServerOptions {
  cliPath: string;
  port?: number;
  /** `false` runs headless. */
  uiPort?: number | false;
  /** A SQLite file keeps history across restarts; absent, the server keeps it in memory. */
  dbFilename?: string;
  namespace?: string;
  log?: (line: string) => void;
}

export interface DevServer {
  address: string;
  uiAddress?: string;
  namespace: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Why `path` cannot be run, or undefined when it can. */
function notRunnable(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return 'is not a file';
    accessSync(path, constants.X_OK);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT'
      ? 'does not exist'
      : 'is not executable';
  }
}

/**
 * Starts the dev server and waits until its frontend answers.
 * @throws Error naming the CLI when it cannot be run, the exit code or signal when the server
 *   ends during start-up, or the address when it does not answer within 60 s.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  // Checked first: through setpriv a CLI that cannot run is only exit code 126.
  const why = notRunnable(options.cliPath);
  if (why) throw new Error(`the Temporal CLI ${options.cliPath} ${why}`);
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort === false ? undefined : (options.uiPort ?? (await freePort()));
  const namespace = options.namespace ?? 'default';
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--namespace',
    namespace,
    '--log-level',
    'error',
  ];
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (options.dbFilename) args.push('--db-filename', options.dbFilename);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES))
    args.push('--search-attribute', `${name}=${type}`);
  for (const [key, value] of Object.entries(DYNAMIC_CONFIG))
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);

  // Where util-linux's setpriv is (Linux), the server gets SIGTERM when this process dies
  // without stopping it (kill -9, the OOM killer): it logs errors only, so nothing else tells
  // it, and it went on holding its SQLite file and ports. setpriv execs it: same pid.
  const [command, commandArgs] = setprivWorks()
    ? [SETPRIV, ['--pdeathsig', 'TERM', '--', options.cliPath, ...args]]
    : [options.cliPath, args];
  const child = spawn(command, commandArgs, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...GO_ENV, ...process.env },
  });
  // Unheard, a failed spawn (the CLI removed or made unrunnable since the check) is an
  // 'error' event nobody handles, which ends this whole process.
  let spawnError: Error | undefined;
  child.on('error', (error) => (spawnError = error));
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const address = `127.0.0.1:${port}`;

  // A 2-core machine can take well over the SDK's 5 s to bring the server up; wait longer.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (spawnError)
      throw new Error(`could not run the Temporal CLI ${options.cliPath}: ${spawnError.message}`);
    // A server killed by a signal has no exit code, only a signal code.
    if (child.exitCode !== null)
      throw new Error(`temporal dev server exited with ${child.exitCode}: ${stderr.trim()}`);
    if (child.signalCode !== null)
      throw new Error(`temporal dev server was killed by ${child.signalCode}: ${stderr.trim()}`);
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.describeNamespace({ namespace });
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(
          `temporal dev server did not answer on ${address} within 60 s: ${(error as Error).message}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    } finally {
      // Connected while the namespace is not there yet: one gRPC channel each retry otherwise.
      await connection?.close();
    }
  }
  return {
    address,
    uiAddress: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    namespace,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
