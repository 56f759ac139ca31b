// The citizen's page: apply once, list my cases, follow one case step by step, pay what is
// due (simulated payment), and see who read my data, with the case's ledger entries
// verified in this browser.
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import {
  byId,
  definitions,
  formatCents,
  formatTime,
  h,
  onClickOneAtATime,
  onSubmitOneAtATime,
  replace,
  table,
} from '../dom.ts';
import { ApiError, json, query } from '../http.ts';
import { say, sayError } from '../messages.ts';
import { sessionPanel } from '../session.ts';
import { accessTable, badge, notificationsTable, stepList, verifiedEntries } from '../caseView.ts';
import { pagedList, type Page } from '../pagedList.ts';
import type { AccessLog, CaseDetail, CaseList, CaseSummary, Due } from '../caseApi.ts';

let token = '';

const input = (id: string) => byId<HTMLInputElement>(id);

/** The form control a refused field names (`buyer.idNumber` → #buyer-idNumber). */
function controlFor(field: string): HTMLElement | null {
  const id =
    field === 'priceCents'
      ? 'price'
      : field.startsWith('utilities')
        ? 'utility-electricity'
        : field.replace(/\./g, '-');
  return document.getElementById(id);
}

function readApplication(): Record<string, unknown> {
  const number = (id: string) => (input(id).value === '' ? undefined : Number(input(id).value));
  const price = number('price');
  return {
    unitId: input('unitId').value.trim(),
    address: input('address').value.trim(),
    priceCents: price === undefined ? undefined : Math.round(price * 100),
    areaSqm: number('areaSqm'),
    contractFilingNumber: input('contractFilingNumber').value.trim(),
    buyer: {
      name: input('buyer-name').value.trim(),
      idNumber: input('buyer-idNumber').value.trim(),
    },
    seller: {
      name: input('seller-name').value.trim(),
      idNumber: input('seller-idNumber').value.trim(),
    },
    utilities: [
      ...document.querySelectorAll<HTMLInputElement>('input[name="utilities"]:checked'),
    ].map((box) => box.value),
    consent: input('consent').checked,
  };
}

async function apply(form: HTMLFormElement): Promise<void> {
  for (const invalid of form.querySelectorAll('[aria-invalid]'))
    invalid.removeAttribute('aria-invalid');
  say('Submitting your application\u2026');
  let created: { caseId: string };
  try {
    created = await json<{ caseId: string }>('/cases', {
      token,
      method: 'POST',
      body: readApplication(),
    });
  } catch (error) {
    sayError(error, 'The application was refused');
    if (error instanceof ApiError) {
      // Every field the server names is marked, the first one focused.
      const fields = error.issues.length ? error.issues.map((i) => i.field) : [error.field ?? ''];
      const controls = fields.map(controlFor).filter((control) => control !== null);
      for (const control of controls) control.setAttribute('aria-invalid', 'true');
      controls[0]?.focus();
    }
    return;
  }
  form.reset();
  byId<HTMLDetailsElement>('apply-details').open = false;
  say(`Application submitted: case ${created.caseId}.`);
  // The case exists now: failing to show it is no refusal (applying again would be refused).
  await myCases
    .reload()
    .then(() => openCase(created.caseId))
    .catch((error: unknown) =>
      sayError(error, `Application submitted as case ${created.caseId}, but it could not be shown`),
    );
}

/** The citizen's cases, newest first: the first page on a reload, older ones on "Show older". */
const myCases = pagedList<CaseSummary>(
  (pageToken) =>
    json<CaseList>(`/cases${query({ pageToken })}`, { token }).then((page) => ({
      items: page.cases,
      nextPageToken: page.nextPageToken,
    })),
  showCases,
);

function showCases({ items: cases, nextPageToken }: Page<CaseSummary>): void {
  const container = byId('cases');
  if (cases.length === 0) {
    replace(container, h('p', {}, 'You have no cases yet.'));
    return;
  }
  const older = h('button', { type: 'button', class: 'secondary' }, 'Show older cases');
  onClickOneAtATime(older, () => myCases.more().catch(showError));
  replace(
    container,
    table(
      'My cases',
      ['Case', 'Property', 'Status', 'Now', 'Submitted', ''],
      cases.map((c) => {
        const open = h(
          'button',
          { type: 'button', class: 'secondary', 'data-case': c.caseId },
          'Open',
        );
        open.addEventListener(
          'click',
          () =>
            void openCase(c.caseId).catch((error: unknown) =>
              sayError(error, `Case ${c.caseId} could not be opened`),
            ),
        );
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
          formatTime(c.submittedAt),
          open,
        ];
      }),
    ),
    nextPageToken ? older : '',
  );
}

function dueList(caseId: string, due: readonly Due[]): HTMLElement {
  if (due.length === 0) return h('p', {}, 'Nothing is due.');
  return h(
    'ul',
    { class: 'steps' },
    ...due.map((d) => {
      const pay = h('button', { type: 'button', 'data-pay': d.stepId }, `Pay for ${d.stepId}`);
      pay.addEventListener('click', () => {
        pay.disabled = true;
        say(`Paying for ${d.stepId}\u2026`);
        json<{ stepId: string; ledgerIndex: number }>(
          `/cases/${encodeURIComponent(caseId)}/payments`,
          {
            token,
            method: 'POST',
            body: { stepId: d.stepId },
          },
        )
          .then((paid) => {
            const recorded = `Payment for ${paid.stepId} recorded as ledger entry ${paid.ledgerIndex}`;
            say(`${recorded}.`);
            // Another case opened meanwhile stays open: only this one is shown again.
            if (openCaseId !== caseId) return;
            // Paid: failing to show the case again is no refusal (paying again would be refused).
            return openCase(caseId, false).catch((error: unknown) =>
              sayError(error, `${recorded}, but the case could not be shown again`),
            );
          })
          .catch((error: unknown) => {
            pay.disabled = false;
            sayError(error, 'The payment was refused');
          });
      });
      return h(
        'li',
        { class: 'step', 'data-due': d.stepId },
        h('h3', {}, `${d.stepId} (${d.agency})`),
        h(
          'p',
          {},
          d.amountCents === null
            ? 'Amount to be confirmed'
            : `Amount due: ${formatCents(d.amountCents)}`,
          ` \u00b7 by ${formatTime(d.deadlineAt)}`,
        ),
        pay,
      );
    }),
  );
}

/** A case id, as the API gives them (a UUID). */
const CASE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The load of a case last begun: a slower answer to an earlier one (another case, or this one
 * before a refresh) must not replace what it shows.
 */
let lastLoad = 0;
/** The case open last: what a payment on another one must not replace. */
let openCaseId: string | undefined;

async function openCase(caseId: string, focus = true): Promise<void> {
  const load = ++lastLoad;
  openCaseId = caseId;
  const section = byId('case');
  const body = byId('case-body');
  section.hidden = false;
  byId('case-heading').textContent = `Case ${caseId}`;
  replace(body, h('p', {}, 'Loading\u2026'));
  if (focus) byId('case-heading').focus();
  const [detail, accessLog] = await Promise.all([
    json<CaseDetail>(`/cases/${encodeURIComponent(caseId)}`, { token }),
    json<AccessLog>(`/cases/${encodeURIComponent(caseId)}/access-log`, {
      token,
    }).catch((error: unknown) => error),
  ]).catch((error: unknown) => {
    // Not "Loading…" for ever: the caller says why in the alert.
    if (load === lastLoad)
      replace(body, h('p', { class: 'warning' }, 'The case could not be loaded.'));
    throw error;
  });
  // Opened again meanwhile (another case: its heading and this one's pay buttons would mix).
  if (load !== lastLoad) return;
  const refresh = h('button', { type: 'button', class: 'secondary' }, 'Refresh this case');
  refresh.addEventListener('click', () => void openCase(caseId, false).catch(showError));
  const entries = h('div', {}, h('p', {}, 'Verifying the ledger entries\u2026'));
  replace(
    body,
    refresh,
    definitions([
      ['Property', detail.unitId],
      ['Submitted', formatTime(detail.submittedAt)],
      ['Status', `${detail.phase ?? detail.workflowStatus}`],
      ...(detail.erasedAt ? ([['Erased', formatTime(detail.erasedAt)]] as [string, string][]) : []),
      ['Overdue', detail.overdue ? badge('OVERDUE', 'overdue') : 'no'],
      ...(detail.reason ? ([['Reason', detail.reason]] as [string, string][]) : []),
    ]),
    h('h3', {}, 'Amounts due'),
    dueList(caseId, detail.due),
    h('h3', {}, 'Steps'),
    stepList(detail.steps, detail.workflowStatus, detail.erasedAt),
    h('h3', {}, 'Notifications'),
    notificationsTable(detail.notifications),
    h('h3', { id: 'access-heading' }, 'Who accessed my data'),
    accessLog instanceof Error
      ? h('p', { class: 'warning' }, `The access log could not be read: ${accessLog.message}`)
      : accessTable((accessLog as AccessLog).accesses),
    h('h3', {}, 'Signed ledger entries of this case'),
    entries,
  );
  const verified = await verifiedEntries(caseId, detail.entries);
  if (load !== lastLoad) return;
  replace(entries, verified.element);
}

function showError(error: unknown): void {
  sayError(error);
}

sessionPanel(
  'citizen',
  (value) => {
    token = value;
    byId('signed-in').hidden = false;
    const applyForm = byId<HTMLFormElement>('apply');
    onSubmitOneAtATime(applyForm, () => apply(applyForm));
    byId('refresh-cases').addEventListener('click', () => void myCases.reload().catch(showError));
    // A link may name a case to open (?case=<id>); anything but a case id is not followed.
    const requested = new URL(location.href).searchParams.get('case');
    const caseLink = requested !== null && CASE_ID.test(requested) ? requested : undefined;
    if (requested !== null && !caseLink) say('The link does not name a case.');
    myCases
      .reload()
      .then(() => (caseLink ? openCase(caseLink) : undefined))
      .catch((error: unknown) => sayError(error, 'Your cases could not be loaded'));
  },
  // A new token of the same holder: what was set up above reads `token` at each call.
  (value) => (token = value),
);
