// The `onewindow` command: one entry point, a subcommand per process of ARCHITECTURE.md §4.
// Subcommands load lazily, so a worker process loads no server code it does not run.
import { useEd25519 } from '../ledger/ed25519.ts';
import { processEd25519 } from '../ledger/pg/sodiumEd25519.ts';
import { isFileSystemError, UsageError } from './args.ts';

// Every signature a OneWindow process makes or checks goes through libsodium (OpenSSL where
// its binary cannot load): the same RFC 8032 signatures as @noble/ed25519 (which browsers and
// the pure library keep), about 20x faster.
useEd25519(processEd25519);

const USAGE = `usage: onewindow <command>

  dev [--port P] [--ui-port P] [--demo N] [--once] [--data-dir DIR]
                      the whole system on embedded defaults; --demo submits N sample cases
  worker --agency <id> --key <file> | --orchestrator --key <file> --log-key <file>
                      an agency's worker (TEMPORAL_ADDRESS), or the orchestrator's
                      (also DATABASE_URL); the README lists each one's variables
  witness --agency <id> --key <file> [--host H] [--port P]
                      an agency's C2SP tlog-witness (ONEWINDOW_WITNESS_DATABASE_URL or
                      DATABASE_URL, ONEWINDOW_LOG_PUBLIC_KEY, ONEWINDOW_LOG_ORIGIN)
  case erase <caseId> erase a closed case's personal data (the ledger keeps its commitments)
  process diagram     the joint transfer's steps as a Mermaid flowchart
  api [--host H] [--port P]
                      the HTTP API and web pages (see README: configuration)
  ledger verify|audit|prove|verify-receipt|export|verify-bundle|export-bundle …
                      verify the log independently (see onewindow ledger)
  keys generate --agency <id> | --orchestrator | --log <origin> | --witness <agency>
       | --token-issuer --out <file>
                      a new Ed25519 key; prints what verifiers need of it
  keys rotate --agency <id> --key <current> --out <new> [--valid-from T]
  keys revoke --key-id <id> --key <file> [--at T]
                      key events on the ledger (DATABASE_URL, ONEWINDOW_LOG_KEY_FILE,
                      ONEWINDOW_LOG_ORIGIN)
  tokens --key <file> --role citizen|officer|supervisor --subject <id> [--agency <id>]
                      a signed bearer token for the API (tokens public-key: the API's key)`;

/**
 * A child of `onewindow dev` (ONEWINDOW_PARENT_PID names dev) stops once dev is gone: a
 * `kill -9` of dev (or the OOM killer) left its workers and witnesses running, retrying a
 * Temporal server gone with it. Checked each second; once reparented, the child stops as on
 * dev's own SIGTERM.
 */
function stopWithParent(env: NodeJS.ProcessEnv): void {
  const parent = Number(env.ONEWINDOW_PARENT_PID);
  if (!Number.isSafeInteger(parent) || parent <= 0) return;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, 'SIGTERM');
  }, 1000).unref();
}

export async function main(argv: string[]): Promise<number> {
  stopWithParent(process.env);
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'dev':
        return await (await import('./dev.ts')).runDev(rest);
      case 'worker':
        return await (await import('./worker.ts')).runWorker(rest);
      case 'ledger':
        return await (await import('./ledger.ts')).runLedger(rest);
      case 'process': {
        const { jointTransferProcess } = await import('../domain/process.ts');
        const { mermaidOf } = await import('../domain/processDiagram.ts');
        if (rest[0] !== 'diagram' || rest.length > 1)
          throw new UsageError('usage: onewindow process diagram');
        process.stdout.write(mermaidOf(jointTransferProcess(['electricity', 'water', 'gas'])));
        return 0;
      }
      case 'case':
        return await (await import('./case.ts')).runCase(rest);
      case 'witness':
        return await (await import('./witness.ts')).runWitness(rest);
      case 'api':
        return await (await import('./api.ts')).runApi(rest);
      case 'keys':
        return (await import('./keys.ts')).runKeys(rest);
      case 'tokens':
        return await (await import('./tokens.ts')).runTokens(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`onewindow: ${error.message}`);
      if (/^unknown command/.test(error.message)) console.error(USAGE);
      return 2;
    }
    // A file or folder the command was told to use cannot be read or written (no such
    // folder, no permission, a file where a folder should be): the operator's to fix, and
    // Node's message names the path. (A log that cannot be read is the verifiers' exit 3.)
    if (isFileSystemError(error)) {
      console.error(`onewindow: ${error.message}`);
      return 2;
    }
    console.error(
      `onewindow: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    return 1;
  }
}
