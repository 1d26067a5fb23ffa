import fs from 'node:fs';
import type { Browser } from 'playwright-core';
import type { Requirement } from './requirements.js';

/** Debian's chromium, which scripts/setup.sh installs for the browser tests. */
export const CHROMIUM = '/usr/bin/chromium';

/** What a browser test needs: `test(name, requiring(needsChromium, fn))` skips outside CI where it is missing, fails under CI. */
export const needsChromium: Requirement = {
  missing: !fs.existsSync(CHROMIUM) && `Debian chromium is not installed at ${CHROMIUM}`,
  install: 'apt-get install chromium (scripts/setup.sh installs it when run as root)',
};

const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Headless Chromium with nothing reaching out to the network on its own (plus `extraArgs`, e.g. a fake camera). */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: [...LAUNCH_ARGS, ...extraArgs] });
}
