// Reproduces the sdk-core race behind the cases benchmark's workflow task timeouts (README,
// "#4 … the workflow task timeouts"), with nothing of OneWindow, for a report upstream:
// a query that reaches the worker as a task of its own while a run's workflow task waits on
// a local activity replaces that task in sdk-core (ManagedRun::_incoming_wft, after
// buffer_wft_if_outstanding_work let it through: it does not check for a task already held);
// the query is answered, the real task is never completed, and the server times it out.
//
//   npx tsx bench/queryRace.ts [--workflows 100] [--rounds 10] [--activity-ms 500]
//                              [--remote] [--no-queries] [--burners 2]
//
// Each workflow runs `rounds` rounds (a signal, then one slow activity); two loops a workflow
// query it meanwhile; `burners` busy processes load the cores as the benchmark does. It
// prints the workflow tasks that timed out. Measured 2026-12-05 on the Intel Xeon VM (2
// cores): 112 with local activities and queries; 0 with ordinary activities (--remote); 0
// with local activities and no queries.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { installRuntime } from '../cli/workers.ts';
import { resolveTemporalCli } from '../infra/temporalCli.ts';
import { startDevServer } from '../infra/temporalDevServer.ts';
import { goSignal, queryRace, roundsDoneQuery } from './queryRaceWorkflow.ts';

const { values } = parseArgs({
  options: {
    workflows: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '10' },
    'activity-ms': { type: 'string', default: '500' },
    remote: { type: 'boolean', default: false },
    'no-queries': { type: 'boolean', default: false },
    burners: { type: 'string', default: '2' },
  },
});
const workflows = Number(values.workflows);
const rounds = Number(values.rounds);
const activityMs = Number(values['activity-ms']);
const queries = !values['no-queries'];

installRuntime('WARN');
const burners = Array.from({ length: Number(values.burners) }, () =>
  spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
);
const server = await startDevServer({
  cliPath: await resolveTemporalCli({ log: () => undefined }),
  uiPort: false,
});
try {
  const worker = await Worker.create({
    connection: await NativeConnection.connect({ address: server.address }),
    taskQueue: 'query-race',
    workflowsPath: fileURLToPath(new URL('./queryRaceWorkflow.ts', import.meta.url)),
    activities: { slow: (ms: number) => sleep(ms) },
  });
  const running = worker.run();
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  const tag = Date.now().toString(36);
  const handles = await Promise.all(
    Array.from({ length: workflows }, (_, i) =>
      client.workflow.start(queryRace, {
        taskQueue: 'query-race',
        workflowId: `query-race-${tag}-${i}`,
        args: [rounds, activityMs, !values.remote],
      }),
    ),
  );
  let stop = false;
  const queryLoops = queries
    ? handles.flatMap((handle) =>
        [0, 1].map(async () => {
          while (!stop) await handle.query(roundsDoneQuery).catch(() => undefined);
        }),
      )
    : [];
  const start = Date.now();
  await Promise.all(
    handles.map(async (handle, i) => {
      await sleep(i * 37);
      for (let round = 0; round < rounds; round++) {
        await handle.signal(goSignal);
        // The round is done once the query says so (or, without queries, after its time).
        if (!queries) await sleep(2 * activityMs + 500);
        else while ((await handle.query(roundsDoneQuery).catch(() => -1)) <= round) await sleep(50);
      }
      await handle.result();
    }),
  );
  stop = true;
  await Promise.all(queryLoops);
  let timedOut = 0;
  for (const handle of handles) {
    const { events } = await handle.fetchHistory();
    timedOut += (events ?? []).filter((e) => e.workflowTaskTimedOutEventAttributes).length;
  }
  console.log(
    `${workflows} workflows × ${rounds} rounds, ${values.remote ? 'ordinary' : 'local'} activities of ${activityMs} ms, ${queries ? 'queried' : 'not queried'}, ${burners.length} burners: ${timedOut} workflow tasks timed out in ${((Date.now() - start) / 1000).toFixed(0)} s`,
  );
  worker.shutdown();
  await running;
} finally {
  for (const burner of burners) burner.kill();
  await server.stop();
}
