import fs from 'node:fs';
import type { Browser } from 'playwright-core';

/** Debian's chromium, which scripts/setup.sh installs for the browser tests. */
export const CHROMIUM = '/usr/bin/chromium';

/** The skip reason for a browser test on a machine without it, else false. */
export const withoutChromium: string | false = !fs.existsSync(CHROMIUM) && `Debian chromium is not installed at ${CHROMIUM} (scripts/setup.sh installs it)`;

const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Headless Chromium with nothing reaching out to the network on its own (plus `extraArgs`, e.g. a fake camera). */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: [...LAUNCH_ARGS, ...extraArgs] });
}
