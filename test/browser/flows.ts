// What a person does on the pages, as playwright-core steps, and the checks every page must
// pass (labels, landmarks, no console errors, no sideways scrolling on a phone). Shared by
// the browser tests (test/integration/browser.test.ts) and the screenshot script.
import type { Page } from 'playwright-core';

/** Collects console errors, uncaught exceptions and CSP violations of a page. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  return problems;
}

/** Form controls without an accessible name, and buttons without text (hidden ones too). */
export function unlabeledControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const describe = (el: Element) =>
      `<${el.tagName.toLowerCase()}${el.id ? ` id="${el.id}"` : ''}${el.getAttribute('name') ? ` name="${el.getAttribute('name')}"` : ''}>`;
    const named = (el: Element) =>
      Boolean(el.getAttribute('aria-label')?.trim()) ||
      Boolean(
        el
          .getAttribute('aria-labelledby')
          ?.split(/\s+/)
          .some((id) => document.getElementById(id)?.textContent?.trim()),
      );
    const out: string[] = [];
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el instanceof HTMLInputElement && el.type === 'hidden') continue;
      const labels = (el as HTMLInputElement).labels;
      const labelled = labels !== null && [...labels].some((l) => l.textContent?.trim());
      if (!labelled && !named(el)) out.push(describe(el));
    }
    for (const el of document.querySelectorAll('button, a[href]')) {
      if (!el.textContent?.trim() && !named(el)) out.push(describe(el));
    }
    return out;
  });
}

/** The page's language, landmarks and headings. */
export function structure(page: Page) {
  return page.evaluate(() => ({
    lang: document.documentElement.lang,
    title: document.title,
    mains: document.querySelectorAll('main').length,
    navs: document.querySelectorAll('nav[aria-label]').length,
    h1s: document.querySelectorAll('h1').length,
    liveRegions: document.querySelectorAll('[aria-live]').length,
  }));
}

/** Whether the page is wider than the window (a phone would scroll it sideways). */
export function overflowsSideways(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
}

/** Repeats `step` (e.g. clicking Refresh) until `done` holds, or fails naming `what`. */
export async function until(
  page: Page,
  what: string,
  done: () => Promise<boolean>,
  step: () => Promise<unknown>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) {
      const status = await page
        .locator('#status')
        .textContent()
        .catch(() => '');
      const alert = await page
        .locator('#alert')
        .textContent()
        .catch(() => '');
      throw new Error(
        `${what} did not happen within ${timeoutMs} ms (status: ${status}; alert: ${alert})`,
      );
    }
    // A step that cannot run yet (its button not there yet) is tried again next round.
    await step().catch(() => undefined);
    await page.waitForTimeout(750);
  }
}

/**
 * Opens `path` signed in with `token` (passed in the fragment, which the page then removes),
 * saying yes when the page asks whom to sign in as (it asks for any token from a link);
 * returns the question. Requires a tab that does not keep `token` already: it would not ask.
 */
export async function openSignedIn(
  page: Page,
  baseUrl: string,
  path: string,
  token: string,
): Promise<string> {
  const asked = page.waitForEvent('dialog').then(async (dialog) => {
    const question = dialog.message();
    await dialog.accept();
    return question;
  });
  await page.goto(`${baseUrl}${path}#token=${token}`);
  const question = await asked;
  await page.locator('#signed-in').waitFor({ state: 'visible' });
  return question;
}

/** Waits until the explorer shows its checkpoint and every entry on the page verified. */
export async function explorerShowsVerified(page: Page): Promise<{ size: number; shown: number }> {
  await page
    .locator('[data-testid="checkpoint-verdict"]')
    .waitFor({ state: 'visible', timeout: 30_000 });
  await page
    .locator('#status')
    .filter({ hasText: /entries .*verified|FAILED/ })
    .waitFor();
  const size = Number(
    (await page.locator('.checkpoint dd').nth(1).textContent())?.trim() ?? Number.NaN,
  );
  return { size, shown: await page.locator('#entries > li.entry').count() };
}

export interface ApplicationInput {
  unitId: string;
  address: string;
  priceCents: number;
  areaSqm: number;
  contractFilingNumber: string;
  buyer: { name: string; idNumber: string };
  seller: { name: string; idNumber: string };
  utilities: string[];
}

/** The citizen opens the application form and fills it in, consent given, without sending it. */
export async function citizenFillsApplication(
  page: Page,
  application: ApplicationInput,
): Promise<void> {
  await page.locator('#apply-details > summary').click();
  await page.getByLabel('Property unit number').fill(application.unitId);
  await page.getByLabel('Address').fill(application.address);
  await page.getByLabel('Price', { exact: true }).fill((application.priceCents / 100).toFixed(2));
  await page.getByLabel('Area (m²)').fill(String(application.areaSqm));
  await page.getByLabel('Contract filing number').fill(application.contractFilingNumber);
  await page.getByLabel("Buyer's full name").fill(application.buyer.name);
  await page.getByLabel("Buyer's ID number").fill(application.buyer.idNumber);
  await page.getByLabel("Seller's full name").fill(application.seller.name);
  await page.getByLabel("Seller's ID number").fill(application.seller.idNumber);
  for (const utility of ['electricity', 'water', 'gas']) {
    const box = page.getByLabel(utility[0]!.toUpperCase() + utility.slice(1), { exact: true });
    if (application.utilities.includes(utility)) await box.check();
    else await box.uncheck();
  }
  await page.getByLabel(/I consent/).check();
}

/**
 * The citizen fills the application form and submits it (with `doubleClick`, as someone who
 * double-clicks every button); returns the new case id.
 */
export async function citizenApplies(
  page: Page,
  application: ApplicationInput,
  { doubleClick = false } = {},
): Promise<string> {
  await citizenFillsApplication(page, application);
  const submit = page.getByRole('button', { name: 'Submit application' });
  await (doubleClick ? submit.dblclick() : submit.click());
  const status = page.locator('#status').filter({ hasText: /Application submitted: case / });
  await status.waitFor({ timeout: 30_000 });
  const caseId = /case ([0-9a-f-]{36})/.exec((await status.textContent()) ?? '')?.[1];
  if (!caseId) throw new Error('the page did not say which case was created');
  return caseId;
}

/** The citizen waits for `stepId` to be due on the open case and presses its Pay button. */
export async function citizenPays(page: Page, stepId: string): Promise<number> {
  const pay = page.locator(`button[data-pay="${stepId}"]`);
  await until(
    page,
    `${stepId} falling due`,
    () => pay.isVisible(),
    () => page.getByRole('button', { name: 'Refresh this case' }).click({ timeout: 5_000 }),
  );
  await pay.click();
  const status = page.locator('#status').filter({ hasText: `Payment for ${stepId} recorded` });
  await status.waitFor({ timeout: 30_000 });
  return Number(/ledger entry (\d+)/.exec((await status.textContent()) ?? '')?.[1]);
}

/** The officer finds the case in the inbox, opens it for `purpose` and decides. */
export async function officerDecides(
  page: Page,
  caseId: string,
  purpose: string,
  outcome: 'approved' | 'rejected',
  reason: string,
): Promise<void> {
  const review = page.locator(`#inbox button[data-case="${caseId}"]`);
  await until(
    page,
    `case ${caseId} in the officer's inbox`,
    () => review.isVisible(),
    () => page.getByRole('button', { name: 'Refresh' }).click({ timeout: 5_000 }),
  );
  await review.click();
  await page.getByLabel('Purpose of reading this case').fill(purpose);
  await page.getByRole('button', { name: 'Open the case' }).click();
  await page.locator('#view').filter({ hasText: 'recorded as ledger entry' }).waitFor();
  await page.locator('#purpose-form').waitFor({ state: 'hidden' });
  await page.getByLabel(outcome === 'approved' ? 'Approve' : 'Reject').check();
  await page.getByLabel('Reason').fill(reason);
  await page.getByRole('button', { name: 'Sign and submit the decision' }).click();
  await page
    .locator('#status')
    .filter({ hasText: `Decision "${outcome}" on review signed and recorded` })
    .waitFor({ timeout: 30_000 });
}

/** The supervisor finds the case and asks for its timeline for `purpose`. */
export async function supervisorAsksForTimeline(
  page: Page,
  caseId: string,
  purpose: string,
): Promise<void> {
  const open = page.locator(`#cases button[data-case="${caseId}"]`);
  await until(
    page,
    `case ${caseId} in the supervisor's list`,
    () => open.isVisible(),
    () => page.getByRole('button', { name: 'Search' }).click({ timeout: 5_000 }),
  );
  await open.click();
  await page.getByLabel('Purpose of reading this case').fill(purpose);
  await page.getByRole('button', { name: 'Open the timeline' }).click({ timeout: 5_000 });
}

/** The supervisor finds the case, opens its timeline for `purpose`, and waits for every verdict. */
export async function supervisorOpensTimeline(
  page: Page,
  caseId: string,
  purpose: string,
): Promise<string> {
  await supervisorAsksForTimeline(page, caseId, purpose);
  const summary = page.locator('[data-testid="entries-summary"]');
  await summary.filter({ hasText: /^(\d+) of \1 entries verified in this browser\.$/ }).waitFor({
    timeout: 45_000,
  });
  return (await summary.textContent()) ?? '';
}
