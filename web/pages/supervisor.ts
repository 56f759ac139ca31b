// The supervisor's page: the escalations waiting for a supervisor, a page at a time; the case
// list with filters and paging; a case's timeline (read for a stated purpose, which the
// ledger records) with the workflow's steps beside the signed ledger entries, each verified
// in this browser; escalations to retry or resolve; the evidence bundle to download.
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { Agency } from '../../domain/agency.ts';
import { CasePhase } from '../../domain/caseStatus.ts';
import { jointTransferProcess } from '../../domain/process.ts';
import {
  byId,
  definitions,
  formatTime,
  h,
  onClickOneAtATime,
  onSubmitOneAtATime,
  replace,
  table,
} from '../dom.ts';
import { bytes, json, query } from '../http.ts';
import { say, sayError } from '../messages.ts';
import { sessionPanel } from '../session.ts';
import { accessTable, badge, notificationsTable, stepList, verifiedEntries } from '../caseView.ts';
import { pagedList, type Page } from '../pagedList.ts';
import type { CaseList, Escalation, EscalationItem, EscalationList, Timeline } from '../caseApi.ts';

let token = '';

/**
 * The case list shown: the filters of the Search that listed it (its page tokens were issued
 * for those, not for what the form says now), the page token of each page seen so far (index
 * 0 is the first page, no token), and the page shown. Replaced only by a load that succeeded.
 */
interface Listing {
  filters: Record<string, string>;
  pageTokens: readonly (string | null)[];
  page: number;
}
let listing: Listing = { filters: {}, pageTokens: [null], page: 0 };
/** The case list load last begun: a slower answer to an earlier Search or page is dropped. */
let lastListLoad = 0;
let openCaseId: string | undefined;
/** The timeline load last begun: a slower answer to an earlier one must not replace it. */
let lastLoad = 0;
/** The escalations waiting, newest first: the first page on a reload, more on "Show more". */
const escalations = pagedList<EscalationItem>(
  (pageToken) => json<EscalationList>(`/escalations${query({ pageToken })}`, { token }),
  showEscalations,
);

function fillSelect(id: string, values: readonly string[]): void {
  const select = byId<HTMLSelectElement>(id);
  for (const value of values) select.append(h('option', { value }, value));
}

/** The filters as the form says now: read on Search only. */
function filters(): Record<string, string> {
  const form = byId<HTMLFormElement>('filters');
  const out: Record<string, string> = {};
  for (const [name, value] of new FormData(form))
    if (typeof value === 'string' && value) out[name] = value;
  return out;
}

/**
 * Loads page `wanted.page` of the list of `wanted.filters` (whose token for that page is known)
 * and shows it. Previous and Next wait while it loads: a second click would ask for a page
 * from a token not yet known, or count from a page not yet shown.
 */
async function loadCases(wanted: Listing): Promise<void> {
  const load = ++lastListLoad;
  const previous = byId<HTMLButtonElement>('prev-page');
  const next = byId<HTMLButtonElement>('next-page');
  previous.disabled = next.disabled = true;
  try {
    const { page, pageTokens } = wanted;
    const list = await json<CaseList>(
      `/cases${query({ ...wanted.filters, pageToken: pageTokens[page] })}`,
      { token },
    );
    if (load !== lastListLoad) return;
    const known = pageTokens.slice(0, page + 1);
    listing = {
      ...wanted,
      pageTokens: list.nextPageToken ? [...known, list.nextPageToken] : known,
    };
    showCases(list);
  } finally {
    // After a failure the list shown stays, and so does where Previous and Next lead from it.
    if (load === lastListLoad) {
      previous.disabled = listing.page === 0;
      next.disabled = listing.pageTokens[listing.page + 1] === undefined;
    }
  }
}

function showCases(list: CaseList): void {
  const { page } = listing;
  byId('page-label').textContent = `Page ${page + 1}`;
  const container = byId('cases');
  if (list.cases.length === 0) {
    replace(container, h('p', {}, 'No case matches these filters.'));
    say('No case matches these filters.');
    return;
  }
  replace(
    container,
    table(
      'Cases',
      ['Case', 'Property', 'Status', 'Current steps', 'Agencies', 'Submitted', 'Closed', ''],
      list.cases.map((c) => {
        const open = timelineButton(c.caseId, c.unitId);
        return [
          h('code', {}, c.caseId),
          c.unitId,
          h(
            'span',
            {},
            badge(c.status),
            c.overdue ? ' ' : '',
            c.overdue ? badge('OVERDUE', 'overdue') : '',
          ),
          c.currentSteps.join(', ') || '\u2014',
          c.agencies.join(', '),
          formatTime(c.submittedAt),
          formatTime(c.closedAt),
          open,
        ];
      }),
    ),
  );
  say(`Page ${page + 1}: ${list.cases.length} cases.`);
}

/** The button that opens a case's timeline, from either list. */
function timelineButton(caseId: string, unitId: string): HTMLButtonElement {
  const open = h('button', { type: 'button', class: 'secondary', 'data-case': caseId }, 'Timeline');
  open.addEventListener('click', () => chooseCase(caseId, unitId));
  return open;
}

function showEscalations({ items, nextPageToken }: Page<EscalationItem>): void {
  byId('escalations-more').hidden = !nextPageToken;
  const container = byId('escalations');
  if (items.length === 0) {
    // A page may come back empty with a token: older escalations are further down.
    replace(
      container,
      h(
        'p',
        {},
        nextPageToken
          ? 'None among the latest escalations; older ones may still wait (Show more).'
          : 'No escalation is waiting for you.',
      ),
    );
    return;
  }
  replace(
    container,
    table(
      'Escalations waiting for you',
      ['Case', 'Property', 'Step', 'Reason', 'Escalated', 'Overdue', ''],
      items.map((e) => [
        h('code', {}, e.caseId),
        e.unitId,
        e.stepId,
        e.confirmed ? e.reason : h('span', {}, badge('UNCONFIRMED', 'waiting'), ' ', e.reason),
        formatTime(e.escalatedAt),
        e.overdue ? badge('OVERDUE', 'overdue') : 'no',
        timelineButton(e.caseId, e.unitId),
      ]),
    ),
  );
}

function chooseCase(caseId: string, unitId: string): void {
  openCaseId = caseId;
  lastLoad++; // a timeline still loading is of the case chosen before
  byId('case').hidden = false;
  byId('case-heading').textContent = `Timeline of case ${caseId} (${unitId})`;
  replace(byId('timeline'));
  // A purpose is given for one case: the one typed for the case chosen before is not this one's.
  const purpose = byId<HTMLInputElement>('purpose');
  purpose.value = '';
  purpose.removeAttribute('aria-invalid');
  byId('case-heading').focus();
}

function escalationItem(caseId: string, escalation: Escalation, index: number): HTMLLIElement {
  const state = badge(
    escalation.resolved ? 'resolved' : 'open',
    escalation.resolved ? 'done' : 'escalated',
  );
  const item = h(
    'li',
    { class: 'step', 'data-escalation': escalation.stepId },
    h('h3', {}, `Escalated: ${escalation.stepId} `, state),
    h('p', {}, `${formatTime(escalation.at)}: ${escalation.reason}`),
    escalation.resolution ? h('p', {}, `Resolution: ${escalation.resolution}`) : null,
  );
  if (escalation.resolved) return item;
  const actionId = `esc-action-${index}`;
  const reasonId = `esc-reason-${index}`;
  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    h(
      'div',
      { class: 'field' },
      h('label', { for: actionId }, 'Action'),
      h(
        'select',
        { id: actionId, name: 'action' },
        // What the ledger refused (an orchestrator's record, an agency's answer under a key it
        // does not accept) must be on the ledger: only a retry records it.
        ...(escalation.retryOnly
          ? [h('option', { value: 'retry' }, 'Retry (it cannot be resolved by hand)')]
          : [
              h('option', { value: 'retry' }, 'Retry the step'),
              h('option', { value: 'resolve' }, 'Resolve by hand'),
            ]),
      ),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: reasonId }, 'Reason'),
      h('textarea', { id: reasonId, name: 'reason', rows: 2, required: true, maxlength: 500 }),
    ),
    h('button', { type: 'submit' }, 'Act on the escalation'),
  );
  const submit = form.querySelector('button')!;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const action = byId<HTMLSelectElement>(actionId).value;
    const reason = byId<HTMLTextAreaElement>(reasonId);
    if (reason.value.trim() === '') {
      reason.setAttribute('aria-invalid', 'true');
      sayError('Give a reason.');
      reason.focus();
      return;
    }
    reason.removeAttribute('aria-invalid');
    // One action at a time: a second click would be refused once the first has gone through.
    submit.disabled = true;
    json<{ stepId: string; ledgerIndex: number | null }>(
      `/cases/${encodeURIComponent(caseId)}/escalations`,
      {
        token,
        method: 'POST',
        body: { stepId: escalation.stepId, action, reason: reason.value.trim() },
      },
    )
      .then((applied) => {
        const result =
          `${action === 'retry' ? 'Retry' : 'Resolution'} of ${applied.stepId} sent` +
          (applied.ledgerIndex === null
            ? '.'
            : `, recorded as ledger entry ${applied.ledgerIndex}.`);
        // The step no longer waits for a supervisor: no form to act again, no "open".
        state.replaceWith(badge('action sent', 'waiting'));
        form.replaceWith(h('p', { class: 'status' }, result));
        say(result);
        return escalations
          .reload()
          .catch((error: unknown) => sayError(error, 'The escalations could not be reloaded'));
      })
      .catch((error: unknown) => {
        submit.disabled = false;
        sayError(error, 'The action was refused');
      });
  });
  item.append(form);
  return item;
}

async function downloadEvidence(caseId: string): Promise<void> {
  // The bundle's bytes exactly as served: `onewindow ledger verify-bundle` checks this file.
  const bundle = await bytes(`/cases/${encodeURIComponent(caseId)}/evidence`, { token });
  const url = URL.createObjectURL(new Blob([bundle], { type: 'application/json' }));
  const link = h('a', { href: url, download: `evidence-${caseId}.json`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  say(`Evidence bundle of case ${caseId} downloaded (evidence-${caseId}.json).`);
}

async function openTimeline(): Promise<void> {
  const caseId = openCaseId;
  if (!caseId) return;
  const purpose = byId<HTMLInputElement>('purpose');
  purpose.removeAttribute('aria-invalid');
  if (purpose.value.trim().length < 3) {
    purpose.setAttribute('aria-invalid', 'true');
    sayError('Say why you are reading this case (at least 3 characters).');
    purpose.focus();
    return;
  }
  say('Loading the timeline and verifying its ledger entries\u2026');
  const load = ++lastLoad;
  const t = await json<Timeline>(
    `/cases/${encodeURIComponent(caseId)}/timeline${query({ purpose: purpose.value.trim() })}`,
    { token },
  );
  // Chosen or opened again meanwhile: this answer (and its forms) would land under the other.
  if (load !== lastLoad) return;
  const evidence = h(
    'button',
    { type: 'button', class: 'secondary' },
    'Download the evidence bundle',
  );
  evidence.addEventListener(
    'click',
    () =>
      void downloadEvidence(caseId).catch((e: unknown) =>
        sayError(e, 'The evidence bundle could not be downloaded'),
      ),
  );
  const entriesColumn = h('div', {}, h('p', {}, 'Verifying\u2026'));
  replace(
    byId('timeline'),
    h(
      'p',
      { class: 'status' },
      `Your reading of this timeline was recorded as ledger entry ${t.access.ledgerIndex}.`,
    ),
    definitions([
      ['Property', t.unitId],
      ['Submitted', formatTime(t.submittedAt)],
      ['Workflow', t.workflowStatus],
      ...(t.erasedAt ? ([['Erased', formatTime(t.erasedAt)]] as [string, string][]) : []),
      ['Phase', t.phase ?? '\u2014'],
      ['Overdue', t.overdue ? badge('OVERDUE', 'overdue') : 'no'],
      ...(t.reason ? ([['Reason', t.reason]] as [string, string][]) : []),
    ]),
    evidence,
    t.application
      ? h(
          'details',
          {},
          h('summary', {}, 'Application (personal data)'),
          h('pre', {}, JSON.stringify(t.application, null, 2)),
        )
      : null,
    h(
      'div',
      { class: 'side-by-side' },
      h(
        'section',
        { 'aria-labelledby': 'workflow-heading' },
        h('h3', { id: 'workflow-heading' }, 'Workflow steps'),
        stepList(t.steps, t.workflowStatus, t.erasedAt),
        h('h3', {}, 'Compensations, resolutions and other records'),
        t.records.length
          ? table(
              'Records',
              ['Step', 'Agency', 'Outcome', 'When', 'Entry'],
              t.records.map((r) => [
                r.stepId,
                r.agency,
                r.outcome,
                formatTime(r.at),
                h('a', { href: `#entry-${r.ledgerIndex}` }, String(r.ledgerIndex)),
              ]),
            )
          : h('p', {}, 'None.'),
        h('h3', {}, 'Escalations'),
        t.escalations.length
          ? h(
              'ul',
              { class: 'steps' },
              ...t.escalations.map((e, i) => escalationItem(caseId, e, i)),
            )
          : h('p', {}, 'None.'),
      ),
      h(
        'section',
        { 'aria-labelledby': 'ledger-heading' },
        h('h3', { id: 'ledger-heading' }, 'Signed ledger entries'),
        entriesColumn,
      ),
    ),
    h('h3', {}, 'Notifications'),
    notificationsTable(t.notifications),
    h('h3', {}, 'Who accessed the case data'),
    accessTable(t.accessLog),
  );
  // Not awaited: the purpose form waits for the read alone (onSubmitOneAtATime), so another
  // case can be opened while this one's entries are still being verified.
  void verifyInto(entriesColumn, caseId, t, load).catch((error: unknown) => {
    // Of a timeline since replaced by another: not this page's to report any more.
    if (load === lastLoad) sayError(error, 'The ledger entries could not be verified');
  });
}

/** Verifies the timeline's entries into `column`, unless another timeline was asked for since. */
async function verifyInto(
  column: HTMLElement,
  caseId: string,
  t: Timeline,
  load: number,
): Promise<void> {
  const verified = await verifiedEntries(caseId, t.entries, t.checkpoint?.note);
  if (load !== lastLoad) return;
  replace(column, verified.element);
  const failed = verified.verdicts.filter((v) => v.status === 'failed').length;
  say(
    verified.notVerified
      ? `Timeline loaded; its ledger entries are not verified: ${verified.notVerified}.`
      : failed
        ? `Timeline loaded: ${failed} ledger entries FAILED verification.`
        : `Timeline loaded: ${verified.verdicts.filter((v) => v.status === 'verified').length} of ${verified.verdicts.length} ledger entries verified.`,
  );
}

sessionPanel(
  'supervisor',
  (value) => {
    token = value;
    byId('signed-in').hidden = false;
    fillSelect('f-status', ['submitted', ...CasePhase.options]);
    fillSelect('f-agency', Agency.options);
    fillSelect(
      'f-step',
      jointTransferProcess(['electricity', 'water', 'gas']).steps.map((s) => s.id),
    );
    const show = (wanted: Listing) =>
      loadCases(wanted).catch((error: unknown) => sayError(error, 'The cases could not be loaded'));
    const search = () => show({ filters: filters(), pageTokens: [null], page: 0 });
    byId<HTMLFormElement>('filters').addEventListener('submit', (event) => {
      event.preventDefault();
      void search();
    });
    byId('next-page').addEventListener(
      'click',
      () => void show({ ...listing, page: listing.page + 1 }),
    );
    byId('prev-page').addEventListener(
      'click',
      () => void show({ ...listing, page: Math.max(0, listing.page - 1) }),
    );
    const escalationsFailed = (error: unknown) =>
      sayError(error, 'The escalations could not be loaded');
    onClickOneAtATime(byId<HTMLButtonElement>('escalations-more'), () =>
      escalations.more().catch(escalationsFailed),
    );
    byId('escalations-reload').addEventListener('click', () => {
      escalations
        .reload()
        .then((list) => list && say(`Escalations waiting for you: ${list.items.length}.`))
        .catch(escalationsFailed);
    });
    onSubmitOneAtATime(byId<HTMLFormElement>('purpose-form'), () =>
      openTimeline().catch((error: unknown) => sayError(error, 'The timeline could not be opened')),
    );
    escalations.reload().catch(escalationsFailed);
    void search();
  },
  // A new token of the same holder: what was set up above reads `token` at each call.
  (value) => (token = value),
);
