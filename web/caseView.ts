// Parts of a case the citizen's and the supervisor's pages both show: steps with deadlines
// and overdue flags, notifications, the access log, and the case's ledger entries, each
// verified in the browser against the latest checkpoint.
/// <reference lib="dom" />
import { formatTime, h, replace, table, type Child } from './dom.ts';
import { ApiError, text } from './http.ts';
import {
  checkpointSection,
  entryItem,
  fetchInclusionProof,
  fetchTrust,
  mapLimit,
  trustDetails,
} from './ledgerView.ts';
import type { Access, CaseEntry, Notification, StepState } from './caseApi.ts';
import { verifyCheckpoint, verifyEntry, type EntryVerdict, type TrustContext } from './verify.ts';

export function badge(text: string, kind = text): HTMLSpanElement {
  return h('span', { class: `badge ${kind}` }, text);
}

/** One step: who, status, outcome and why, times, deadline, overdue, attempts, error, its entry. */
export function stepItem(step: StepState, extra: Child = null): HTMLLIElement {
  return h(
    'li',
    {
      class: `step${step.overdue ? ' overdue' : ''}`,
      'data-step': step.stepId,
      'data-status': step.status,
    },
    h(
      'h3',
      {},
      `${step.stepId} `,
      h('span', { class: 'what' }, `(${step.agency}, ${step.kind}) `),
      badge(step.status),
      step.overdue ? ' ' : null,
      step.overdue ? badge('OVERDUE', 'overdue') : null,
    ),
    step.outcome
      ? h('p', {}, `Outcome: ${step.outcome}`, step.reason ? ` \u2014 ${step.reason}` : null)
      : null,
    h(
      'p',
      { class: 'meta' },
      `Started ${formatTime(step.startedAt)} \u00b7 finished ${formatTime(step.finishedAt)} \u00b7 deadline ${formatTime(step.deadlineAt)}`,
      step.attempts && step.attempts > 1 ? ` \u00b7 ${step.attempts} attempts` : '',
    ),
    step.error ? h('p', { class: 'warning' }, `Error: ${step.error}`) : null,
    step.ledgerIndex !== undefined
      ? h(
          'p',
          {},
          'Signed result: ',
          h('a', { href: `#entry-${step.ledgerIndex}` }, `ledger entry ${step.ledgerIndex}`),
        )
      : null,
    extra,
  );
}

/**
 * Why a case shows no steps: erased (its history went with its personal data), its closed run
 * no longer kept by Temporal (retention), or else the workflow did not answer (a warning).
 */
export function noStepsNote(
  workflowStatus: string,
  erasedAt: string | null,
): { text: string; warning: boolean } {
  const entries = 'The signed ledger entries still show what each agency did.';
  if (erasedAt !== null)
    return {
      text: `This case was erased on ${formatTime(erasedAt)}: its steps went with its personal data. ${entries}`,
      warning: false,
    };
  if (workflowStatus === 'HISTORY_DELETED')
    return {
      text: `The history of this case is no longer kept (it is deleted a while after a case closes): its steps are gone. ${entries}`,
      warning: false,
    };
  return {
    text: `The workflow did not report its steps (workflow status: ${workflowStatus}). ${entries}`,
    warning: true,
  };
}

/** The steps as a list, or a note saying why there are none (`noStepsNote`). */
export function stepList(
  steps: readonly StepState[],
  workflowStatus: string,
  erasedAt: string | null,
): HTMLElement {
  if (steps.length === 0) {
    const note = noStepsNote(workflowStatus, erasedAt);
    return h('p', { class: note.warning ? 'warning' : null }, note.text);
  }
  return h('ol', { class: 'steps' }, ...steps.map((s) => stepItem(s)));
}

export function notificationsTable(notifications: readonly Notification[]): HTMLElement {
  if (notifications.length === 0) return h('p', {}, 'No notifications yet.');
  return table(
    'Notifications',
    ['When', 'To', 'Kind', 'Step', 'Message'],
    notifications.map((n) => [formatTime(n.at), n.party, n.kind, n.stepId, n.message]),
  );
}

/** Who read and why, for a read whose record is no longer kept (erased with the case). */
const NOT_ON_RECORD = 'not on record';

export function accessTable(accesses: readonly Access[]): HTMLElement {
  if (accesses.length === 0)
    return h('p', { 'data-testid': 'access-empty' }, 'Nobody has read your case data yet.');
  return table(
    'Who accessed the case data',
    ['When', 'Who', 'Role', 'Agency', 'Fields', 'Purpose', 'Ledger entry'],
    accesses.map((a) => [
      formatTime(a.at),
      a.actor ?? NOT_ON_RECORD,
      a.role,
      a.agency ?? '\u2014',
      a.fields.join(', '),
      a.purpose ?? NOT_ON_RECORD,
      String(a.ledgerIndex),
    ]),
  );
}

export interface VerifiedEntries {
  /** Why nothing could be verified (no trusted keys, no checkpoint yet); absent once checked. */
  notVerified?: string;
  verdicts: EntryVerdict[];
  /** Re-rendered in place if a later checkpoint brings pending entries in. */
  element: HTMLElement;
}

const RECHECK_MS = 1500;
const RECHECK_TRIES = 20;
const CHECKING = 'checking again shortly';
const STOPPED = `stopped checking after ${(RECHECK_TRIES * RECHECK_MS) / 1000} s; open the case again to check again`;

/**
 * The line under a case's entries. `checking`: whether the page still waits for a checkpoint
 * that holds the pending ones; the line says which, so it never promises a check that stopped.
 */
export function entriesSummary(verdicts: readonly EntryVerdict[], checking: boolean): string {
  const count = (status: EntryVerdict['status']) =>
    verdicts.filter((v) => v.status === status).length;
  return (
    `${count('verified')} of ${verdicts.length} entries verified in this browser` +
    (count('failed') ? `; ${count('failed')} FAILED` : '') +
    (count('pending')
      ? `; ${count('pending')} not yet in a published checkpoint (${checking ? CHECKING : STOPPED})`
      : '') +
    '.'
  );
}

/** The line instead of verdicts: why, and (given `checking`) whether the page waits for more. */
export function notVerifiedSummary(reason: string, checking?: boolean): string {
  const waiting = checking === undefined ? '' : `; ${checking ? CHECKING : STOPPED}`;
  return `Not verified: ${reason}${waiting}.`;
}

function reasonOf(error: unknown): string {
  if (error instanceof ApiError) return error.reason;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Verifies a case's entries in this browser: the trust info from /ledger/trust, the given
 * checkpoint note (or the latest published), and each entry's inclusion proof (inline, or
 * from the public proof route). Entries newer than that checkpoint (the read that produced
 * this page is one) show as pending; the page then waits for a published checkpoint that
 * holds them and verifies every entry again against it, from the public proof route.
 * Does not reject for what it cannot fetch: the element and `notVerified` say why instead,
 * and without a checkpoint (none published yet, or unreadable) it waits for one the same way.
 */
export async function verifiedEntries(
  caseId: string,
  entries: readonly CaseEntry[],
  checkpointNote?: string,
): Promise<VerifiedEntries> {
  const sorted = [...entries].sort((a, b) => a.index - b.index);
  const newest = sorted.at(-1)?.index ?? -1;
  const element = h('div', { class: 'ledger' });
  const summary = h('p', { 'data-testid': 'entries-summary', 'aria-live': 'polite' });

  let context: TrustContext;
  try {
    context = await fetchTrust();
  } catch (error) {
    // No keys to verify against (none configured, or unreadable): waiting will not bring them.
    const reason = `the trusted keys could not be read: ${reasonOf(error)}`;
    summary.textContent = notVerifiedSummary(reason);
    replace(element, summary);
    return { notVerified: reason, verdicts: [], element };
  }

  const verifyAll = async (note: string, inline: boolean) => {
    const checkpoint = verifyCheckpoint(note, context);
    const size = checkpoint.ok ? checkpoint.checkpoint.size : 0;
    const verdicts = await mapLimit(sorted, 4, async (entry) => {
      const proof =
        (inline ? entry.inclusionProof : undefined) ??
        (checkpoint.ok && entry.index < size ? await fetchInclusionProof(entry.index, size) : null);
      return verifyEntry({
        index: entry.index,
        caseId,
        entry,
        reportedLeafHash: entry.leafHash,
        inclusionProof: proof,
        checkpoint,
        context,
      });
    });
    summary.textContent = entriesSummary(verdicts, true);
    replace(
      element,
      trustDetails(context),
      checkpointSection(note, checkpoint),
      summary,
      h('ol', { class: 'entries' }, ...verdicts.map((v) => entryItem(v))),
    );
    return verdicts;
  };

  let verdicts: EntryVerdict[] | undefined;
  let notVerified = '';
  try {
    verdicts = await verifyAll(checkpointNote ?? (await text('/ledger/checkpoint')), true);
  } catch (error) {
    // None published yet (404), or the log or a proof not readable just now: wait below.
    notVerified = `the entries could not be checked against a checkpoint: ${reasonOf(error)}`;
    summary.textContent = notVerifiedSummary(notVerified, true);
    replace(element, trustDetails(context), summary);
  }

  if (!verdicts || verdicts.some((v) => v.status === 'pending')) {
    // Wait for a checkpoint that holds every entry; stop once one does, or after a while and
    // say so. Without verdicts yet, any checkpoint is worth checking against.
    void (async () => {
      for (let i = 0; i < RECHECK_TRIES; i++) {
        await new Promise((resolve) => setTimeout(resolve, RECHECK_MS));
        if (!element.isConnected) return; // the page moved on to something else
        const note = await text('/ledger/checkpoint').catch(() => undefined);
        if (note === undefined) continue;
        const holdsAll = Number(note.split('\n')[1]) > newest;
        if (verdicts && !holdsAll) continue;
        const checked = await verifyAll(note, false).catch(() => undefined);
        if (checked) verdicts = checked;
        if (checked && holdsAll) return;
      }
      summary.textContent = verdicts
        ? entriesSummary(verdicts, false)
        : notVerifiedSummary(notVerified, false);
    })();
  }
  return verdicts ? { verdicts, element } : { notVerified, verdicts: [], element };
}
