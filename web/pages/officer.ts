// An agency officer's page: the open review steps of their agency; opening one asks for a
// purpose (the read is recorded on the ledger, who and why off it) and shows only the
// agency's minimised view; the decision, approve or reject with a reason, is signed by the
// agency before it reaches the workflow. A gas officer also records passed safety inspections.
/// <reference lib="dom" />
import {
  byId,
  definitions,
  formatTime,
  h,
  onClickOneAtATime,
  onSubmitOneAtATime,
  replace,
  table,
  type Child,
} from '../dom.ts';
import { json, query } from '../http.ts';
import { say, sayError } from '../messages.ts';
import { claimsOf, sessionPanel } from '../session.ts';
import { badge, stepItem } from '../caseView.ts';
import { pagedList, type Page } from '../pagedList.ts';
import type { InboxItem, InspectionRecorded, OfficerView } from '../caseApi.ts';

let token = '';
/** The task chosen last: an answer about another one (chosen before) must not land under it. */
let current: InboxItem | undefined;

/** The view as label/value pairs, nested objects flattened (`buyer.name`). */
function flatten(value: unknown, prefix = ''): [string, Child][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return [[prefix || 'value', Array.isArray(value) ? value.join(', ') : String(value)]];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? flatten(inner, prefix ? `${prefix}.${key}` : key)
      : ([
          [
            prefix ? `${prefix}.${key}` : key,
            Array.isArray(inner) ? inner.join(', ') : String(inner),
          ],
        ] as [string, Child][]),
  );
}

/** The inbox: its first page on a reload, more below on "Show more" (web/pagedList.ts). */
const inbox = pagedList<InboxItem>(
  (pageToken) => json<Page<InboxItem>>(`/inbox${query({ pageToken })}`, { token }),
  showInbox,
);

function showInbox({ items, nextPageToken }: Page<InboxItem>): void {
  const container = byId('inbox');
  const more = h('button', { type: 'button', class: 'secondary' }, 'Show more');
  onClickOneAtATime(more, () =>
    inbox.more().catch((error: unknown) => sayError(error, 'The inbox could not be loaded')),
  );
  if (items.length === 0 && !nextPageToken) {
    replace(container, h('p', {}, 'No review steps are open for your agency.'));
    return;
  }
  replace(
    container,
    table(
      'Open review steps',
      ['Case', 'Property', 'Step', 'Opened', 'Deadline', ''],
      items.map((item) => {
        const open = h(
          'button',
          { type: 'button', class: 'secondary', 'data-case': item.caseId },
          'Review',
        );
        open.addEventListener('click', () => openTask(item));
        return [
          h('code', {}, item.caseId),
          item.unitId,
          item.confirmed
            ? item.stepId
            : h('span', {}, item.stepId, ' ', badge('UNCONFIRMED', 'waiting')),
          formatTime(item.startedAt),
          h(
            'span',
            {},
            formatTime(item.deadlineAt),
            item.overdue ? ' ' : '',
            item.overdue ? badge('OVERDUE', 'overdue') : '',
          ),
          open,
        ];
      }),
    ),
    nextPageToken ? more : '',
  );
}

function openTask(item: InboxItem): void {
  current = item;
  byId('task').hidden = false;
  byId('task-heading').textContent = `Review of ${item.unitId} (step ${item.stepId})`;
  replace(byId('view'));
  // A purpose is given for one case: the one typed for the case chosen before is not this one's.
  const purpose = byId<HTMLInputElement>('purpose');
  purpose.value = '';
  purpose.removeAttribute('aria-invalid');
  byId('purpose-form').hidden = false;
  byId('decision-form').hidden = true;
  byId<HTMLFormElement>('decision-form').reset();
  byId('task-heading').focus();
}

async function readCase(): Promise<void> {
  const item = current;
  if (!item) return;
  const purpose = byId<HTMLInputElement>('purpose');
  purpose.removeAttribute('aria-invalid');
  if (purpose.value.trim().length < 3) {
    purpose.setAttribute('aria-invalid', 'true');
    sayError('Say why you are reading this case (at least 3 characters).');
    purpose.focus();
    return;
  }
  try {
    const opened = await json<OfficerView>(
      `/cases/${encodeURIComponent(item.caseId)}/view${query({ purpose: purpose.value.trim() })}`,
      { token },
    );
    // Another task chosen meanwhile: this case's personal data must not show under its
    // heading, nor a decision go from there to that case.
    if (current !== item) return;
    replace(
      byId('view'),
      h(
        'p',
        { class: 'status' },
        `Your reading of this case was recorded as ledger entry ${opened.access.ledgerIndex}.`,
      ),
      h('h3', {}, `What ${opened.agency} sees of the application`),
      definitions(flatten(opened.view)),
      h('h3', {}, 'Your agency\u2019s steps'),
      h('ol', { class: 'steps' }, ...opened.steps.map((s) => stepItem(s))),
    );
    byId('purpose-form').hidden = true;
    byId('decision-form').hidden = false;
    say('The case is open. Decide below.');
  } catch (error) {
    if (current === item) sayError(error, 'The case could not be opened');
  }
}

async function decide(form: HTMLFormElement): Promise<void> {
  const item = current;
  if (!item) return;
  const outcome = form.querySelector<HTMLInputElement>('input[name="outcome"]:checked')?.value;
  const reason = byId<HTMLTextAreaElement>('reason');
  if (!outcome) {
    sayError('Choose approve or reject.');
    byId('outcome-approved').focus();
    return;
  }
  if (reason.value.trim() === '') {
    reason.setAttribute('aria-invalid', 'true');
    sayError('Give a reason for the decision.');
    reason.focus();
    return;
  }
  reason.removeAttribute('aria-invalid');
  let decided: { stepId: string; ledgerIndex: number };
  try {
    decided = await json<{ stepId: string; ledgerIndex: number }>(
      `/cases/${encodeURIComponent(item.caseId)}/decisions`,
      {
        token,
        method: 'POST',
        body: { stepId: item.stepId, outcome, reason: reason.value.trim() },
      },
    );
  } catch (error) {
    sayError(error, 'The decision was refused');
    return;
  }
  const recorded = `Decision "${outcome}" on ${decided.stepId} signed and recorded as ledger entry ${decided.ledgerIndex}`;
  say(`${recorded}.`);
  // Decided: its task closes, unless another one was chosen meanwhile.
  if (current === item) {
    byId('task').hidden = true;
    current = undefined;
  }
  // Decided: failing to reload the inbox is no refusal (deciding again would be refused).
  await inbox
    .reload()
    .catch((error: unknown) => sayError(error, `${recorded}, but the inbox could not be reloaded`));
}

/** Records a passed gas safety inspection for the case named in the form. */
async function recordInspection(form: HTMLFormElement): Promise<void> {
  const caseInput = byId<HTMLInputElement>('inspection-case');
  const unitInput = byId<HTMLInputElement>('inspection-unit');
  const passed = byId<HTMLInputElement>('inspection-passed');
  const caseId = caseInput.value.trim();
  const unitId = unitInput.value.trim();
  caseInput.removeAttribute('aria-invalid');
  unitInput.removeAttribute('aria-invalid');
  const missing = caseId === '' ? caseInput : unitId === '' ? unitInput : undefined;
  if (missing) {
    missing.setAttribute('aria-invalid', 'true');
    sayError(missing === caseInput ? 'Give the case id.' : 'Give the unit inspected.');
    missing.focus();
    return;
  }
  if (!passed.checked) {
    sayError('Only a passed inspection is recorded: confirm that the appliances passed.');
    passed.focus();
    return;
  }
  let recorded: InspectionRecorded;
  try {
    recorded = await json<InspectionRecorded>(`/cases/${encodeURIComponent(caseId)}/inspections`, {
      token,
      method: 'POST',
      body: { unitId, outcome: 'passed' },
    });
  } catch (error) {
    sayError(error, 'The inspection was not recorded');
    return;
  }
  form.reset();
  say(
    `Inspection ${recorded.inspectionId} of ${recorded.unitId} recorded.` +
      (recorded.heldStep
        ? ` ${recorded.heldStep} waits for a supervisor: their retry now finds it recorded.`
        : ' The holder change will find it recorded.'),
  );
}

sessionPanel(
  'officer',
  (value) => {
    token = value;
    byId('signed-in').hidden = false;
    const agency = claimsOf(value)?.agency;
    if (agency) byId('inbox-heading').textContent = `Open review steps for ${agency}`;
    if (agency === 'gas') {
      byId('inspection').hidden = false;
      const inspectionForm = byId<HTMLFormElement>('inspection-form');
      onSubmitOneAtATime(inspectionForm, () => recordInspection(inspectionForm));
    }
    onSubmitOneAtATime(byId<HTMLFormElement>('purpose-form'), readCase);
    const decisionForm = byId<HTMLFormElement>('decision-form');
    onSubmitOneAtATime(decisionForm, () => decide(decisionForm));
    byId('refresh-inbox').addEventListener(
      'click',
      () => void inbox.reload().catch((error: unknown) => sayError(error)),
    );
    inbox.reload().catch((error: unknown) => sayError(error, 'The inbox could not be loaded'));
  },
  // A new token of the same holder: what was set up above reads `token` at each call.
  (value) => (token = value),
);
