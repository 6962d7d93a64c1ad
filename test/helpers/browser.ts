import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's `chromium` (.ci/setup installs it); Playwright drives it, with no browser download of its own. */
export const CHROMIUM = process.env.GPUPOOL_CHROMIUM ?? '/usr/bin/chromium';

/**
 * No network but the test's own daemons: no QUIC, no component or safe-browsing fetches, no sync, no
 * first-run page; no GPU (a headless machine has none to give it).
 */
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A headless Chromium with a fresh profile for one test, closed (and its profile removed) when the test ends. */
export async function launchChromium(t: Test, viewport = { width: 1280, height: 900 }): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'gpupool-chromium-'));
  // launchPersistentContext is Playwright's way to give a --user-data-dir of our own.
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport });
  t.teardown(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return context;
}
