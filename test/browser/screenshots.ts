// Screenshots of the main pages for the README, desktop and phone size, in Debian's Chromium.
//
//   npx tsx test/browser/screenshots.ts                    # starts its own `onewindow dev --demo 2`
//   npx tsx test/browser/screenshots.ts --url http://127.0.0.1:3000 --data-dir .onewindow/dev
//                                                          # against a running `onewindow dev`
//
// It plays one case through the pages as in the browser tests (the citizen applies and pays,
// the registry officer opens the review, approves, the supervisor opens the timeline) and
// writes docs/screenshots/<desktop|phone>-<page>.png.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { freePort } from '../../infra/ports.ts';
import { launchChromium } from './chromium.ts';
import {
  citizenApplies,
  citizenPays,
  explorerShowsVerified,
  openSignedIn,
  supervisorOpensTimeline,
  until,
} from './flows.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'onewindow.mjs');
const OUT = join(ROOT, 'docs', 'screenshots');

const VIEWPORTS = {
  desktop: { width: 1280, height: 900 },
  phone: { width: 390, height: 844 },
} as const;

interface Target {
  url: string;
  tokens: { citizen: string; officer: string; supervisor: string };
  stop(): Promise<void>;
}

/** Starts `onewindow dev` on free ports in a scratch folder and reads its page links. */
async function ownDev(): Promise<Target> {
  const dataDir = mkdtempSync(join(tmpdir(), 'onewindow-screenshots-'));
  // PostgreSQL runs as its own user when we are root: it must be able to enter the folder.
  chmodSync(dataDir, 0o755);
  const [port, uiPort] = [await freePort(), await freePort()];
  const child: ChildProcess = spawn(
    process.execPath,
    [
      BIN,
      'dev',
      '--port',
      String(port),
      '--ui-port',
      String(uiPort),
      '--demo',
      '2',
      '--data-dir',
      dataDir,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const links: Record<string, string> = {};
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        process.stdout.write(`  dev | ${line}\n`);
        const link = /^\s+(citizen|officer|supervisor)\s+(http\S+#token=(\S+))$/.exec(line);
        if (link) links[link[1]!] = link[3]!;
        if (line.startsWith('running; press Ctrl-C')) resolve();
      }
    });
    void exited.then((code) =>
      reject(new Error(`onewindow dev exited (${code}) before it was ready`)),
    );
  });
  if (!links.citizen || !links.officer || !links.supervisor)
    throw new Error('onewindow dev printed no page links with tokens');
  return {
    url: `http://127.0.0.1:${port}`,
    tokens: { citizen: links.citizen, officer: links.officer, supervisor: links.supervisor },
    async stop() {
      child.kill('SIGINT');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A running `onewindow dev`: tokens minted with its token key (`onewindow tokens`). */
async function runningDev(url: string, dataDir: string): Promise<Target> {
  const run = promisify(execFile);
  const token = async (...args: string[]) =>
    (
      await run(
        process.execPath,
        [BIN, 'tokens', '--key', join(dataDir, 'keys', 'tokens.key'), ...args],
        {
          cwd: ROOT,
        },
      )
    ).stdout.trim();
  return {
    url,
    tokens: {
      citizen: await token('--role', 'citizen', '--subject', 'citizen-demo'),
      officer: await token(
        '--role',
        'officer',
        '--subject',
        'officer-registry-1',
        '--agency',
        'registry',
      ),
      supervisor: await token('--role', 'supervisor', '--subject', 'supervisor-1'),
    },
    stop: () => Promise.resolve(),
  };
}

/** Desktop shots are cut at this height (from `top`), so the README's images stay small. */
const MAX_HEIGHT = 1800;

async function shoot(page: Page, name: string, fullPage = true, top = 0): Promise<void> {
  const path = join(OUT, `${name}.png`);
  // No focus ring or caret in the picture.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  if (!fullPage) {
    await page.screenshot({ path });
  } else {
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    const width = page.viewportSize()?.width ?? 1280;
    const y = Math.max(0, Math.min(top, height - 1));
    await page.screenshot({
      path,
      fullPage: true,
      clip: { x: 0, y, width, height: Math.min(MAX_HEIGHT, height - y) },
    });
  }
  console.log(`wrote ${path}`);
}

async function shootAll(browser: Browser, target: Target): Promise<void> {
  const { url, tokens } = target;
  const stamp = Date.now().toString(36).toUpperCase();
  for (const [kind, viewport] of Object.entries(VIEWPORTS)) {
    const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const full = kind === 'desktop';

    await page.goto(`${url}/`);
    await shoot(page, `${kind}-index`, full);

    await page.goto(`${url}/explorer`);
    await explorerShowsVerified(page);
    await shoot(page, `${kind}-explorer`, full);

    // One case through the pages.
    await openSignedIn(page, url, '/citizen', tokens.citizen);
    await shoot(page, `${kind}-citizen-cases`, full);
    const caseId = await citizenApplies(page, {
      unitId: `SHOT-${stamp}-${kind.toUpperCase()}`,
      address: '12 Harbour Lane, Apt 4B',
      priceCents: 42_500_000,
      areaSqm: 84.5,
      contractFilingNumber: `HF-${stamp}-${kind.toUpperCase()}`,
      buyer: { name: 'Mina Park', idNumber: 'B1234567' },
      seller: { name: 'Jon Lee', idNumber: 'S7654321' },
      utilities: ['electricity', 'water'],
    });
    await citizenPays(page, 'confirmPayment');
    await page.locator('[data-testid="entries-summary"]').waitFor();
    await shoot(page, `${kind}-citizen-case`, full);

    await openSignedIn(page, url, '/officer', tokens.officer);
    const review = page.locator(`#inbox button[data-case="${caseId}"]`);
    await until(
      page,
      'the review in the inbox',
      () => review.isVisible(),
      () => page.getByRole('button', { name: 'Refresh' }).click(),
    );
    await shoot(page, `${kind}-officer-inbox`, full);
    await review.click();
    await page.getByLabel('Purpose of reading this case').fill('review of title transfer');
    await page.getByRole('button', { name: 'Open the case' }).click();
    await page.locator('#view').filter({ hasText: 'recorded as ledger entry' }).waitFor();
    await page.getByLabel('Approve').check();
    await page.getByLabel('Reason').fill('title and payment in order');
    await shoot(page, `${kind}-officer-review`, full);
    await page.getByRole('button', { name: 'Sign and submit the decision' }).click();
    await page.locator('#status').filter({ hasText: 'Decision "approved" on review' }).waitFor();

    await openSignedIn(page, url, '/supervisor', tokens.supervisor);
    await page.locator('#cases table').waitFor();
    await shoot(page, `${kind}-supervisor-cases`, full);
    await supervisorOpensTimeline(page, caseId, 'screenshots of a verified timeline');
    const top = await page
      .locator('#case-heading')
      .evaluate((el) => el.getBoundingClientRect().top + window.scrollY);
    await shoot(page, `${kind}-supervisor-timeline`, full, Math.max(0, top - 16));
    await context.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { url: { type: 'string' }, 'data-dir': { type: 'string' } },
  });
  mkdirSync(OUT, { recursive: true });
  const target = values.url
    ? await runningDev(
        values.url.replace(/\/$/, ''),
        resolve(ROOT, values['data-dir'] ?? '.onewindow/dev'),
      )
    : await ownDev();
  const browser = await launchChromium();
  try {
    await shootAll(browser, target);
  } finally {
    await browser.close();
    await target.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
