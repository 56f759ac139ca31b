// Debian's Chromium, driven by playwright-core: never a browser playwright downloads. On a
// machine without it the Debian package is installed (infra/debianPackage.ts, as root), which
// is how a fresh CI machine gets it.
import { chromium, type Browser } from 'playwright-core';
import { ensureDebianPackage } from '../../infra/debianPackage.ts';

/** Debian's Chromium, headless, without a sandbox (containers) or background network. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = await ensureDebianPackage('chromium', 'chromium');
  return chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-dev-shm-usage',
    ],
  });
}
