// Recorded histories of real runs (test/histories, written by process.test.ts with
// ONEWINDOW_RECORD_HISTORIES=1) must replay against the current workflow code: a change
// that would break a running case fails here, and belongs behind patched().
// A few were recorded by earlier commits on purpose, to replay a path changed later:
// `v5-` and `v7-expired-wait-after-registration` (the code before v5 and before v7) and
// `v8-pre-late-payments-expired-wait-resolved-by-hand` (8cbfae7, before late payments), and the
// two `v8-pre-own-record-refusals-` (0f5d2a9: a close the ledger refused failed the case, a
// resolution of a refusal it refused escalated the step again), and
// `v10-pre-agency-key-refusals-failed` (c1991fd: an agency's answer refused for its key failed
// the case), and the six `v10-pre-overdue-clears-` (c61afa0^: a case's overdue flag never
// cleared). No
// test writes them: re-recording leaves them as they are. Each `vN-` one was recorded
// by the code before vN. The current ones are written by process.test.ts,
// orchestratorKey.test.ts, gatedStep.test.ts and agencyKey.test.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { bundleWorkflows, installRuntime } from '../../cli/workers.ts';
import { parsePayloadKey, workerDataConverter } from '../../infra/payloadCodec.ts';
import { TEST_PAYLOAD_KEY } from './stack.ts';

const dir = fileURLToPath(new URL('../histories/', import.meta.url));
const ORCHESTRATOR_STEPS = ['intake', 'appendToLedger', 'signRecord', 'notify'];

/** The parts of a history's JSON these checks read. */
interface History {
  events: {
    eventType: string;
    activityTaskScheduledEventAttributes?: { activityType?: { name?: string } };
    markerRecordedEventAttributes?: {
      markerName?: string;
      details?: {
        'patch-data'?: { payloads?: { data?: string }[] };
        data?: { payloads?: { data?: string }[] };
      };
    };
    upsertWorkflowSearchAttributesEventAttributes?: {
      searchAttributes?: { indexedFields?: Record<string, unknown> };
    };
    workflowExecutionUpdateAcceptedEventAttributes?: {
      acceptedRequest?: { input?: { name?: string } };
    };
  }[];
}
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

/** The patch id a `core_patch` marker records (its details hold `{"id": …}` as JSON). */
function patchIdOf(event: History['events'][number]): string {
  const data = event.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
  return (JSON.parse(Buffer.from(data ?? '', 'base64').toString('utf8')) as { id: string }).id;
}

describe('replaying recorded case histories', () => {
  it('finds histories from before the first patch (v1), before the one-deadline-timer patch (v2), before local orchestrator steps (v3), before the one v4 marker (v4), before v5 (v5), before v6 (v6), before v7 (v7), before v8 (v8), before v9 (v9), before v10 (v10), before v11 (v11), and current, some of them with a record or an answer the ledger refused, or flagged overdue and cleared', () => {
    // A patch leaves a marker in the history of a run that took the new path.
    const parsed = new Map(
      files.map((f) => [f, (JSON.parse(readFileSync(`${dir}${f}`, 'utf8')) as History).events]),
    );
    const events = (f: string) => parsed.get(f)!;
    const marked = (f: string) =>
      events(f).some((e) => e.eventType === 'EVENT_TYPE_MARKER_RECORDED');
    const activityTasks = (f: string) =>
      events(f).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    const localActivities = (f: string) =>
      events(f).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
        .length;
    const v1 = files.filter((f) => f.startsWith('v1-'));
    const v2 = files.filter((f) => f.startsWith('v2-'));
    const v3 = files.filter((f) => f.startsWith('v3-'));
    const v4 = files.filter((f) => f.startsWith('v4-'));
    const v5 = files.filter((f) => f.startsWith('v5-'));
    const v6 = files.filter((f) => f.startsWith('v6-'));
    const v7 = files.filter((f) => f.startsWith('v7-'));
    const v8 = files.filter((f) => f.startsWith('v8-'));
    const v9 = files.filter((f) => f.startsWith('v9-'));
    const v10 = files.filter((f) => f.startsWith('v10-'));
    const v11 = files.filter((f) => f.startsWith('v11-'));
    const current = files.filter((f) => !/^v\d+-/.test(f));
    expect(
      [v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, current].map((group) => group.length),
    ).toEqual([5, 5, 5, 5, 6, 5, 6, 14, 13, 25, 18, 22]);
    const patchMarkers = (f: string) =>
      events(f).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch').length;
    const changeVersionUpserts = (f: string) =>
      events(f).filter(
        (e) =>
          e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.[
            'TemporalChangeVersion'
          ],
      ).length;
    expect(v1.filter(marked)).toEqual([]);
    expect(v2.filter(marked)).toEqual(['v2-escalated-gas-resolved-by-hand.json']);
    // Every case started then took the one-deadline-timer path; every case started now also
    // runs the orchestrator's steps as local activities (a marker each, no activity task).
    expect(v3.filter(marked)).toEqual(v3);
    for (const f of v3) {
      expect(activityTasks(f)).toContain('appendToLedger');
      expect(localActivities(f)).toBe(0);
    }
    for (const f of [...v4, ...v5, ...v6, ...v7, ...v8, ...v9, ...v10, ...v11, ...current]) {
      expect(activityTasks(f).filter((a) => ORCHESTRATOR_STEPS.includes(a))).toEqual([]);
      expect(localActivities(f)).toBeGreaterThan(0);
    }
    // A case started before v4 asks for each patch it passes: a marker and an upsert each.
    // One started since records one marker alone: v4's before v5, v5's before v6, v6's before
    // v7, v7's before v8, v8's before v9, v9's before v10, v10's before v11, v11's now.
    for (const f of v4) expect(patchMarkers(f)).toBeGreaterThanOrEqual(3);
    const markerNames = (f: string) =>
      events(f).flatMap((e) =>
        e.markerRecordedEventAttributes?.markerName === 'core_patch' ? [patchIdOf(e)] : [],
      );
    // A case whose own record the ledger refused (test/integration/orchestratorKey.test.ts)
    // also asks, at the refusal, for the patch that holds it for a supervisor; the
    // `v8-pre-own-record-refusals-*` ones, recorded by the code before it, do not.
    const refusedRecords = files.filter((f) => f.endsWith('-refused-then-retried.json'));
    const refusedNames = [
      'close-record-refused-then-retried.json',
      'resolution-of-a-refusal-refused-then-retried.json',
      'resolution-refused-then-retried.json',
    ];
    expect(refusedRecords.sort()).toEqual(
      [
        ...refusedNames,
        ...refusedNames.map((f) => `v8-${f}`),
        ...refusedNames.map((f) => `v9-${f}`),
        ...refusedNames.map((f) => `v10-${f}`),
        ...refusedNames.map((f) => `v11-${f}`),
        'retry-record-refused-then-retried.json',
      ].sort(),
    );
    // A case whose agency's answer the ledger refused before the registration
    // (test/integration/agencyKey.test.ts) asks, at the refusal, for the patch that holds the
    // step for a supervisor; `v10-pre-agency-key-refusals-failed`, recorded by the code before it
    // (c1991fd's workflow), met the same refusal and did not: it failed and was undone.
    for (const f of [
      'v10-pre-agency-key-refusals-failed.json',
      'agency-answer-refused-held-retried.json',
    ])
      expect(JSON.stringify(events(f)), f).toContain('UnknownKeyError');
    const refusedAnswers = [
      'agency-answer-refused-held-retried.json',
      'agency-answer-refused-precheck-resolved.json',
    ].flatMap((f) => [f, `v10-${f}`, `v11-${f}`]);
    // A case flagged overdue clears the flag once no step of it is overdue any more (at its
    // close at the latest): the last flag is false. One started before v10 asked, when its
    // first deadline fell due, for the patch that clears it: its marker comes before the first
    // flag. One started since records no such marker (v10 stands for it). The ones before v10
    // and the `v10-pre-overdue-clears-` ones (c61afa0^: v9 without it) never ask, and end
    // flagged.
    const overdueFlags = (f: string) =>
      events(f).flatMap((e, at) => {
        const value = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes
          ?.indexedFields?.['OneWindowOverdue'] as { data?: string } | undefined;
        return value?.data
          ? [{ at, value: Buffer.from(value.data, 'base64').toString('utf8') }]
          : [];
      });
    const flagged = (f: string) => overdueFlags(f).some((flag) => flag.value === 'true');
    const beforeTheClearing = (f: string) => f.startsWith('v10-pre-overdue-clears-');
    const clearedOverdue = [...v10, ...v11, ...current].filter(
      (f) => flagged(f) && !beforeTheClearing(f),
    );
    const overdueNames = [
      'cancelled-while-the-registration-was-in-flight.json',
      'escalated-gas-resolved-by-hand.json',
      'expired-unpaid-tax.json',
      'late-filing-no-longer-overdue.json',
      'late-payment-after-expiry.json',
      'late-payment-held-supervisor-refused.json',
      'late-payment-refused-by-the-ledger-then-paid.json',
    ];
    expect(clearedOverdue.sort()).toEqual(
      [
        ...overdueNames,
        ...overdueNames.map((f) => `v10-${f}`),
        ...overdueNames.map((f) => `v11-${f}`),
        'reopened-wait-no-longer-overdue.json',
        'registration-retried-watched-afresh.json',
        'retry-record-refused-then-retried.json',
      ].sort(),
    );
    /** Where `f` records the `overdue-clears` marker, or -1. */
    const overdueClearsMarker = (f: string) =>
      events(f).findIndex(
        (e) =>
          e.markerRecordedEventAttributes?.markerName === 'core_patch' &&
          patchIdOf(e) === 'overdue-clears',
      );
    for (const f of clearedOverdue) {
      const flags = overdueFlags(f);
      if (v10.includes(f)) {
        expect(overdueClearsMarker(f), f).toBeGreaterThan(-1);
        expect(overdueClearsMarker(f), f).toBeLessThan(
          flags.find((flag) => flag.value === 'true')!.at,
        );
      } else expect(overdueClearsMarker(f), f).toBe(-1);
      expect(flags.at(-1)?.value, f).toBe('false');
    }
    // Since v11 an agency that answered in time is not late, though its answer's append was
    // held past the deadline; and a wait a supervisor opened again after its final limit
    // clears the case's flag before anything settles it (its fresh period).
    const held = 'answered-in-time-append-held.json';
    expect(flagged(held)).toBe(false);
    // What it shows: the deadline's timer came while the first append was still in flight.
    const firstAppend = events(held).findIndex(
      (e) =>
        e.markerRecordedEventAttributes?.markerName === 'core_local_activity' &&
        Buffer.from(
          e.markerRecordedEventAttributes.details?.data?.payloads?.[0]?.data ?? '',
          'base64',
        )
          .toString('utf8')
          .includes('"activity_type":"appendToLedger"'),
    );
    const firstTimerFired = events(held).findIndex((e) => e.eventType === 'EVENT_TYPE_TIMER_FIRED');
    expect(firstTimerFired).toBeGreaterThan(-1);
    expect(firstTimerFired).toBeLessThan(firstAppend);
    const reopened = 'reopened-wait-no-longer-overdue.json';
    const lastUpdate = (name: string) =>
      events(reopened).findLastIndex(
        (e) =>
          e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === name,
      );
    const retriedAt = lastUpdate('resolveEscalation');
    const paidAt = lastUpdate('decide');
    expect(retriedAt).toBeGreaterThan(-1);
    expect(paidAt).toBeGreaterThan(retriedAt);
    expect(
      overdueFlags(reopened)
        .filter((flag) => flag.at > retriedAt && flag.at < paidAt)
        .map((flag) => flag.value),
    ).toContain('false');
    expect(
      overdueFlags(reopened)
        .filter((flag) => flag.at < retriedAt)
        .at(-1)?.value,
    ).toBe('true');
    // Since v11 a supervisor's retry of an automatic step arms its fresh deadline in the
    // activation of the retry's Update: the timer starts before the retry's record (a local
    // activity, its marker) in that workflow task's commands.
    const afresh = 'registration-retried-watched-afresh.json';
    const retryTaken = events(afresh).findIndex(
      (e) =>
        e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name ===
        'resolveEscalation',
    );
    const nextTask = events(afresh).findIndex(
      (e, at) => at > retryTaken && e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED',
    );
    expect(retryTaken).toBeGreaterThan(-1);
    expect(nextTask).toBeGreaterThan(retryTaken);
    const taskCommands = events(afresh)
      .slice(retryTaken, nextTask)
      .map((e) =>
        e.markerRecordedEventAttributes?.markerName === 'core_local_activity'
          ? 'local activity'
          : e.eventType,
      );
    expect(taskCommands).toContain('EVENT_TYPE_TIMER_STARTED');
    expect(taskCommands.indexOf('EVENT_TYPE_TIMER_STARTED')).toBeLessThan(
      taskCommands.indexOf('local activity'),
    );
    const neverCleared = files.filter(
      (f) => flagged(f) && (/^v[1-9]-/.test(f) || beforeTheClearing(f)),
    );
    expect(neverCleared.filter(beforeTheClearing)).toHaveLength(6);
    for (const f of neverCleared) {
      expect(overdueFlags(f).at(-1)?.value, f).toBe('true');
      expect(markerNames(f), f).not.toContain('overdue-clears');
    }
    for (const [group, patch] of [
      [v5, 'jointTransferCase-v4'],
      [v6, 'jointTransferCase-v5'],
      [v7, 'jointTransferCase-v6'],
      [v8, 'jointTransferCase-v7'],
      [v9, 'jointTransferCase-v8'],
      [v10, 'jointTransferCase-v9'],
      [v11, 'jointTransferCase-v10'],
      [current, 'jointTransferCase-v11'],
    ] as const) {
      for (const f of group) {
        // A cancellation request that came with the payment's deadline (process.test.ts)
        // asks, then, for the patch that settles the wait as refused.
        const refusal = refusedRecords.includes(f)
          ? 'own-record-refused-waits'
          : refusedAnswers.includes(f)
            ? 'agency-key-refused-waits'
            : f.endsWith('withdrawn-beside-the-payment-deadline.json')
              ? 'refusal-beside-deadline'
              : undefined;
        const expected = [
          patch,
          ...(refusal ? [refusal] : []),
          ...(clearedOverdue.includes(f) && v10.includes(f) ? ['overdue-clears'] : []),
        ];
        expect(markerNames(f), f).toEqual(expected);
        expect(changeVersionUpserts(f)).toBe(expected.length);
      }
    }
  });

  it('replays every recorded history without a nondeterminism error', async () => {
    installRuntime('WARN');
    const workflowBundle = await bundleWorkflows();
    // The sandbox evaluates the bundle's modules for every case: no schema library in it.
    expect(workflowBundle.code).not.toContain('node_modules/zod');
    const histories = files.map((file) => {
      const history = historyFromJSON(JSON.parse(readFileSync(`${dir}${file}`, 'utf8')));
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      expect(started?.workflowType?.name).toBe('jointTransferCase');
      return { workflowId: file, history };
    });
    const results: string[] = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle, dataConverter: workerDataConverter(parsePayloadKey(TEST_PAYLOAD_KEY)) },
      histories,
    )) {
      expect(result.error, `${result.workflowId}: ${String(result.error)}`).toBeUndefined();
      results.push(result.workflowId);
    }
    expect(results.sort()).toEqual([...files].sort());
  });
});
